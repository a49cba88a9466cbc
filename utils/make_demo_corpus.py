#!/usr/bin/env python3
"""Synthesise the demo corpus (English read speech, many synthetic voices) and force-align it.

Example: python utils/make_demo_corpus.py training_data/demo --seed 1 --minutes 36
What is made, and how, is described in sse/demo_corpus.py and in the corpus's README.md.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sse.cli import run, setup_logging  # noqa: E402
from sse.demo_corpus import build_corpus  # noqa: E402

logger = logging.getLogger("make_demo_corpus")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to create (must not exist, or be empty)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--minutes", type=float, default=36.0,
                        help="total minutes of audio, padding included (default: 36)")
    parser.add_argument("--dev-fraction", type=float, default=0.27,
                        help="share of the minutes spoken by the held-out voices (default: 0.27)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="parallel synthesis and alignment processes (default: 2)")
    parser.add_argument("--max-attempts", type=int, default=3,
                        help="syntheses tried per utterance before it is dropped (default: 3)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT_DIR if it exists and is not empty")
    parser.add_argument("--verbose", action="store_true", help="log every re-synthesis")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    setup_logging(args.verbose)
    started = time.monotonic()
    summary = build_corpus(args.out_dir, seed=args.seed, minutes=args.minutes,
                           dev_fraction=args.dev_fraction, jobs=args.jobs,
                           max_attempts=args.max_attempts, overwrite=args.overwrite)
    size = sum(path.stat().st_size for path in args.out_dir.rglob("*") if path.is_file())
    logger.info("%s: %d utterances, %.1f min (train %.1f, dev %.1f), %.1f MB, in %.0f s",
                args.out_dir, len(summary.utterances), summary.minutes(),
                summary.minutes("train"), summary.minutes("dev"), size / 1e6,
                time.monotonic() - started)
    logger.info("alignment failures: %d utterance(s) re-synthesised, %d dropped",
                summary.retried, len(summary.dropped))


if __name__ == "__main__":
    run(main)
