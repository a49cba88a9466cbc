"""Mining positive pairs with k nearest neighbours (docs/method.md, step 7).

1. Embed every training segment with the previous model (no projection head).
2. PCA to 128 dimensions (fitted on at most 1 M embeddings), L2-normalise.
3. Exact inner-product k-NN (``sse/method/knn.py``: FAISS ``IndexFlatIP``; on a GPU, faiss-gpu or else a
   chunked torch product + top-k), ``k = 10`` neighbours searched per query; the query itself is
   normally the first of them. An approximate FAISS IVF index is an option for very large lists.
4. Filters, in order:
   - drop the query itself, and neighbours from the same file that overlap it in time;
   - non-maximum suppression: among a query's neighbours from one file, visited from the most
     similar down, drop any that overlaps an already kept one by more than 40 % (intersection
     over union: segments shifted by one 0.16 s grid step are the same match);
   - optionally (``score="margin"``, not in the paper), cosine is replaced by a margin score
     (:func:`margin_scores`) for what follows;
   - a global similarity threshold, lowered from 1.00 in 0.01 steps until the segments that
     still have a pair as queries are at least 50 % of all segments; pairs below it are dropped.
     With ``coverage_by="duration"`` (not in the paper) there is one such threshold per segment
     duration (per number of grid steps), each reaching the coverage among the queries of that
     duration: short segments agree most easily, so one global threshold fills the list with
     them (docs/results.md measures it).
5. A pair found from both ends (a -> b and b -> a) is written once, with its higher similarity.

Same-file pairs that survive (non-overlapping repeats within one utterance) stay in the list;
the stage-2 task does not train on them, as the paper's recipe says.
"""
from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import numpy as np
import torch

from sse.defaults import COVERAGE, MAX_PCA_FIT, NMS_OVERLAP, PCA_DIM, K  # noqa: F401  (re-exported)
from sse.frames.formats import Pair, Segment
from sse.method.health import EmbeddingHealth, embedding_health
from sse.method.knn import unit_rows
from sse.method.segments import GRID

logger = logging.getLogger(__name__)

THRESHOLD_STEP = 0.01
TOLERANCE = 1e-6  # float32 similarities: 0.9 is stored as 0.89999998


class Pca(NamedTuple):
    mean: np.ndarray        # (dim,)
    components: np.ndarray  # (out dim, dim), rows by decreasing variance


def fit_pca(embeddings: np.ndarray, dim: int = PCA_DIM, max_fit: int = MAX_PCA_FIT, seed: int = 0,
            chunk: int = 1 << 16) -> Pca:
    """Principal axes of (a random subset of at most ``max_fit``) rows of ``embeddings``.

    Mean and covariance are accumulated in float64 over chunks of rows, so memory stays near
    the input's whatever the number of rows.
    """
    rows = embeddings
    if len(rows) > max_fit:
        rows = rows[np.sort(np.random.default_rng(seed).choice(len(rows), max_fit, replace=False))]
    count, width = rows.shape
    mean = torch.zeros(width, dtype=torch.float64)
    for begin in range(0, count, chunk):
        mean += torch.as_tensor(np.asarray(rows[begin:begin + chunk], dtype=np.float64)).sum(0)
    mean /= max(count, 1)
    covariance = torch.zeros(width, width, dtype=torch.float64)
    for begin in range(0, count, chunk):
        centred = torch.as_tensor(np.asarray(rows[begin:begin + chunk], dtype=np.float64)) - mean
        covariance += centred.T @ centred
    covariance /= max(count - 1, 1)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    dim = min(dim, width)
    return Pca(mean.numpy().astype(np.float32), vectors.flip(1)[:, :dim].T.numpy().astype(np.float32))


def project(embeddings: np.ndarray, pca: Pca, chunk: int = 1 << 18) -> np.ndarray:
    """PCA projection then L2 normalisation, float32, in chunks."""
    out = np.empty((len(embeddings), len(pca.components)), dtype=np.float32)
    for begin in range(0, len(embeddings), chunk):
        block = (np.asarray(embeddings[begin:begin + chunk], dtype=np.float32) - pca.mean) @ pca.components.T
        out[begin:begin + chunk] = unit_rows(block)
    return out


class SegmentTable(NamedTuple):
    """Segments as arrays: what the filters need, for millions of segments."""

    file: np.ndarray   # int file id
    start: np.ndarray
    end: np.ndarray
    speaker: np.ndarray | None = None  # int speaker id, for the cross-speaker filter

    @classmethod
    def of(cls, segments: Sequence[Segment]) -> "SegmentTable":
        ids: dict[str, int] = {}
        speakers: dict[str, int] = {}
        file = np.array([ids.setdefault(s.wav, len(ids)) for s in segments], dtype=np.int64)
        speaker = np.array([speakers.setdefault(s.speaker, len(speakers)) for s in segments], dtype=np.int64)
        return cls(file, np.array([s.start for s in segments]), np.array([s.end for s in segments]), speaker)


def _intersection_over_union(start_a, end_a, start_b, end_b) -> np.ndarray:
    intersection = np.clip(np.minimum(end_a, end_b) - np.maximum(start_a, start_b), 0, None)
    union = np.maximum(end_a, end_b) - np.minimum(start_a, start_b)
    return intersection / np.maximum(union, 1e-12)


def filter_neighbours(table: SegmentTable, queries: np.ndarray, ids: np.ndarray,
                      nms_overlap: float = NMS_OVERLAP, cross_speaker: bool = False) -> np.ndarray:
    """Which k-NN results survive the self, same-file-overlap and NMS filters: (queries, k) bool.

    ``ids`` must be sorted by decreasing similarity along each row (as FAISS returns them).
    With ``cross_speaker``, neighbours of the query's own speaker are dropped too.
    """
    valid = (ids >= 0) & (ids != queries[:, None])
    safe = np.where(ids >= 0, ids, 0)
    if cross_speaker:
        valid &= table.speaker[safe] != table.speaker[queries][:, None]
    q_file, q_start, q_end = (a[queries][:, None] for a in table[:3])
    n_file, n_start, n_end = table.file[safe], table.start[safe], table.end[safe]
    overlaps_query = (n_file == q_file) & (np.minimum(n_end, q_end) > np.maximum(n_start, q_start))
    valid &= ~overlaps_query

    # conflict[q, i, j]: neighbours i and j of q come from one file and overlap by > nms_overlap.
    same_file = n_file[:, :, None] == n_file[:, None, :]
    iou = _intersection_over_union(n_start[:, :, None], n_end[:, :, None], n_start[:, None, :], n_end[:, None, :])
    conflict = same_file & (iou > nms_overlap)
    kept = np.zeros_like(valid)
    for j in range(ids.shape[1]):  # greedy, most similar first
        kept[:, j] = valid[:, j] & ~(kept[:, :j] & conflict[:, :j, j]).any(axis=1)
    return kept


def coverage_threshold(best: np.ndarray, total: int, coverage: float = COVERAGE,
                       step: float = THRESHOLD_STEP) -> float:
    """The highest threshold on a ``step`` grid at which at least ``coverage`` of
    ``total`` segments keep a pair as queries (``best``: each query's best kept similarity).

    Similarities are float32, so a grid value counts as reached within :data:`TOLERANCE`.
    """
    needed = max(1, int(np.ceil(coverage * total)))
    finite = np.sort(best[np.isfinite(best)])[::-1]
    if len(finite) == 0:
        return -1.0
    reference = finite[min(needed, len(finite)) - 1]  # all of them, if fewer than needed
    return float(np.floor((reference + TOLERANCE) / step)) * step


COVERAGE_BY = ("all", "duration")


class MinedPairs(NamedTuple):
    first: np.ndarray
    second: np.ndarray
    similarity: np.ndarray
    threshold: float
    queries_covered: int
    best: np.ndarray  # each query's best similarity after the filters (-inf: none survived)
    thresholds: dict = {}  # with coverage_by="duration": {grid steps: threshold}


SCORES = ("cosine", "margin")


def margin_scores(similarities: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Ratio-margin scores of k-NN results (not in the paper): ``cos(x, y)`` divided by the mean of
    ``r(x)`` and ``r(y)``, where ``r`` is a segment's mean cosine to its neighbours (itself left out).

    Cosine favours segments that are close to everything: pauses and the shortest spans sit in
    dense regions where any neighbour is near, so one global cosine threshold picks them first.
    The margin asks instead how much closer a neighbour is than the segment's usual neighbours
    (the margin criterion of Artetxe and Schwenk's bitext mining, 2019; CSLS of Conneau et al.,
    2018, is its difference form). Every row of ``ids`` must be a query of the same search, row
    ``i`` being segment ``i``, so each neighbour's ``r`` is known.
    """
    count = len(ids)
    others = (ids >= 0) & (ids != np.arange(count)[:, None])
    mean = (np.where(others, similarities, 0).sum(1) / np.maximum(others.sum(1), 1)).astype(np.float32)
    neighbour_mean = mean[np.where(ids >= 0, ids, 0)]
    scores = similarities / np.maximum((mean[:, None] + neighbour_mean) / 2, 1e-6)
    return np.where(ids >= 0, scores, -np.inf).astype(np.float32)


def duration_classes(table: SegmentTable) -> np.ndarray:
    """Each segment's duration in grid steps (0.16 s), rounded: the classes of ``coverage_by="duration"``."""
    return np.rint((table.end - table.start) / GRID).astype(np.int64)


def select_pairs(table: SegmentTable, similarities: np.ndarray, ids: np.ndarray,
                 nms_overlap: float = NMS_OVERLAP, coverage: float = COVERAGE,
                 step: float = THRESHOLD_STEP, chunk: int = 1 << 16, cross_speaker: bool = False,
                 coverage_by: str = "all", score: str = "cosine") -> MinedPairs:
    """Apply the filters and the threshold(s) to the k-NN of every segment (row = query).

    The threshold applies to ``score``: the cosine similarity (the paper), or the margin of
    :func:`margin_scores`. The pairs keep their cosine similarity either way, and ``best`` is
    each query's best kept cosine; the thresholds are in units of the score.
    """
    if coverage_by not in COVERAGE_BY:
        raise ValueError(f"coverage_by must be one of {COVERAGE_BY}, got {coverage_by!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    count = len(similarities)
    kept = np.zeros(ids.shape, dtype=bool)
    for begin in range(0, count, chunk):
        rows = np.arange(begin, min(begin + chunk, count))
        kept[rows] = filter_neighbours(table, rows, ids[rows], nms_overlap, cross_speaker)
    scores = margin_scores(similarities, ids) if score == "margin" else similarities
    best_score = np.where(kept, scores, -np.inf).max(axis=1)
    thresholds = {}
    if coverage_by == "duration":
        classes = duration_classes(table)
        query_threshold = np.empty(count)
        for steps in np.unique(classes).tolist():
            members = classes == steps
            thresholds[steps] = coverage_threshold(best_score[members], int(members.sum()), coverage, step)
            query_threshold[members] = thresholds[steps]
        threshold = min(thresholds.values())
    else:
        threshold = coverage_threshold(best_score, count, coverage, step)
        query_threshold = np.full(count, threshold)
    keep = kept & (scores >= query_threshold[:, None] - TOLERANCE)
    query, column = np.nonzero(keep)
    neighbour, similarity = ids[query, column], similarities[query, column]
    # A pair found from both ends is kept once, with its higher similarity.
    low, high = np.minimum(query, neighbour), np.maximum(query, neighbour)
    order = np.lexsort((-similarity, high, low))
    low, high, similarity = low[order], high[order], similarity[order]
    first_of_pair = np.ones(len(low), dtype=bool)
    first_of_pair[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    covered = int((best_score >= query_threshold - TOLERANCE).sum())
    best = np.where(kept, similarities, -np.inf).max(axis=1)
    return MinedPairs(low[first_of_pair], high[first_of_pair], similarity[first_of_pair], threshold, covered, best,
                      thresholds)


class SimilarityReport(NamedTuple):
    """How similar each segment's best neighbour is, and what that says about the model."""

    percentiles: dict           # {10: ..., 50: ..., 90: ...} of the best kept similarity per query
    share_above: float          # share of queries whose best neighbour is above NEAR_DUPLICATE
    health: "EmbeddingHealth"   # of the raw embeddings (before PCA)

    @property
    def collapsed(self) -> bool:
        return self.health.collapsed or self.share_above > 0.5

    def __str__(self) -> str:
        spread = ", ".join(f"p{q} {value:.3f}" for q, value in self.percentiles.items())
        return (f"best-neighbour similarity {spread}; {100 * self.share_above:.0f}% above "
                f"{NEAR_DUPLICATE}; raw embeddings: {self.health}")


NEAR_DUPLICATE = 0.99


def similarity_report(embeddings: np.ndarray, mined: MinedPairs) -> SimilarityReport:
    """The distribution of each query's best surviving neighbour similarity (after the filters
    of :func:`select_pairs`), with the health of the embeddings that were searched."""
    finite = mined.best[np.isfinite(mined.best)]
    percentiles = {q: float(np.percentile(finite, q)) if len(finite) else float("nan") for q in (10, 50, 90)}
    share = float((finite > NEAR_DUPLICATE).mean()) if len(finite) else 0.0
    return SimilarityReport(percentiles, share, embedding_health(embeddings))


def as_pair_list(segments: Sequence[Segment], mined: MinedPairs) -> list[Pair]:
    """The mined pairs as :class:`sse.frames.formats.Pair` rows, most similar first."""
    order = np.argsort(-mined.similarity, kind="stable")
    pairs = []
    for i in order.tolist():
        a, b = segments[mined.first[i]], segments[mined.second[i]]
        pairs.append(Pair(a.wav, a.speaker, a.start, a.end, b.wav, b.speaker, b.start, b.end,
                          float(mined.similarity[i])))
    return pairs
