#!/usr/bin/env python
"""Precision of a mined pair list against labelled segments, and how many pairs share a speaker
or a file (``sse/pair_quality.py``).

    python utils/pair_quality.py --pairs exp/iter1/pairs --labels training_data/demo-ngrams
    python utils/pair_quality.py --pairs fsdd/iter1/pairs --labels fsdd/corpus/tokens   # word tokens

Each side of a pair takes the label of the labelled segment of its file that it overlaps most,
if their intersection over union is at least ``--min_iou``.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse import cli  # noqa: E402
from sse.formats import read_pair_list, read_segment_list  # noqa: E402
from sse.pair_quality import pair_quality  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", required=True, help="mined pair list")
    parser.add_argument("--labels", required=True, help="segment list with transcriptions")
    parser.add_argument("--min_iou", type=float, default=0.5, help="overlap needed to take a label (default: %(default)s)")
    args = parser.parse_args()
    if not 0 < args.min_iou <= 1:
        parser.error("--min_iou must be in (0, 1]")
    print(pair_quality(read_pair_list(args.pairs), read_segment_list(args.labels, require_transcriptions=True),
                       args.min_iou))


if __name__ == "__main__":
    cli.run(main)
