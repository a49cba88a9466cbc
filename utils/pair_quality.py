#!/usr/bin/env python
"""Precision of a mined pair list against labelled segments, and how many pairs share a speaker
or a file (``sse/evaluation/pair_quality.py``).

    python utils/pair_quality.py --pairs exp/iter1/pairs --labels training_data/demo-ngrams
    python utils/pair_quality.py --pairs fsdd/iter1/pairs --labels fsdd/corpus/tokens   # word tokens

Each side of a pair takes the label of the labelled segment of its file that it overlaps most,
if their intersection over union is at least ``--min_iou``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.evaluation.pair_quality import pair_quality  # noqa: E402
from sse.frames.formats import read_pair_list, read_segment_list  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--pairs", required=True, help="mined pair list")
    parser.add_argument("--labels", required=True, help="segment list with transcriptions")
    parser.add_argument("--min_iou", type=cli.real(0, 1, above=True), default=0.5,
                        help="overlap needed to take a label")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    print(pair_quality(read_pair_list(args.pairs), read_segment_list(args.labels, require_transcriptions=True),
                       args.min_iou))


if __name__ == "__main__":
    cli.run(main)
