#!/usr/bin/env python
"""Write the candidate segments of a VAD list (SPEC step 2).

Every span on a 0.16 s grid counted from each VAD's start, 0.16 s to 0.96 s long:

    python utils/make_segments.py training_data/demo-vads training_data/demo-segments
    python utils/make_segments.py VADS OUT --max_segments 4000000 --seed 0   # subsample
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse import cli  # noqa: E402
from sse.errors import UserError  # noqa: E402
from sse.formats import read_vad_list, write_segment_list  # noqa: E402
from sse.segments import count_segments, make_segments  # noqa: E402

logger = logging.getLogger("make_segments")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vads", help="VAD list: <wav> <speaker> <vad start> <vad end>")
    parser.add_argument("output", help="segment list to write")
    parser.add_argument("--max_segments", type=int, default=None,
                        help="keep a uniform random subset of this many segments (the authors capped ~4M)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    args = parser.parse_args()
    cli.setup_logging()
    if args.max_segments is not None and args.max_segments <= 0:
        parser.error("--max_segments must be positive")

    vads = read_vad_list(args.vads)
    total = count_segments(vads)
    segments = make_segments(vads, args.max_segments, args.seed)
    if not segments:
        raise UserError(f"{args.vads}: no VAD is 0.16 s or longer, so there are no segments")
    write_segment_list(args.output, segments)
    logger.info("%d VADs -> %d candidate segments, wrote %d to %s", len(vads), total, len(segments), args.output)


if __name__ == "__main__":
    cli.run(main)
