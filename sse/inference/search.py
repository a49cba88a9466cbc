"""Query-by-example: the segments most similar to a query, by cosine, searched exactly.

Rows are L2-normalised, so cosine is an inner product; the search is exact, by the mining
k-NN of ``sse/method/knn.py`` (FAISS ``IndexFlatIP`` on CPU; a chunked matrix product with
``torch.topk`` on a GPU, or when FAISS is not installed). A query's own row (or, for a query given as a segment, every database row of the
same file and times) is excluded from its neighbours.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import NamedTuple, Sequence

import numpy as np

from sse.core.errors import UserError
from sse.method.knn import Searcher, exact_knn_torch, unit_rows

logger = logging.getLogger(__name__)

class Neighbours(NamedTuple):
    similarities: np.ndarray  # (queries, k) float32, highest first
    ids: np.ndarray           # (queries, k) int64 database rows; -1 where fewer than k exist


def normalize(vectors: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """float32 rows scaled to unit length (zero rows stay zero), in chunks."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for begin in range(0, len(vectors), chunk):
        out[begin:begin + chunk] = unit_rows(np.asarray(vectors[begin:begin + chunk], dtype=np.float32))
    return out


def require_finite(vectors: np.ndarray, what: str, name_row=str, advice: str = "", chunk: int = 1 << 16) -> None:
    """Refuse rows holding inf or nan (a poisoned row ranks nothing, and silently): a
    :class:`UserError` names the first, ``name_row(row)`` saying which segment it is."""
    for begin in range(0, len(vectors), chunk):
        block = np.asarray(vectors[begin:begin + chunk])
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if len(bad):
            row = begin + int(bad[0])
            value = block[bad[0]][~np.isfinite(block[bad[0]])][0]
            count = sum(int((~np.isfinite(np.asarray(vectors[start:start + chunk])).all(axis=1)).sum())
                        for start in range(0, len(vectors), chunk))
            raise UserError(f"{what}: row {row} ({name_row(row)}) holds {value}"
                            + (f", and {count - 1} other row(s) too" if count > 1 else "")
                            + "; an embedding must be finite" + (f": {advice}" if advice else ""))


def nearest(database: np.ndarray, queries: np.ndarray, k: int,
            exclude: Sequence[Sequence[int]] | None = None, device="cpu",
            backend: str | None = None) -> Neighbours:
    """The ``k`` database rows most similar (cosine) to each query, most similar first.

    ``exclude[i]`` lists database rows query ``i`` must not return (itself). ``backend`` is
    ``"faiss"`` or ``"torch"``; by default FAISS on CPU and torch on a GPU.
    """
    if database.ndim != 2 or queries.ndim != 2 or database.shape[1] != queries.shape[1]:
        raise UserError(f"queries of shape {queries.shape} cannot be compared with a database of "
                        f"shape {database.shape}")
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    exclude = exclude if exclude is not None else [()] * len(queries)
    extra = max((len(rows) for rows in exclude), default=0)
    wanted = min(k + extra, len(database))
    database, queries = normalize(database), normalize(queries)
    if backend is None:
        backend = "torch" if str(device).startswith("cuda") else "faiss"
    if backend == "faiss":
        try:
            scores, ids = Searcher(database, "flat", "cpu").search(queries, wanted)
        except ImportError:
            logger.warning("faiss is not installed; searching with torch")
            backend = "torch"
    if backend == "torch":
        scores, ids = exact_knn_torch(database, queries, wanted, device)

    out_scores = np.full((len(queries), k), np.nan, dtype=np.float32)
    out_ids = np.full((len(queries), k), -1, dtype=np.int64)
    for row, (row_scores, row_ids) in enumerate(zip(scores, ids)):
        banned = set(int(i) for i in exclude[row])
        kept = [(s, i) for s, i in zip(row_scores, row_ids) if i >= 0 and int(i) not in banned][:k]
        for column, (score, index) in enumerate(kept):
            out_scores[row, column], out_ids[row, column] = score, index
    return Neighbours(out_scores, out_ids)


class PrecisionAtK(NamedTuple):
    value: float   # mean over the counted queries
    queries: int   # labelled queries with at least one same-label row in the database
    k: int

    def __str__(self) -> str:
        return (f"P@{self.k}: {self.value:.4f} (mean over {self.queries} labelled queries whose label "
                f"occurs in the searched rows; a query's own row excluded)")


def precision_at_k(ids: np.ndarray, query_labels: Sequence[str | None], database_labels: Sequence[str | None],
                   exclude: Sequence[Sequence[int]] | None = None) -> PrecisionAtK | None:
    """Share of each query's k neighbours with its label, averaged over the queries that have a
    label and at least one other database row carrying it; None if there is no such query."""
    counts = Counter(label for label in database_labels if label is not None)
    k = ids.shape[1]
    values = []
    for row, label in enumerate(query_labels):
        if label is None:
            continue
        own = sum(1 for i in (exclude[row] if exclude is not None else ()) if database_labels[i] == label)
        if counts[label] - own < 1:
            continue
        values.append(sum(1 for i in ids[row] if i >= 0 and database_labels[i] == label) / k)
    if not values:
        return None
    return PrecisionAtK(float(np.mean(values)), len(values), k)


def parse_rows(text: str, count: int) -> list[int]:
    """``"all"``, or comma-separated row numbers and ranges (``0,5,10-19``), checked against ``count``."""
    if text.strip() == "all":
        return list(range(count))
    rows = []
    for part in text.split(","):
        part = part.strip()
        try:
            first, last = (int(x) for x in part.split("-", 1)) if "-" in part else (int(part),) * 2
            if first > last:
                raise ValueError
        except ValueError:
            raise UserError(f"--query_rows: {part!r} is not a row number or a range FIRST-LAST") from None
        for row in (first, last):  # the bounds, before a range of them is made
            if not 0 <= row < count:
                raise UserError(f"--query_rows: row {row} does not exist (the database has rows 0..{count - 1})")
        rows += range(first, last + 1)
    return rows
