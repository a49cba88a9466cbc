#!/usr/bin/env python
"""Check or write the stamp of a recipe stage's output (used by utils/recipe_common.sh).

    python utils/stage_stamp.py --stage iteration --dir exp/iter1 \\
        --input previous=exp/init/checkpoint_best.pt --input segments=lists/train-segments \\
        --setting max_epoch=100 --setting seed=1
    python utils/stage_stamp.py --stage segments --file lists/train-segments --input vads=lists/vads ...

With --dir the stamp is DIR/stamp.json and the stage has state once DIR holds any result; with
--file it is FILE.stamp and the state is FILE itself. A stamp that differs from the existing one
while state exists is refused (exit status 2, one line); otherwise it is written (sse/stamps.py).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse import cli  # noqa: E402
from sse.stamps import claim, fingerprint, folder_has_state  # noqa: E402

STAMP = "stamp.json"


def name_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--stage", required=True, help="name of the stage (init, iteration, gold, segments ...)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", help="the stage's output folder")
    where.add_argument("--file", help="the stage's output file")
    parser.add_argument("--input", action="append", type=name_value, default=[], metavar="NAME=PATH",
                        help="a file or folder the stage reads (empty PATH: none)")
    parser.add_argument("--setting", action="append", type=name_value, default=[], metavar="NAME=VALUE")
    parser.add_argument("--remedy", default=None, help="how to start over, for the error message")
    args = parser.parse_args()
    stamp = {"stage": args.stage,
             "inputs": {name: fingerprint(path) for name, path in args.input if path},
             "settings": dict(args.setting)}
    if args.dir:
        claim(Path(args.dir) / STAMP, stamp, folder_has_state(args.dir, STAMP), args.dir,
              args.remedy or f"delete {args.dir} to start this stage over, or give it another folder")
    else:
        claim(f"{args.file}.stamp", stamp, Path(args.file).exists(), args.file,
              args.remedy or f"delete {args.file} to make it again")


if __name__ == "__main__":
    cli.run(main)
