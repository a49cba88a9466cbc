#!/usr/bin/env python
"""Mine positive pairs from a model's own embeddings with k-NN (SPEC step 7).

    python utils/mine_pairs.py --path_segments training_data/demo-segments \\
        --features exp/features/train --path_sse exp/init --output exp/iter1/pairs

Embeds every segment (frames from the feature store, no projection head), PCA to 128 dims,
L2-normalises, runs exact inner-product k-NN (k = 10; FAISS, or torch on a GPU without faiss-gpu;
``--index ivf`` for approximate FAISS IVF search, whose recall is logged), then
drops self/same-file-overlap matches, suppresses near-duplicate neighbours (IoU > 40 %) and
keeps the most similar pairs, lowering a global threshold by 0.01 until half the segments are
covered as queries (``sse/mining.py``).

Intermediate results go to ``--work_dir`` (default: OUTPUT.work) in ``--nshards`` pieces and are
reused by a rerun, so an interrupted run resumes. ``--shard K`` only embeds shard K, for a
cluster array job; a final run without ``--shard`` does the rest.
"""
import logging
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

import numpy as np  # noqa: E402

from sse import cli, defaults  # noqa: E402
from sse.errors import UserError  # noqa: E402
from sse.files import atomic_open, remove_leftover_parts  # noqa: E402
from sse.sharding import requested_shards, shard_bounds  # noqa: E402
from sse.stamps import claim, fingerprint  # noqa: E402

logger = logging.getLogger("mine_pairs")


def claim_work_dir(work_dir: Path, manifest: dict, write: bool) -> None:
    """Refuse a work dir holding pieces of another run; with ``write``, record this run in it.

    The manifest is written only once the model and the store have loaded, so a run that fails
    on a broken input leaves nothing that would refuse the corrected rerun (sse/stamps.py).
    """
    has_pieces = any(work_dir.glob("embeddings-*.npy")) or any(work_dir.glob("knn-*.npz"))
    claim(work_dir / "manifest.json", manifest, has_pieces, str(work_dir),
          "delete it or give another --work_dir", write=write)


def shard_rows(count: int, shard: int, nshards: int) -> int:
    begin, end = shard_bounds(count, shard, nshards)
    return end - begin


def load_piece(path: Path, rows: int, columns: int | None = None) -> dict | None:
    """The arrays of a finished work piece, or None if it is missing, damaged or of another shape."""
    try:
        loaded = np.load(path, mmap_mode="r")  # an .npy is only mapped: checking it reads no data
        if isinstance(loaded, np.ndarray):
            arrays = {"embeddings": loaded}
        else:
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}
    except FileNotFoundError:
        return None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("%s is damaged (%s); computing it again", path, str(error).splitlines()[0][:120])
        return None
    if any(len(array) != rows or (columns is not None and array.shape[1:] != (columns,)) for array in arrays.values()):
        logger.warning("%s does not have the expected shape; computing it again", path)
        return None
    return arrays


def embedding_path(work_dir: Path, shard: int, nshards: int) -> Path:
    return work_dir / f"embeddings-{shard:05d}-of-{nshards:05d}.npy"


def embed_shards(args, segments, shards, work_dir, device, manifest) -> None:
    """Embed the shards not done yet; the model and the store are loaded once, if needed at all."""
    todo = [shard for shard in shards if load_piece(embedding_path(work_dir, shard, args.nshards),
                                                    shard_rows(len(segments), shard, args.nshards)) is None]
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
    work_dir.mkdir(parents=True, exist_ok=True)
    claim_work_dir(work_dir, manifest, write=True)
    for shard in todo:
        begin, end = shard_bounds(len(segments), shard, args.nshards)
        part = segments[begin:end]
        embeddings = embed_frames(loaded.encoder, frames_from_store(store, part), len(part), args.batch_size,
                                  device, desc=f"embedding shard {shard}")
        with atomic_open(embedding_path(work_dir, shard, args.nshards), "wb") as out:
            np.save(out, embeddings.astype(np.float16))


def index_settings(args) -> dict:
    """What the manifest records of the k-NN index (nothing for the default exact search, so
    work dirs of earlier exact runs stay valid)."""
    if args.index == "flat":
        return {}
    return {"index": args.index, "nlist": args.nlist, "nprobe": args.nprobe}


def build_searcher(args, vectors, device):
    """The k-NN searcher asked for; an approximate one has its recall measured and logged."""
    from sse import knn  # noqa: PLC0415

    searcher = knn.Searcher(vectors, args.index, device, args.nlist, args.nprobe, args.seed)
    logger.info("k-NN: %s over %d vectors", searcher.describe(), len(vectors))
    if args.index != "flat":
        sample = min(knn.RECALL_SAMPLE, len(vectors))
        logger.info("k-NN recall@%d against exact search, on %d sampled queries: %.4f",
                    args.k, sample, knn.recall(searcher, args.k, sample, args.seed))
    return searcher


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
    mine.add_argument("--cross_speaker", action="store_true",
                      help="keep only pairs of two different speakers (not in the paper; see the README)")
    mine.add_argument("--index", choices=("flat", "ivf"), default="flat",
                      help="flat: exact k-NN, as in the paper; ivf: approximate FAISS IVF for very large "
                           "lists on a CPU, its recall against exact search is logged")
    mine.add_argument("--nlist", type=cli.integer(1), default=None, help="IVF cells (default: about 4 sqrt(N))")
    mine.add_argument("--nprobe", type=cli.integer(1), default=32, help="IVF cells searched per query")
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
    from sse.device import resolve_device  # noqa: PLC0415
    from sse.formats import read_segment_list, write_pair_list  # noqa: PLC0415

    device = resolve_device(args.device)

    segments = read_segment_list(args.path_segments)
    checkpoint = resolve_checkpoint(args.path_sse)
    work_dir = Path(args.work_dir or f"{args.output}.work")
    manifest = {"inputs": {"segments": fingerprint(args.path_segments), "model": fingerprint(checkpoint),
                           "features": fingerprint(args.features) if Path(args.features).is_dir() else None},
                "settings": {"nshards": args.nshards, "pca_dim": args.pca_dim, "max_pca_fit": args.max_pca_fit,
                             "k": args.k, "seed": args.seed, **index_settings(args)}}
    claim_work_dir(work_dir, manifest, write=False)
    shards = requested_shards(args.shard, args.nshards)
    embed_shards(args, segments, shards, work_dir, device, manifest)
    if args.shard is not None:
        return

    embeddings = np.concatenate([np.load(embedding_path(work_dir, shard, args.nshards))
                                 for shard in shards]).astype(np.float32)
    vectors = mining.project(embeddings, mining.fit_pca(embeddings, args.pca_dim, args.max_pca_fit, args.seed))
    index = None
    similarities, ids = [], []
    from sse.progress import tqdm  # noqa: PLC0415
    for shard in tqdm(range(args.nshards), desc="k-NN", unit="shard", disable=args.nshards == 1):
        path = work_dir / f"knn-{shard:05d}-of-{args.nshards:05d}.npz"
        saved = load_piece(path, shard_rows(len(vectors), shard, args.nshards), args.k)
        if saved is None or set(saved) != {"similarities", "ids"}:
            if index is None:
                index = build_searcher(args, vectors, device)
            begin, end = shard_bounds(len(vectors), shard, args.nshards)
            found = index.search(vectors[begin:end], args.k)
            with atomic_open(path, "wb") as out:
                np.savez(out, similarities=found[0], ids=found[1])
            saved = {"similarities": found[0], "ids": found[1]}
        similarities.append(saved["similarities"])
        ids.append(saved["ids"])
    table, similarities, ids = mining.SegmentTable.of(segments), np.concatenate(similarities), np.concatenate(ids)
    mined = mining.select_pairs(table, similarities, ids, args.nms_overlap, args.coverage,
                                cross_speaker=args.cross_speaker)
    report = mining.similarity_report(embeddings, mined)
    logger.info("%s", report)
    if report.collapsed:
        logger.warning("the mining model %s looks collapsed: its embeddings hardly differ, so the pairs "
                       "will be close to random. Check its training loss and validation MAP first.",
                       args.path_sse)
    if len(mined.first) == 0:
        raise UserError("no pair survived the filters (is the segment list tiny, or all from one file?)")
    write_pair_list(args.output, mining.as_pair_list(segments, mined))
    for piece in [*work_dir.glob("*.npy"), *work_dir.glob("*.npz"), work_dir / "manifest.json", Path(args.output)]:
        remove_leftover_parts(piece.parent, piece.name)  # of runs killed before this one
    logger.info("wrote %s: %d pairs, threshold %.2f, %d of %d segments covered as queries (%.0f%%)",
                args.output, len(mined.first), mined.threshold, mined.queries_covered, len(segments),
                100 * mined.queries_covered / len(segments))


if __name__ == "__main__":
    cli.run(main)
