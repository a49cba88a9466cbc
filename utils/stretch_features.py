#!/usr/bin/env python
"""Compute N time-stretched versions of the frames of every VAD of a feature store, once.

A k-NN iteration with stretched pairs (``SSE_STRETCH_PAIRS=N bash iteration.sh ...``, task flag
``--stretched-features``) reads each side of a mined pair from a random one of them, as stage 1
reads its pairs from stretched VADs (docs/iteration.md, section 4). Each version is the VAD's
audio stretched by its own tempo factor (uniform in 0.5-1.8, pitch kept, seeded per VAD and
version), encoded with the store's front-end. Finished versions are skipped, so an interrupted
run resumes; a store made from other features or settings is refused (sse/method/stretch_store.py).

    python utils/stretch_features.py --features exp/features/mfcc/train --path_wavs $LS \\
        --versions 4 --output exp/features/mfcc/train-stretched4
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--features", required=True, help="feature store of the training VADs")
    parser.add_argument("--path_wavs", required=True, help="corpus root the store's wav paths are relative to")
    parser.add_argument("--versions", required=True, type=cli.integer(1), help="stretched versions of every VAD")
    parser.add_argument("--output", required=True, output="dir", exists="resume",
                        help="folder of the stretched frames (finished versions are kept)")
    parser.add_argument("--seed", type=cli.integer(0), default=0, help="seed of the tempo factors")
    parser.add_argument("--path_ssl", default=None,
                        help="wav2vec 2.0 checkpoint (default: the one the feature store recorded)")
    cli.add_device_argument(parser)
    parser.add_argument("--num_workers", type=cli.integer(0), default=2,
                        help="audio-reading and stretching processes (0: in the main process)")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    from sse.core.device import resolve_device  # noqa: PLC0415
    from sse.frames.feature_store import FeatureStore  # noqa: PLC0415
    from sse.frames.frontend import frontend_from_description  # noqa: PLC0415
    from sse.method.stretch_store import build_stretch_store  # noqa: PLC0415

    if not Path(args.path_wavs).is_dir():
        raise UserError(f"{args.path_wavs}: no such corpus folder")
    store = FeatureStore(args.features)
    frontend = frontend_from_description(store.frontend, resolve_device(args.device), args.path_ssl)
    frontend.precision = store.description.get("precision", "fp32")
    build_stretch_store(store, args.path_wavs, args.output, frontend, args.versions, args.seed,
                        num_workers=args.num_workers)


if __name__ == "__main__":
    cli.run(main)
