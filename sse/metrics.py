"""Exact mean average precision (MAP) of embeddings against labels (SPEC "Evaluation").

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

The work is done in chunks of queries, so memory stays within ``memory_budget`` bytes whatever
the number of segments (N = 100,000 fits in 4 GB), on the GPU when a CUDA device is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

NAME = "exact MAP (all-segment ranking)"


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


def mean_average_precision(embeddings, labels: Sequence, device: str | torch.device | None = None,
                           memory_budget: int = 1 << 30) -> MapResult:
    """Exact MAP of ``embeddings`` (N, dim) with one label per row (any hashable)."""
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
    queries = np.flatnonzero(sizes[label_ids] >= 2)
    if len(queries) == 0:
        return MapResult(float("nan"), 0, count, len(sizes), np.zeros(0))

    # Members of each query's label, padded to the largest label among the queries.
    width = int(sizes[label_ids[queries]].max())
    members = torch.as_tensor(order, device=device)
    bytes_per_query = count * (4 + 4 + 8) + width * 64
    chunk = max(1, min(len(queries), memory_budget // bytes_per_query))

    average_precisions = np.empty(len(queries), dtype=np.float64)
    label_ids_t = torch.as_tensor(label_ids, device=device)
    sizes_t = torch.as_tensor(sizes, device=device)
    starts_t = torch.as_tensor(starts, device=device)
    columns = torch.arange(width, device=device)
    for begin in range(0, len(queries), chunk):
        query = torch.as_tensor(queries[begin:begin + chunk], device=device)
        scores = vectors[query] @ vectors.T
        rows = torch.arange(len(query), device=device)
        scores[rows, query] = -torch.inf  # the query never ranks itself

        label = label_ids_t[query]
        valid = columns[None, :] < sizes_t[label][:, None]
        member = members[(starts_t[label][:, None] + columns[None, :]).clamp(max=count - 1)]
        relevant = valid & (member != query[:, None])
        relevant_scores = torch.where(relevant, scores.gather(1, member), -torch.inf)

        # Rank of each relevant segment = segments scoring >= it; hits = relevant ones among them.
        ranked = scores.sort(dim=1).values
        at_or_above = count - torch.searchsorted(ranked, relevant_scores.contiguous(), side="left")
        relevant_sorted = relevant_scores.sort(dim=1).values
        hits = width - torch.searchsorted(relevant_sorted, relevant_scores.contiguous(), side="left")
        precision = torch.where(relevant, hits.double() / at_or_above.clamp(min=1).double(), 0.0)
        average_precisions[begin:begin + len(query)] = (
            precision.sum(1) / relevant.sum(1).double()).cpu().numpy()
    return MapResult(float(average_precisions.mean()), len(queries), count, len(sizes), average_precisions)
