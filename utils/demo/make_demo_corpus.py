#!/usr/bin/env python3
"""Synthesise the demo corpus (English read speech, many synthetic voices) and force-align it.

Example: python utils/demo/make_demo_corpus.py training_data/demo --seed 1 --minutes 36
What is made, and how, is described in utils/demo/corpus.py and in the corpus's README.md.
This generator is not part of the installed package: it needs espeak-ng, flite, festival and
pocketsphinx, which only the demo needs.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the clone's root: sse/ and utils/

from sse.core import cli  # noqa: E402
from utils.demo.corpus import build_corpus  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("out_dir", type=Path, output="dir", help="folder to create (must not exist, or be empty)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--minutes", type=cli.real(0, above=True), default=36.0,
                        help="total minutes of audio, padding included")
    parser.add_argument("--dev_fraction", type=cli.real(0, 1, above=True, below=True), default=0.27,
                        help="share of the minutes spoken by the held-out voices")
    parser.add_argument("--num_workers", type=cli.integer(1), default=2, aliases=["--jobs"],
                        help="parallel synthesis and alignment processes")
    parser.add_argument("--max_attempts", type=cli.integer(1), default=3,
                        help="syntheses tried per utterance before it is dropped")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT_DIR if it exists and is not empty")
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cli.setup_logging(args)
    logger = logging.getLogger("make_demo_corpus")
    started = time.monotonic()
    summary = build_corpus(args.out_dir, seed=args.seed, minutes=args.minutes,
                           dev_fraction=args.dev_fraction, jobs=args.num_workers,
                           max_attempts=args.max_attempts, overwrite=args.overwrite)
    size = sum(path.stat().st_size for path in args.out_dir.rglob("*") if path.is_file())
    logger.info("%s: %d utterances, %.1f min (train %.1f, dev %.1f), %.1f MB, in %.0f s",
                args.out_dir, len(summary.utterances), summary.minutes(),
                summary.minutes("train"), summary.minutes("dev"), size / 1e6,
                time.monotonic() - started)
    logger.info("alignment failures: %d utterance(s) re-synthesised, %d dropped",
                summary.retried, len(summary.dropped))


if __name__ == "__main__":
    cli.run(main)
