#!/usr/bin/env python
"""Plot the training curves of one or more recipe stages: loss and validation MAP per epoch.

    python utils/plot_training.py --log exp/init/train.log --output exp/init/curves.png
    python utils/plot_training.py --log "stage 1=demo_run/init/train.log" \\
        --log "k-NN 1=demo_run/iter1/train.log" --output demo_run/curves.png

Reads the per-epoch ``| train |`` and ``| valid |`` lines that fairseq-train writes to each
stage's train.log (``sse/evaluation/curves.py``). The recipes call this after every stage; the full
scalars are also in each stage's tensorboard/ folder (``tensorboard --logdir exp``).
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.evaluation.curves import PLOT_FORMATS, plot_curves, read_training_log  # noqa: E402


def parse_log(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    return (name, path) if sep and name and path else (Path(text).parent.name or text, text)


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--log", action="append", type=parse_log, default=[], required=True,
                        metavar="[NAME=]TRAIN_LOG", help="a stage's train.log; repeat for several stages")
    parser.add_argument("--output", required=True, output="file", help="the plot (.png, .pdf or .svg)")
    parser.add_argument("--title", default="", help="a title above the plot")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)

    cli.require_suffix(args.output, PLOT_FORMATS, "--output")
    cli.setup_logging(args)
    runs = [(name, read_training_log(path)) for name, path in args.log]
    if not any(epochs for _, epochs in runs):
        raise UserError(f"{', '.join(path for _, path in args.log)}: no finished epoch in the log yet")
    plot_curves(runs, args.output, args.title)
    for name, epochs in runs:
        best = max((e for e in epochs if e.valid_map is not None), key=lambda e: e.valid_map, default=None)
        logging.getLogger("plot_training").info(
            "%s: %d epochs%s", name, len(epochs), f", best validation MAP {best.valid_map:.4f} at epoch {best.epoch}"
            if best else "")
    logging.getLogger("plot_training").info("wrote %s", args.output)


if __name__ == "__main__":
    cli.run(main)
