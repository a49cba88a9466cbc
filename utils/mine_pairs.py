#!/usr/bin/env python
"""Mine positive pairs from a model's own embeddings with k-NN (SPEC step 7).

    python utils/mine_pairs.py --path_segments training_data/demo-segments \\
        --features exp/features/train --path_sse exp/init --output exp/iter1/pairs

Embeds every segment (frames from the feature store, no projection head), PCA to 128 dims,
L2-normalises, runs exact inner-product k-NN with FAISS (k = 10; on GPU with faiss-gpu), then
drops self/same-file-overlap matches, suppresses near-duplicate neighbours (IoU > 40 %) and
keeps the most similar pairs, lowering a global threshold by 0.01 until half the segments are
covered as queries (``sse/mining.py``).

Intermediate results go to ``--work_dir`` (default: OUTPUT.work) in ``--nshards`` pieces and are
reused by a rerun, so an interrupted run resumes. ``--shard K`` only embeds shard K, for a
cluster array job; a final run without ``--shard`` does the rest.
"""
import hashlib
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

import numpy as np  # noqa: E402

from sse import cli, defaults  # noqa: E402
from sse.errors import UserError  # noqa: E402
from sse.files import atomic_open  # noqa: E402

logger = logging.getLogger("mine_pairs")


def fingerprint(*paths) -> str:
    """Identifies the inputs of a run: path, size and modification time of each file."""
    parts = []
    for path in paths:
        stat = Path(path).stat()
        parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def prepare_work_dir(work_dir: Path, manifest: dict) -> None:
    """Create the work dir, or check that it holds pieces of this same run."""
    path = work_dir / "manifest.json"
    if path.exists():
        if json.loads(path.read_text()) != manifest:
            raise UserError(f"{work_dir}: holds intermediate results of another run (other model, "
                            f"segments or settings); delete it or give another --work_dir")
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as out:
        json.dump(manifest, out, indent=2)


def shard_bounds(count: int, shard: int, nshards: int) -> tuple[int, int]:
    return shard * count // nshards, (shard + 1) * count // nshards


def embedding_path(work_dir: Path, shard: int, nshards: int) -> Path:
    return work_dir / f"embeddings-{shard:05d}-of-{nshards:05d}.npy"


def embed_shards(args, segments, shards, work_dir, device) -> None:
    """Embed the shards not done yet; the model and the store are loaded once, if needed at all."""
    todo = [shard for shard in shards if not embedding_path(work_dir, shard, args.nshards).exists()]
    if len(todo) < len(shards):
        logger.info("%d of %d embedding shards already done", len(shards) - len(todo), len(shards))
    if not todo:
        return
    from sse.checkpoint import load_encoder  # noqa: PLC0415
    from sse.embed import embed_frames, frames_from_store  # noqa: PLC0415
    from sse.features import FeatureStore  # noqa: PLC0415

    loaded = load_encoder(args.path_sse, device)
    store = FeatureStore(args.features)
    store.require_frontend(loaded.frontend, f"the model {loaded.path}")
    for shard in todo:
        begin, end = shard_bounds(len(segments), shard, args.nshards)
        part = segments[begin:end]
        embeddings = embed_frames(loaded.encoder, frames_from_store(store, part), len(part), args.batch_size,
                                  device, desc=f"embedding shard {shard}")
        with atomic_open(embedding_path(work_dir, shard, args.nshards), "wb") as out:
            np.save(out, embeddings.astype(np.float16))


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_segments", required=True, aliases=["--segments"],
                        help="segment list to mine (the training segments)")
    parser.add_argument("--features", required=True, help="feature store holding the segments' VADs")
    parser.add_argument("--path_sse", required=True, help="SSE checkpoint (file, or folder with checkpoint_best.pt)")
    parser.add_argument("--output", required=True, output="file", help="pair list to write")
    parser.add_argument("--work_dir", default=None, output="dir", help="intermediate results (default: OUTPUT.work)")
    cli.add_shard_arguments(parser, "only embed this shard, then stop",
                            "pieces the embedding and k-NN work is split into")
    mine = parser.add_argument_group("mining (SPEC step 7)")
    mine.add_argument("--k", type=cli.integer(2), default=defaults.K,
                      help="neighbours searched per segment (the first is usually the query itself)")
    mine.add_argument("--pca_dim", type=cli.integer(1), default=defaults.PCA_DIM, help="PCA dimensions")
    mine.add_argument("--max_pca_fit", type=cli.integer(2), default=defaults.MAX_PCA_FIT,
                      help="rows the PCA is fitted on")
    mine.add_argument("--nms_overlap", type=cli.real(0, 1), default=defaults.NMS_OVERLAP,
                      help="neighbours overlapping a better one by more than this (IoU) are dropped")
    mine.add_argument("--coverage", type=cli.real(0, 1, above=True), default=defaults.COVERAGE,
                      help="share of segments that must keep a pair as queries")
    cli.add_batch_size_argument(parser)
    cli.add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the PCA's subsample")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.check_shards(parser, args)
    cli.setup_logging(args)
    if args.work_dir is None:
        cli.check_output(f"{args.output}.work", "dir", "--work_dir")
    from sse import mining  # noqa: PLC0415
    from sse.checkpoint import resolve_checkpoint  # noqa: PLC0415
    from sse.formats import read_segment_list, write_pair_list  # noqa: PLC0415
    from sse.frontend import default_device  # noqa: PLC0415

    device = args.device or default_device()

    segments = read_segment_list(args.path_segments)
    checkpoint = resolve_checkpoint(args.path_sse)
    work_dir = Path(args.work_dir or f"{args.output}.work")
    prepare_work_dir(work_dir, {"segments": fingerprint(args.path_segments), "model": fingerprint(checkpoint),
                                "nshards": args.nshards, "pca_dim": args.pca_dim, "k": args.k, "seed": args.seed})
    shards = list(range(args.nshards)) if args.shard is None else [args.shard]
    embed_shards(args, segments, shards, work_dir, device)
    if args.shard is not None:
        return

    embeddings = np.concatenate([np.load(embedding_path(work_dir, shard, args.nshards))
                                 for shard in shards]).astype(np.float32)
    vectors = mining.project(embeddings, mining.fit_pca(embeddings, args.pca_dim, args.max_pca_fit, args.seed))
    del embeddings
    index = None
    similarities, ids = [], []
    from sse.progress import tqdm  # noqa: PLC0415
    for shard in tqdm(range(args.nshards), desc="k-NN", unit="shard", disable=args.nshards == 1):
        path = work_dir / f"knn-{shard:05d}-of-{args.nshards:05d}.npz"
        if not path.exists():
            if index is None:
                index = mining.build_index(vectors, use_gpu=str(device).startswith("cuda") and mining.faiss_gpus() > 0)
            begin, end = shard_bounds(len(vectors), shard, args.nshards)
            found = mining.search(index, vectors[begin:end], args.k)
            with atomic_open(path, "wb") as out:
                np.savez(out, similarities=found[0], ids=found[1])
        with np.load(path) as saved:
            similarities.append(saved["similarities"])
            ids.append(saved["ids"])
    mined = mining.select_pairs(mining.SegmentTable.of(segments), np.concatenate(similarities), np.concatenate(ids),
                                args.nms_overlap, args.coverage)
    if len(mined.first) == 0:
        raise UserError("no pair survived the filters (is the segment list tiny, or all from one file?)")
    write_pair_list(args.output, mining.as_pair_list(segments, mined))
    logger.info("wrote %s: %d pairs, threshold %.2f, %d of %d segments covered as queries (%.0f%%)",
                args.output, len(mined.first), mined.threshold, mined.queries_covered, len(segments),
                100 * mined.queries_covered / len(segments))


if __name__ == "__main__":
    cli.run(main)
