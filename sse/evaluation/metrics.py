"""Exact mean average precision (MAP) of embeddings against labels (docs/method.md, "Evaluation").

The definition, which the toolkit names "exact MAP (all-segment ranking)":

* embeddings are L2-normalised and compared by cosine similarity;
* every segment whose label has at least one other token is a query;
* a query ranks ALL other segments (itself excluded, nothing cut off);
* AP = mean, over its R relevant segments (same label), of the precision at each one's rank;
* MAP = mean AP over queries.

Tied scores are ranked pessimistically (a relevant segment shares its rank with everything
scoring the same), which is exactly what ``sklearn.metrics.average_precision_score`` computes.
Peers report variants (top-k cut-offs, dividing by the hits found, counting the query itself)
that can differ several-fold; they are not this number.

How it is computed: only the ranks of a query's R relevant segments matter, and the rank of a
relevant score s is the number of scores >= s. So instead of sorting all N scores of a query,
its row is compared with each of its R relevant scores and the hits counted: R passes of one
comparison over the row, which costs little next to the similarity product itself (R is a few
for phone n-gram benchmarks). Queries are processed in chunks sorted by R, so a chunk pads
little; memory stays within ``memory_budget`` bytes whatever the number of segments
(N = 100,000 fits in 4 GB), and everything runs on the GPU when a CUDA device is given.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

NAME = "exact MAP (all-segment ranking)"
CACHE_BLOCK = 1 << 22  # bytes of scores compared at a time on the CPU: a few rows, kept in cache


@dataclass
class MapResult:
    map: float
    num_queries: int
    num_segments: int
    num_labels: int
    average_precisions: np.ndarray  # one per query, in segment order

    def __str__(self) -> str:
        return (f"MAP: {self.map:.4f} ({NAME}; {self.num_queries} queries, "
                f"{self.num_segments} segments, {self.num_labels} labels)")


def count_at_or_above(scores: torch.Tensor, thresholds: torch.Tensor, needed: np.ndarray) -> torch.Tensor:
    """``counts[q, j]`` = how many entries of ``scores[q]`` are >= ``thresholds[q, j]``, for the
    first ``needed[q]`` thresholds of each row (the rest stay 0). ``needed`` must not decrease
    from row to row, so the rows that need threshold j are a contiguous tail.
    """
    if scores.device.type == "cpu":
        return _count_numpy(scores, thresholds, needed)
    return _count_torch(scores, thresholds, needed)


def _first_rows(needed: np.ndarray, width: int) -> np.ndarray:
    """For each threshold j, the first row that needs it (``needed`` is non-decreasing)."""
    return np.searchsorted(needed, np.arange(width), side="right")


def _count_torch(scores: torch.Tensor, thresholds: torch.Tensor, needed: np.ndarray) -> torch.Tensor:
    rows, width = thresholds.shape
    counts = torch.zeros(rows, width, dtype=torch.int64, device=scores.device)
    for j, first in enumerate(_first_rows(needed, width).tolist()):
        counts[first:, j] = (scores[first:] >= thresholds[first:, j:j + 1]).sum(1)
    return counts


def _count_numpy(scores: torch.Tensor, thresholds: torch.Tensor, needed: np.ndarray) -> torch.Tensor:
    # numpy's comparison is vectorised and several times faster than torch's bool sum on a CPU,
    # and so is np.count_nonzero of a whole row (given an axis, it sums bools instead). A few
    # rows at a time stay in cache across their R passes; the blocks are shared among as many
    # threads as torch uses (numpy releases the GIL while it compares).
    rows, width = thresholds.shape
    counts = np.zeros((rows, width), dtype=np.int64)
    score_rows, limits = scores.numpy(), thresholds.numpy()
    first_rows = _first_rows(needed, width)
    block = max(1, CACHE_BLOCK // max(1, 4 * score_rows.shape[1]))

    def count_blocks(begins: range) -> None:
        buffer = np.empty((block, score_rows.shape[1]), dtype=bool)
        for begin in begins:
            end = min(begin + block, rows)
            for j in range(int(needed[end - 1])):
                start = max(begin, int(first_rows[j]))
                if start < end:
                    hit = np.greater_equal(score_rows[start:end], limits[start:end, j:j + 1], out=buffer[:end - start])
                    counts[start:end, j] = [np.count_nonzero(row) for row in hit]

    blocks = range(0, rows, block)
    threads = max(1, min(torch.get_num_threads(), len(blocks)))
    if threads == 1:
        count_blocks(blocks)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(count_blocks, [blocks[part::threads] for part in range(threads)]))
    return torch.from_numpy(counts)


def chunk_rows(count: int, max_relevant: int, memory_budget: int, queries: int) -> int:
    """Queries per chunk: their score rows (float32 + a comparison byte) fit ``memory_budget``."""
    bytes_per_query = count * (4 + 1) + (max_relevant + 1) * 64
    return max(1, min(queries, memory_budget // bytes_per_query))


SCOPES = ("all", "across", "within")


def mean_average_precision(embeddings, labels: Sequence, device: str | torch.device | None = None,
                           memory_budget: int = 1 << 30, speakers: Sequence | None = None,
                           scope: str = "all") -> MapResult:
    """Exact MAP of ``embeddings`` (N, dim) with one label per row (any hashable).

    With ``speakers`` (one per row), ``scope`` restricts what each query ranks: ``"across"``
    leaves out every segment of the query's own speaker (its relevant ones too), so only other
    voices' tokens of the word count; ``"within"`` ranks only the query's own speaker's segments.
    A segment is then a query when the restricted ranking holds a relevant segment.

    Two tokens of each of two words; each token's nearest neighbour is the other token of its word:

    >>> vectors = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]
    >>> print(mean_average_precision(vectors, ["x", "x", "y", "y"]))
    MAP: 1.0000 (exact MAP (all-segment ranking); 4 queries, 4 segments, 2 labels)

    Swap the labels of the middle two: the outer tokens find their word's other token third of
    three (AP 1/3), the inner ones second (AP 1/2):

    >>> round(mean_average_precision(vectors, ["x", "y", "x", "y"]).map, 4)
    0.4167
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if scope != "all" and (speakers is None or len(speakers) != len(labels)):
        raise ValueError(f"scope {scope!r} needs one speaker per segment")
    device = torch.device(device or "cpu")
    vectors = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32).to(device)
    if vectors.dim() != 2 or len(vectors) != len(labels):
        raise ValueError(f"need (N, dim) embeddings and N labels, got {tuple(vectors.shape)} and {len(labels)}")
    count = len(vectors)
    vectors = torch.nn.functional.normalize(vectors, dim=1)

    _, label_ids = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    label_ids = label_ids.astype(np.int64)
    order = np.argsort(label_ids, kind="stable")
    sizes = np.bincount(label_ids)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    speaker_ids = None
    if scope == "all":
        relevant_counts = sizes[label_ids] - 1
    else:
        _, speaker_ids = np.unique(np.asarray(speakers, dtype=object).astype(str), return_inverse=True)
        # Relevant segments of each query's own speaker (itself included) ...
        own = np.unique(label_ids * (speaker_ids.max() + 1) + speaker_ids, return_inverse=True, return_counts=True)
        own_counts = own[2][own[1]]
        relevant_counts = own_counts - 1 if scope == "within" else sizes[label_ids] - own_counts
        speaker_ids = torch.as_tensor(speaker_ids.astype(np.int64), device=device)
    queries = np.flatnonzero(relevant_counts >= 1)
    if len(queries) == 0:
        return MapResult(float("nan"), 0, count, len(sizes), np.zeros(0))

    # Chunks of queries with similar numbers of relevant segments, fewest first.
    relevant_counts = relevant_counts[queries]
    by_count = np.argsort(relevant_counts, kind="stable")
    chunk = chunk_rows(count, int(relevant_counts.max()), memory_budget, len(queries))

    average_precisions = np.empty(len(queries), dtype=np.float64)
    members = torch.as_tensor(order, device=device)
    label_starts = torch.as_tensor(starts, device=device)
    label_sizes = torch.as_tensor(sizes, device=device)
    for begin in range(0, len(queries), chunk):
        picked = by_count[begin:begin + chunk]
        needed = relevant_counts[picked]
        query = torch.as_tensor(queries[picked], device=device)
        scores = vectors[query] @ vectors.T
        rows = torch.arange(len(query), device=device)
        scores[rows, query] = -torch.inf  # the query never ranks itself
        if speaker_ids is not None:  # segments outside the scope are not ranked at all
            same = speaker_ids[query][:, None] == speaker_ids[None, :]
            scores.masked_fill_(same if scope == "across" else ~same, -torch.inf)

        # The scores of each query's relevant segments, taken from the same product (so ties
        # compare exactly), highest first; the row's padding is -inf (as are those out of scope).
        label = torch.as_tensor(label_ids[queries[picked]], device=device)
        width = int(label_sizes[label].max())
        columns = torch.arange(width, device=device)
        size = label_sizes[label]
        member = members[(label_starts[label][:, None] + columns).clamp(max=count - 1)]
        relevant = (columns < size[:, None]) & (member != query[:, None])
        if speaker_ids is not None:
            same = speaker_ids[member] == speaker_ids[query][:, None]
            relevant &= same if scope == "within" else ~same
        relevant_scores = torch.where(relevant, scores.gather(1, member), -torch.inf)
        relevant_scores = relevant_scores.sort(dim=1, descending=True).values[:, :width - 1].contiguous()

        # Precision at a relevant score s = relevant scores >= s / all scores >= s.
        at_or_above = count_at_or_above(scores, relevant_scores, needed)
        ascending = relevant_scores.flip(1).contiguous()
        hits = (width - 1) - torch.searchsorted(ascending, relevant_scores, side="left")
        valid = torch.arange(width - 1, device=device)[None, :] < torch.as_tensor(needed, device=device)[:, None]
        precision = torch.where(valid, hits.double() / at_or_above.clamp(min=1).double(), 0.0)
        average_precisions[picked] = (precision.sum(1) / torch.as_tensor(needed, device=device)).cpu().numpy()
    return MapResult(float(average_precisions.mean()), len(queries), count, len(sizes), average_precisions)


def same_speaker_neighbours(embeddings, speakers: Sequence, k: int = 10, device: str | torch.device | None = None,
                            chunk: int = 1024) -> tuple[float, float]:
    """(share, chance): the mean share of each segment's ``k`` nearest neighbours (cosine, itself
    excluded) that are of its own speaker, and what random neighbours would give (the mean share
    of the other segments that are of its speaker)."""
    device = torch.device(device or "cpu")
    vectors = torch.nn.functional.normalize(
        torch.as_tensor(np.asarray(embeddings), dtype=torch.float32).to(device), dim=1)
    _, speaker_ids = np.unique(np.asarray(speakers, dtype=object).astype(str), return_inverse=True)
    count = len(vectors)
    if count < 2:
        return float("nan"), float("nan")
    k = min(k, count - 1)
    ids = torch.as_tensor(speaker_ids.astype(np.int64), device=device)
    same = 0
    for begin in range(0, count, chunk):
        rows = torch.arange(begin, min(begin + chunk, count), device=device)
        scores = vectors[rows] @ vectors.T
        scores[torch.arange(len(rows), device=device), rows] = -torch.inf
        neighbours = scores.topk(k, dim=1).indices
        same += int((ids[neighbours] == ids[rows][:, None]).sum())
    sizes = np.bincount(speaker_ids)
    chance = float(((sizes[speaker_ids] - 1) / (count - 1)).mean())
    return same / (count * k), chance


@dataclass
class SpeakerReport:
    """Does a model encode the voice rather than the word? MAP across and within speakers, and
    how many of each segment's 10 nearest neighbours share its speaker."""

    map_across: float    # each query ranks only other speakers' segments
    map_within: float    # each query ranks only its own speaker's segments
    neighbours: float    # share of the 10 nearest neighbours of its own speaker
    chance: float        # the same share for random neighbours
    k: int = 10

    def __str__(self) -> str:
        return (f"MAP across speakers {self.map_across:.4f}, within speaker {self.map_within:.4f}; "
                f"same-speaker share of the {self.k} nearest neighbours {self.neighbours:.3f} "
                f"(random: {self.chance:.3f})")


def speaker_report(embeddings, labels: Sequence, speakers: Sequence, device: str | torch.device | None = None,
                   k: int = 10) -> SpeakerReport:
    """The speaker diagnostics of :class:`SpeakerReport` for labelled embeddings."""
    across = mean_average_precision(embeddings, labels, device, speakers=speakers, scope="across").map
    within = mean_average_precision(embeddings, labels, device, speakers=speakers, scope="within").map
    share, chance = same_speaker_neighbours(embeddings, speakers, k, device)
    return SpeakerReport(across, within, share, chance, k)
