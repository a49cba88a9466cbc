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
from sse.checkpoint import load_encoder  # noqa: E402
from sse.embed import embed_frames, frames_from_store, frames_on_the_fly  # noqa: E402
from sse.errors import UserError  # noqa: E402
from sse.features import FeatureStore, check_vads_against_audio  # noqa: E402
from sse.files import atomic_path  # noqa: E402
from sse.formats import read_segment_list  # noqa: E402
from sse.frontend import build_frontend, default_device, frontend_from_description  # noqa: E402
from sse.metrics import mean_average_precision  # noqa: E402
from sse.model import MeanPooling  # noqa: E402

logger = logging.getLogger("map_dump")


def build_embedder(args, device):
    """(embedding module, front-end description or None, front-end to compute frames or None)."""
    if args.baseline:
        frontend = build_frontend(args.frontend or "wav2vec2", args.path_ssl, args.layer, device)
        return MeanPooling(frontend.dim).to(device), frontend
    loaded = load_encoder(args.path_sse, device)
    logger.info("loaded %s (front-end %s)", loaded.path, loaded.frontend)
    if args.frontend and args.frontend != loaded.frontend["name"]:
        frontend = build_frontend(args.frontend, args.path_ssl, args.layer, device)
    else:
        frontend = frontend_from_description(loaded.frontend, device, args.path_ssl, args.layer)
    expected = loaded.encoder.config.input_dim
    if frontend.dim != expected:
        raise UserError(f"front-end {frontend.name} gives {frontend.dim}-dim frames but the model "
                        f"{loaded.path} expects {expected}")
    return loaded.encoder, frontend


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
    device = args.device or default_device()

    segments = read_segment_list(args.path_segments, require_transcriptions=args.task == "map")
    embedder, frontend = build_embedder(args, device)
    if args.features:
        store = FeatureStore(args.features)
        if store.frontend["name"] != frontend.name or store.dim != frontend.dim:
            raise UserError(f"{args.features}: holds {store.frontend['name']} features "
                            f"({store.dim}-dim), not {frontend.name} ({frontend.dim}-dim)")
        frames = frames_from_store(store, segments)
    else:
        if not Path(args.path_wavs).is_dir():
            raise UserError(f"{args.path_wavs}: no such corpus folder")
        check_vads_against_audio(args.path_wavs, dict.fromkeys(s.vad for s in segments))
        frames = frames_on_the_fly(frontend, args.path_wavs, segments)
    embeddings = embed_frames(embedder, frames, len(segments), args.batch_size, device)

    if args.task == "dump":
        with atomic_path(args.output_file) as temporary, open(temporary, "wb") as out:
            np.save(out, embeddings)
        logger.info("wrote %s: %d x %d float32", args.output_file, *embeddings.shape)
        return
    result = mean_average_precision(embeddings, [s.transcription for s in segments], device)
    if result.num_queries == 0:
        raise UserError(f"{args.path_segments}: no transcription occurs twice, so MAP has no query")
    print(result)


if __name__ == "__main__":
    cli.run(main)
