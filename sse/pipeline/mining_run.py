"""Mining a pair list from a model's own embeddings: the resumable pipeline around ``sse/method/mining.py``.

:func:`mine_pairs` embeds every segment of a list with the model (frames from a feature store,
no projection head), fits a PCA and projects, searches the k nearest neighbours of every
segment (``sse/method/knn.py``), keeps the pairs :func:`sse.method.mining.select_pairs` selects and writes them
as a pair list, most similar first. The math of each step is in ``sse/method/mining.py``.

The work is split into ``nshards`` contiguous blocks of the list (``sse/core/sharding.py``), and each
block's results are kept in a work folder until the pair list is written::

    WORK/manifest.json                    the inputs' fingerprints and the settings (sse/core/stamps.py)
    WORK/embeddings-00000-of-00004.npy    float16 embeddings of block 0's segments, in list order
    WORK/knn-00000-of-00004.npz           ``similarities`` and ``ids`` (rows, k) of block 0's queries

A rerun reuses every piece it finds, so an interrupted run resumes; a piece that is damaged or
of the wrong shape is logged and computed again. A work folder holding pieces of another run
(other inputs or settings) is refused with a :class:`UserError` rather than mixed in. The
manifest is written only once the model and the store have loaded, so a run that fails on a
broken input leaves nothing that would refuse the corrected rerun. With ``shard`` only that
block is embedded (a cluster array job); a later run without it does the rest.
"""
from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from sse import defaults
from sse.core.device import resolve_device
from sse.core.errors import UserError
from sse.core.files import atomic_open, remove_leftover_parts
from sse.core.progress import tqdm
from sse.core.sharding import piece_name, requested_shards, shard_bounds
from sse.core.stamps import claim, fingerprint
from sse.frames.feature_store import FeatureStore
from sse.frames.formats import Segment, read_segment_list, write_pair_list
from sse.inference.checkpoint import load_encoder, resolve_checkpoint
from sse.inference.embed import embed_frames, frames_from_store
from sse.method import knn, mining
from sse.method.segments import GRID

# Log lines carry the script's name (``INFO mine_pairs: wrote ...``).
logger = logging.getLogger("mine_pairs")


@dataclass(frozen=True)
class MiningSettings:
    """How pairs are mined; the defaults are those of ``sse/defaults.py`` and the paper."""

    k: int = defaults.K                        # neighbours searched per segment (the first is usually itself)
    pca_dim: int = defaults.PCA_DIM            # PCA dimensions
    max_pca_fit: int = defaults.MAX_PCA_FIT    # rows the PCA is fitted on
    nms_overlap: float = defaults.NMS_OVERLAP  # neighbours overlapping a better one by more (IoU) are dropped
    coverage: float = defaults.COVERAGE        # share of segments that must keep a pair as queries
    score: str = "cosine"                      # what the threshold applies to: cosine, or margin
    coverage_by: str = "all"                   # one threshold for all segments, or one per duration
    cross_speaker: bool = False                # keep only pairs of two different speakers
    index: str = defaults.KNN_INDEX            # "flat" (exact), "hnsw" or "ivf" (approximate, recall logged)
    nlist: int | None = None                   # IVF cells (None: about 4 sqrt(N))
    nprobe: int = defaults.NPROBE              # IVF cells searched per query
    recall: float | None = None                # recall@k target: approximate search tuned to reach it (knn.build)
    seed: int = defaults.MINING_SEED           # seed of the PCA's subsample (and the IVF training sample)
    nshards: int = 1                           # pieces the embedding and k-NN work is split into


class MiningResult(NamedTuple):
    """What a finished run selected (indices into the segment list) and how similar they are."""

    mined: mining.MinedPairs
    report: mining.SimilarityReport


def index_settings(settings: MiningSettings) -> dict:
    """What the manifest records of the k-NN index (nothing for exact search, so work dirs of
    earlier exact runs stay valid; the recall target only when one is set)."""
    index = knn.resolve_index(settings.index, settings.recall)
    if index == "flat":
        return {}
    recorded = {"index": index}
    recorded.update({"nlist": settings.nlist, "nprobe": settings.nprobe} if index == "ivf" else {})
    recorded.update({"recall": settings.recall} if settings.recall is not None else {})
    return recorded


def work_manifest(segments_path: str | os.PathLike, features: str | os.PathLike, checkpoint: Path,
                  settings: MiningSettings) -> dict:
    """The stamp of a work folder: the fingerprints of the inputs and the settings its pieces depend on."""
    return {"inputs": {"segments": fingerprint(segments_path), "model": fingerprint(checkpoint),
                       "features": fingerprint(features) if Path(features).is_dir() else None},
            "settings": {"nshards": settings.nshards, "pca_dim": settings.pca_dim,
                         "max_pca_fit": settings.max_pca_fit, "k": settings.k, "seed": settings.seed,
                         **index_settings(settings)}}


def claim_work_dir(work_dir: Path, manifest: dict, write: bool) -> None:
    """Refuse a work dir holding pieces of another run; with ``write``, record this run in it.

    The manifest is written only once the model and the store have loaded, so a run that fails
    on a broken input leaves nothing that would refuse the corrected rerun (sse/core/stamps.py).
    """
    has_pieces = any(work_dir.glob("embeddings-*.npy")) or any(work_dir.glob("knn-*.npz"))
    claim(work_dir / "manifest.json", manifest, has_pieces, str(work_dir),
          "delete it or give another --work_dir", write=write)


def embedding_path(work_dir: Path, shard: int, nshards: int) -> Path:
    return work_dir / f"{piece_name('embeddings', shard, nshards)}.npy"


def knn_path(work_dir: Path, shard: int, nshards: int) -> Path:
    return work_dir / f"{piece_name('knn', shard, nshards)}.npz"


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


def embed_shards(segments: Sequence[Segment], shards: Sequence[int], work_dir: Path, manifest: dict,
                 checkpoint: str | os.PathLike, features: str | os.PathLike, nshards: int,
                 device: torch.device, batch_size: int) -> None:
    """Embed the shards not done yet; the model and the store are loaded once, if needed at all."""
    todo = [shard for shard in shards if load_piece(embedding_path(work_dir, shard, nshards),
                                                    shard_rows(len(segments), shard, nshards)) is None]
    if len(todo) < len(shards):
        logger.info("%d of %d embedding shards already done", len(shards) - len(todo), len(shards))
    if not todo:
        return
    loaded = load_encoder(checkpoint, device)
    store = FeatureStore(features)
    store.require_frontend(loaded.frontend, f"the model {loaded.path}")
    for segment in segments:  # a segment the store lacks is refused before any state is written
        store.locate(segment.wav, segment.start, segment.end)
    work_dir.mkdir(parents=True, exist_ok=True)
    claim_work_dir(work_dir, manifest, write=True)
    for shard in todo:
        begin, end = shard_bounds(len(segments), shard, nshards)
        part = segments[begin:end]
        embeddings = embed_frames(loaded.encoder, frames_from_store(store, part), len(part), batch_size,
                                  device, desc=f"embedding shard {shard}")
        with atomic_open(embedding_path(work_dir, shard, nshards), "wb") as out:
            np.save(out, embeddings.astype(np.float16))


def build_searcher(vectors: np.ndarray, settings: MiningSettings, device: torch.device) -> knn.Searcher:
    """The k-NN searcher asked for (tuned to the recall target, if any); an approximate one has
    its recall measured and logged, on other sampled queries than those it was tuned on."""
    searcher = knn.build(vectors, settings.index, device, settings.recall, settings.k, settings.nlist,
                         settings.nprobe, settings.seed)
    logger.info("k-NN: %s over %d vectors", searcher.describe(), len(vectors))
    if not searcher.exact:
        log_recall(searcher, settings.k, settings.seed + 1)
    return searcher


def log_recall(searcher: knn.Searcher, k: int, seed: int) -> float:
    """Measure the recall of an approximate searcher on sampled queries and log it."""
    sample = min(knn.RECALL_SAMPLE, len(searcher.vectors))
    measured = knn.recall(searcher, k, sample, seed)
    logger.info("k-NN recall@%d against exact search, on %d sampled queries: %.4f", k, sample, measured)
    return measured


def search_shards(vectors: np.ndarray, work_dir: Path, settings: MiningSettings,
                  device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """``(similarities, ids)`` of every vector's k nearest neighbours, one saved piece per shard;
    the searcher is built only if a piece is missing or damaged."""
    searcher = None
    similarities, ids = [], []
    for shard in tqdm(range(settings.nshards), desc="k-NN", unit="shard", disable=settings.nshards == 1):
        path = knn_path(work_dir, shard, settings.nshards)
        saved = load_piece(path, shard_rows(len(vectors), shard, settings.nshards), settings.k)
        if saved is None or set(saved) != {"similarities", "ids"}:
            if searcher is None:
                searcher = build_searcher(vectors, settings, device)
            begin, end = shard_bounds(len(vectors), shard, settings.nshards)
            found = searcher.neighbours(slice(begin, end), settings.k)
            with atomic_open(path, "wb") as out:
                np.savez(out, similarities=found[0], ids=found[1])
            saved = {"similarities": found[0], "ids": found[1]}
        similarities.append(saved["similarities"])
        ids.append(saved["ids"])
    return np.concatenate(similarities), np.concatenate(ids)


def remove_leftovers(work_dir: Path, output: str | os.PathLike) -> None:
    """Remove the hidden ``.part`` files that runs killed while writing a piece or the output left."""
    for piece in [*work_dir.glob("*.npy"), *work_dir.glob("*.npz"), work_dir / "manifest.json", Path(output)]:
        remove_leftover_parts(piece.parent, piece.name)


def mine_pairs(segments_path: str | os.PathLike, features: str | os.PathLike, checkpoint: str | os.PathLike,
               output: str | os.PathLike, work_dir: str | os.PathLike | None = None,
               settings: MiningSettings = MiningSettings(), device: str | torch.device | None = None,
               batch_size: int = defaults.BATCH_SIZE, shard: int | None = None) -> MiningResult | None:
    """Mine the pairs of the segment list at ``segments_path`` and write them to ``output``.

    ``features`` is the feature store holding the segments' VADs, ``checkpoint`` the model (a file,
    or a folder with ``checkpoint_best.pt``), ``work_dir`` the work folder (default: OUTPUT.work).
    With ``shard``, only that shard is embedded and None is returned. Bad inputs, a work folder of
    another run and a list where no pair survives are :class:`UserError`.
    """
    device = resolve_device(device)
    segments = read_segment_list(segments_path)
    resolved = resolve_checkpoint(checkpoint)
    work_dir = Path(work_dir or f"{output}.work")
    manifest = work_manifest(segments_path, features, resolved, settings)
    claim_work_dir(work_dir, manifest, write=False)
    shards = requested_shards(shard, settings.nshards)
    embed_shards(segments, shards, work_dir, manifest, checkpoint, features, settings.nshards, device, batch_size)
    if shard is not None:
        return None

    embeddings = np.concatenate([np.load(embedding_path(work_dir, piece, settings.nshards))
                                 for piece in shards]).astype(np.float32)
    pca = mining.fit_pca(embeddings, settings.pca_dim, settings.max_pca_fit, settings.seed)
    vectors = mining.project(embeddings, pca)
    similarities, ids = search_shards(vectors, work_dir, settings, device)
    mined = mining.select_pairs(mining.SegmentTable.of(segments), similarities, ids, settings.nms_overlap,
                                settings.coverage, cross_speaker=settings.cross_speaker,
                                coverage_by=settings.coverage_by, score=settings.score)
    report = mining.similarity_report(embeddings, mined)
    logger.info("%s", report)
    if report.collapsed:
        logger.warning("the mining model %s looks collapsed: its embeddings hardly differ, so the pairs "
                       "will be close to random. Check its training loss and validation MAP first.",
                       checkpoint)
    if len(mined.first) == 0:
        raise UserError("no pair survived the filters (is the segment list tiny, or all from one file?)")
    write_pair_list(output, mining.as_pair_list(segments, mined))
    remove_leftovers(work_dir, output)  # of runs killed before this one
    thresholds = (f"thresholds by duration {', '.join(f'{steps * GRID:.2f} s: {value:.2f}' for steps, value in mined.thresholds.items())}"
                  if mined.thresholds else f"threshold {mined.threshold:.2f}")
    thresholds += " (of the margin score)" if settings.score == "margin" else ""
    logger.info("wrote %s: %d pairs, %s, %d of %d segments covered as queries (%.0f%%)",
                output, len(mined.first), thresholds, mined.queries_covered, len(segments),
                100 * mined.queries_covered / len(segments))
    return MiningResult(mined, report)
