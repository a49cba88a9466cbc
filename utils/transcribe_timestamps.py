#!/usr/bin/env python3
"""Label the segments of a segment list with the phone n-grams they span.

    python utils/transcribe_timestamps.py SEGMENTS ALIGNMENTS OUT [--keep_stress] [--path_wavs DIR]

ALIGNMENTS is the toolkit's alignment file or a folder of Montreal Forced Aligner TextGrids
(``a/b.TextGrid`` aligns ``a/b.wav``). A segment's label is the phones whose midpoint lies in
[segment start, segment end), comma-joined, stress digits dropped unless ``--keep_stress``
(see ``sse/prep/labels.py``). OUT is the segment list with that label as 7th field, in input order;
segments that hold no phone (silence) are left out and counted. Every listed file must be
aligned; with ``--path_wavs`` no segment may end past the end of its audio.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.frames.formats import read_segment_list, write_segment_list  # noqa: E402
from sse.prep.labels import (  # noqa: E402
    check_coverage,
    check_within_audio,
    load_alignments,
    transcribe_segments,
)


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("segments", nargs="?", metavar="SEGMENTS",
                        help="segment list (6 or 7 fields; a 7th field is replaced)")
    parser.add_argument("alignments_positional", nargs="?", metavar="ALIGNMENTS",
                        help="the toolkit's alignment file, or a folder of TextGrids")
    parser.add_argument("output_positional", nargs="?", metavar="OUT", output="file",
                        help="labelled segment list to write")
    parser.add_argument("--path_segments", aliases=["--segments"], help="SEGMENTS, by name")
    parser.add_argument("--alignments", help="ALIGNMENTS, by name")
    parser.add_argument("--output", output="file", help="OUT, by name")
    parser.add_argument("--keep_stress", action="store_true",
                        help="keep ARPAbet stress digits (AH1) instead of dropping them (AH)")
    parser.add_argument("--path_wavs", default=None,
                        help="corpus root; when given, check that no segment ends past its audio")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.merge_positional(parser, args, "path_segments", "segments", "--path_segments", "SEGMENTS")
    cli.merge_positional(parser, args, "alignments", "alignments_positional", "--alignments", "ALIGNMENTS")
    cli.merge_positional(parser, args, "output", "output_positional", "--output", "OUT")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cli.setup_logging(args)
    logger = logging.getLogger("transcribe_timestamps")
    segments = read_segment_list(args.path_segments)
    alignments = load_alignments(args.alignments)
    check_coverage(segments, alignments)
    if args.path_wavs is not None:
        check_within_audio(segments, args.path_wavs)
    labelled, counts = transcribe_segments(segments, alignments, keep_stress=args.keep_stress)
    if not labelled:
        raise UserError(f"{args.path_segments}: none of the {counts.segments} segments holds an "
                        "aligned phone; nothing to write")
    write_segment_list(args.output, labelled)
    logger.info("%d segments in, %d labelled, %d left out (no phone inside)",
                counts.segments, counts.labelled, counts.unlabelled)
    logger.info("%d distinct labels, %d with at least 2 tokens", counts.distinct_labels,
                counts.repeated_labels)
    logger.info("wrote %s", args.output)


if __name__ == "__main__":
    cli.run(main)
