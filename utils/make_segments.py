#!/usr/bin/env python
"""Write the candidate segments of a VAD list (docs/method.md, step 2).

Every span on a 0.16 s grid counted from each VAD's start, 0.16 s to 0.96 s long:

    python utils/make_segments.py training_data/demo-vads training_data/demo-segments
    python utils/make_segments.py VADS OUT --max_segments 4000000 --seed 0   # subsample
    python utils/make_segments.py --path_vads VADS --output OUT               # the same, by name
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.frames.formats import read_vad_list, write_segment_list  # noqa: E402
from sse.method.segments import count_segments, make_segments  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("vads", nargs="?", metavar="VADS", help="VAD list: <wav> <speaker> <vad start> <vad end>")
    parser.add_argument("output_positional", nargs="?", metavar="OUT", output="file", help="segment list to write")
    parser.add_argument("--path_vads", aliases=["--vads"], help="the VAD list, by name (instead of VADS)")
    parser.add_argument("--output", output="file", help="the segment list to write, by name (instead of OUT)")
    parser.add_argument("--max_segments", type=cli.integer(1), default=None,
                        help="keep a uniform random subset of this many segments (the authors capped ~4M; "
                             "default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.merge_positional(parser, args, "path_vads", "vads", "--path_vads", "VADS")
    cli.merge_positional(parser, args, "output", "output_positional", "--output", "OUT")
    cli.setup_logging(args)
    vads = read_vad_list(args.path_vads)
    total = count_segments(vads)
    segments = make_segments(vads, args.max_segments, args.seed)
    if not segments:
        raise UserError(f"{args.path_vads}: no VAD is 0.16 s or longer, so there are no segments")
    write_segment_list(args.output, segments)
    logging.getLogger("make_segments").info("%d VADs -> %d candidate segments, wrote %d to %s",
                                            len(vads), total, len(segments), args.output)


if __name__ == "__main__":
    cli.run(main)
