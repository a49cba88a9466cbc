#!/usr/bin/env python3
"""Build a phone n-gram benchmark segment list (for MAP) from forced alignments.

    python utils/make_benchmark.py --alignments ALIGNMENTS --output OUT [--path_vads VADS]
        [--path_wavs DIR] [--speaker_regex REGEX] [--min_duration 0.16] [--max_duration 0.96]
        [--max_gap 0.05] [--max_per_label N] [--max_segments N] [--seed 0] [--keep_stress]

Segments are spans from the start of one phone to the end of a later (or the same) phone of
one file, 0.16 to 0.96 s long, with no silence longer than --max_gap between consecutive
phones; each is labelled with exactly the phones it spans (``DH,AH,K,AE,T``, stress digits
dropped unless --keep_stress), the label ``utils/transcribe_timestamps.py`` would give it.
Only labels spoken by at least two speakers are kept; --max_per_label keeps that many tokens
of a label, drawn at random (--seed) across as many speakers as possible; --max_segments then
keeps whole labels, in random order, up to that many segments. OUT is a 7-field segment list
sorted by wav path and time. The rules are documented in ``sse/prep/benchmark.py``.

Speakers and VAD fields: with --path_vads, each segment gets its speaker and VAD times from the
VAD of the list that contains it (segments inside no VAD are dropped). Without, a segment's
VAD times are its own and the speaker comes from --speaker_regex searched in the file's path
(group ``speaker``, else group 1); the default reads LibriSpeech names,
``dev-clean/1272/128104/1272-128104-0000.flac`` -> ``1272``.

The LibriSpeech dev-clean benchmark from your own alignments (Montreal Forced Aligner,
ARPAbet model): align $LS/dev-clean so that the TextGrid folder mirrors the corpus under $LS,
e.g. ALIGN/dev-clean/1272/128104/1272-128104-0000.TextGrid for
$LS/dev-clean/1272/128104/1272-128104-0000.flac, then

    python utils/make_benchmark.py --alignments ALIGN --path_wavs $LS \\
        --output sse_benchmark/dev-clean-ngrams --max_per_label 20 --seed 0

TextGrid paths carry no audio extension: --path_wavs finds each file's audio (and is needed
unless --path_vads names the audio paths). The toolkit's alignment file (``sse/prep/alignments.py``)
already names audio paths and needs neither. Exact MAP compares all N^2 pairs of segments:
--max_segments keeps N small enough for the evaluation budget at hand.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.frames.formats import read_vad_list, write_segment_list  # noqa: E402
from sse.prep.benchmark import (  # noqa: E402
    MAX_DURATION,
    MAX_GAP,
    MIN_DURATION,
    BenchmarkConfig,
    build_benchmark,
    resolve_audio_paths,
    wav_paths_need_resolving,
)
from sse.prep.labels import load_alignments  # noqa: E402
from sse.prep.speakers import DEFAULT_SPEAKER_REGEX, speakers_from_regex  # noqa: E402

logger = logging.getLogger("make_benchmark")


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--alignments", required=True,
                        help="the toolkit's alignment file, or a folder of MFA TextGrids")
    parser.add_argument("--output", required=True, output="file", help="benchmark segment list to write")
    parser.add_argument("--path_vads", aliases=["--vads"], default=None,
                        help="VAD list: segments take their speaker and VAD times from it")
    parser.add_argument("--path_wavs", default=None,
                        help="corpus root, to find the audio file of each TextGrid")
    parser.add_argument("--speaker_regex", aliases=["--speakers_from_regex"], default=None,
                        help="without --path_vads: regex giving a file's speaker from its path "
                             f"(default, LibriSpeech: {DEFAULT_SPEAKER_REGEX})")
    parser.add_argument("--min_duration", type=cli.real(0, above=True), default=MIN_DURATION,
                        help="shortest span, seconds")
    parser.add_argument("--max_duration", type=cli.real(0, above=True), default=MAX_DURATION,
                        help="longest span, seconds")
    parser.add_argument("--max_gap", type=cli.real(0), default=MAX_GAP,
                        help="longest silence between consecutive phones of a span, seconds")
    parser.add_argument("--max_per_label", type=cli.integer(2), default=None,
                        help="keep at most this many tokens of a label (default: all)")
    parser.add_argument("--max_segments", type=cli.integer(2), default=None,
                        help="keep whole labels up to this many segments in all (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choices")
    parser.add_argument("--keep_stress", action="store_true",
                        help="keep ARPAbet stress digits (AH1) instead of dropping them (AH)")
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cli.setup_logging(args)
    config = BenchmarkConfig(min_duration=args.min_duration, max_duration=args.max_duration,
                             max_gap=args.max_gap, max_per_label=args.max_per_label,
                             max_segments=args.max_segments, seed=args.seed,
                             keep_stress=args.keep_stress)
    config.check()
    if args.path_vads is not None and args.speaker_regex is not None:
        raise UserError("give either --path_vads (speakers from the VAD list) or --speaker_regex, not both")
    vads = read_vad_list(args.path_vads) if args.path_vads is not None else None
    alignments = load_alignments(args.alignments)
    keys = sorted(key for key, _ in alignments.items())

    speakers = wav_paths = None
    if vads is None:
        speakers = speakers_from_regex(keys, args.speaker_regex or DEFAULT_SPEAKER_REGEX)
        if args.path_wavs is not None:
            wav_paths = resolve_audio_paths(keys, args.path_wavs)
        elif wav_paths_need_resolving(keys):
            raise UserError(f"{args.alignments}: the aligned paths have no audio extension "
                            "(TextGrids); give --path_wavs so each file's audio can be found, "
                            "or --path_vads")

    segments, summary = build_benchmark(alignments, config, vads=vads, speakers=speakers,
                                        wav_paths=wav_paths)
    logger.info("%d candidate spans: %d inside no VAD, %d of labels spoken by one speaker, "
                "%d over the caps", summary.candidate_spans, summary.outside_vad,
                summary.single_speaker, summary.over_cap)
    if not segments:
        raise UserError("no label is spoken by two speakers within the duration bounds; "
                        "nothing to write")
    write_segment_list(args.output, segments)
    print(f"{args.output}: {summary.segments} segments, {summary.labels} labels "
          f"({summary.multi_speaker_labels} with tokens from >= 2 speakers), "
          f"{summary.speakers} speakers, {summary.files} files")


if __name__ == "__main__":
    cli.run(main)
