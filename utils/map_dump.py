#!/usr/bin/env python
"""Score (exact MAP) or dump the embeddings of a segment list.

Frames are computed on the fly for each segment's VAD, with the same context rule as
``extract_features.py`` (or read from a feature store with ``--features``); each segment is then
embedded by a trained SSE model, or by mean-pooling its frames (``--baseline mean``).

    python utils/map_dump.py --path_wavs training_data/demo \\
        --path_segments sse_benchmark/demo-ngrams-subset --task=map --path_sse pretrained/demo_unsup/
    python utils/map_dump.py ... --task=dump --path_sse run/init --output_file emb.npy
    python utils/map_dump.py ... --task=map --baseline mean --frontend mfcc

``--task=map`` prints, last, a line ``MAP: 0.xxxx (...)``: the exact MAP of ``sse/metrics.py``
(every labelled segment with a same-label partner is a query ranking all other segments).
``--task=dump`` writes a float32 ``.npy`` of shape (segments, dim), rows in list order.
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

import numpy as np  # noqa: E402

from sse import cli  # noqa: E402
from sse.evaluate import embed_segments, load_embedder, score  # noqa: E402
from sse.files import atomic_open  # noqa: E402
from sse.formats import read_segment_list  # noqa: E402
from sse.device import resolve_device  # noqa: E402

logger = logging.getLogger("map_dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path_wavs", required=True, help="corpus root the segment list's wav paths are relative to")
    parser.add_argument("--path_segments", required=True, help="segment list (with transcriptions for --task=map)")
    parser.add_argument("--task", choices=("map", "dump"), required=True)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--path_sse", help="SSE checkpoint file, or a directory holding checkpoint_best.pt")
    model.add_argument("--baseline", choices=("mean",), help="embed by mean-pooling the frames instead")
    parser.add_argument("--output_file", help="where --task=dump writes its .npy")
    cli.add_frontend_arguments(parser, default=None)
    parser.add_argument("--features", help="read frames from this feature store instead of computing them")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--device", default=None, help="cpu, cuda ... (default: cuda if available)")
    args = parser.parse_args()
    cli.setup_logging()
    if args.task == "dump" and not args.output_file:
        parser.error("--task=dump needs --output_file")
    device = resolve_device(args.device)

    segments = read_segment_list(args.path_segments, require_transcriptions=args.task == "map")
    embedder, frontend = load_embedder(args.path_sse, device, args.frontend, args.path_ssl, args.layer, args.cmvn)
    embeddings = embed_segments(embedder, frontend, segments, args.path_wavs, args.features,
                                args.batch_size, device)

    if args.task == "dump":
        with atomic_open(args.output_file, "wb") as out:
            np.save(out, embeddings)
        logger.info("wrote %s: %d x %d float32", args.output_file, *embeddings.shape)
        return
    print(score(embeddings, segments, device, args.path_segments))


if __name__ == "__main__":
    cli.run(main)
