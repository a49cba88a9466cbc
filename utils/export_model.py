#!/usr/bin/env python
"""Export a trained SSE model to the toolkit's own compact format (no optimizer, no head).

    python utils/export_model.py demo_run/iter2 pretrained/demo_unsup --half

Writes OUT_DIR/checkpoint_best.pt, which ``map_dump.py --path_sse OUT_DIR`` reads like any
checkpoint: the encoder weights (float16 with ``--half``: half the size, embeddings within
1e-3 cosine), the architecture and the front-end description.
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse import cli  # noqa: E402
from sse.checkpoint import BEST, load_encoder, save_encoder  # noqa: E402

logger = logging.getLogger("export_model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint file, or a directory holding checkpoint_best.pt")
    parser.add_argument("output_dir", help=f"directory to write {BEST} into")
    parser.add_argument("--half", action="store_true", help="store float16 weights")
    args = parser.parse_args()
    cli.setup_logging()
    loaded = load_encoder(args.checkpoint)
    info = {**loaded.info, "exported_from": str(loaded.path)}
    target = Path(args.output_dir) / BEST
    save_encoder(target, loaded.encoder, loaded.frontend, info, half=args.half)
    logger.info("wrote %s (%.1f MB, front-end %s)", target, target.stat().st_size / 2 ** 20, loaded.frontend)


if __name__ == "__main__":
    cli.run(main)
