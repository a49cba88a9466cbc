"""Inner-product k nearest neighbours for pair mining: exact (FAISS or torch) or approximate (IVF).

* ``flat`` (the default, as in the paper): exact search. On the CPU, FAISS ``IndexFlatIP``; on a
  GPU, FAISS's GPU index when faiss-gpu is installed, otherwise :func:`exact_knn_torch`
  (chunked matrix product + top-k on the GPU), so a GPU never falls back to the CPU.
* ``ivf``: FAISS ``IndexIVFFlat`` with inner product, for CPU-only users with very large lists.
  It partitions the vectors into ``nlist`` cells (k-means) and searches the ``nprobe`` cells
  nearest each query, so it can miss neighbours; :func:`recall` measures how many against
  exact search on a sample of queries, and ``sse/pipeline/mining_run.py`` logs it.

Every searcher returns ``(similarities, ids)``, each ``(queries, k)``, most similar first,
float32 and int64, ids of -1 where fewer than k neighbours were found. Query-by-example
(``sse/inference/search.py``) searches through the same functions. torch is imported only when it searches,
so a FAISS search on the CPU never loads it.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from sse.defaults import KNN_INDEXES as INDEXES
from sse.defaults import NPROBE as DEFAULT_NPROBE

logger = logging.getLogger(__name__)

RECALL_SAMPLE = 2000


def unit_rows(block: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; a zero row stays zero. The toolkit's one L2 normalisation of arrays."""
    return block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)


def default_nlist(count: int) -> int:
    """Cells of an IVF index over ``count`` vectors: about 4 sqrt(N), at least 1, and few
    enough that every cell gets about 40 training vectors (FAISS's own minimum)."""
    return max(1, min(int(4 * math.sqrt(count)), count // 40))


def faiss_gpus() -> int:
    try:
        import faiss  # noqa: PLC0415
    except ImportError:
        return 0
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def exact_knn_torch(database, queries, k: int, device="cpu",
                    memory_budget: int = 1 << 30) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product k-NN by chunks of queries: product with the whole database, top-k.

    ``database`` and ``queries`` are arrays or tensors; ``memory_budget`` bounds the (chunk, N)
    similarity block on ``device``.
    """
    import torch  # noqa: PLC0415

    device = torch.device(device)
    base = torch.as_tensor(np.asarray(database, dtype=np.float32) if not isinstance(database, torch.Tensor)
                           else database, dtype=torch.float32).to(device)
    k = min(k, len(base))
    chunk = max(1, memory_budget // (4 * max(1, len(base))))
    similarities = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    with torch.no_grad():
        for begin in range(0, len(queries), chunk):
            block = torch.as_tensor(np.asarray(queries[begin:begin + chunk], dtype=np.float32)).to(device)
            values, indices = torch.topk(block @ base.T, k, dim=1, largest=True, sorted=True)
            similarities[begin:begin + len(block)] = values.cpu().numpy()
            ids[begin:begin + len(block)] = indices.cpu().numpy()
    return similarities, ids


class Searcher:
    """k-NN over a fixed set of vectors with one of :data:`INDEXES`, on ``device``."""

    def __init__(self, vectors: np.ndarray, index: str = "flat", device="cpu", nlist: int | None = None,
                 nprobe: int = DEFAULT_NPROBE, seed: int = 0) -> None:
        if index not in INDEXES:
            raise ValueError(f"unknown index {index!r}; choose one of {', '.join(INDEXES)}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.kind, self.device = index, str(device)
        self.backend = "torch"
        self._index = None
        on_gpu = self.device_type == "cuda"
        if index == "flat" and on_gpu and faiss_gpus() == 0:
            return  # exact search by torch on the GPU
        import faiss  # noqa: PLC0415

        dim = self.vectors.shape[1]
        if index == "flat":
            self._index, self.backend = faiss.IndexFlatIP(dim), "faiss"
        else:
            self.nlist = nlist or default_nlist(len(self.vectors))
            self.nprobe = nprobe
            quantizer = faiss.IndexFlatIP(dim)
            self._index = faiss.IndexIVFFlat(quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
            self._index.cp.seed = seed
            training = self.vectors
            most = 256 * self.nlist  # FAISS samples this many by default; do it reproducibly
            if len(training) > most:
                training = training[np.sort(np.random.default_rng(seed).choice(len(training), most, replace=False))]
            self._index.train(training)
            self._index.nprobe = min(nprobe, self.nlist)
            self.backend = "faiss"
            self._quantizer = quantizer  # the IVF index does not own it
        if on_gpu:
            self._index = faiss.index_cpu_to_all_gpus(self._index)
            self.backend = "faiss-gpu"
        self._index.add(self.vectors)

    @property
    def device_type(self) -> str:
        """``cpu``, ``cuda`` or ``mps``."""
        return self.device.split(":")[0]

    def describe(self) -> str:
        if self.kind == "ivf":
            return f"approximate IVF (nlist {self.nlist}, nprobe {self.nprobe}, {self.backend})"
        return f"exact ({self.backend}, {self.device_type})"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:  # a GPU has room for larger blocks, which keep it busy
            budget = (4 << 30) if self.device_type == "cuda" else (1 << 30)
            return exact_knn_torch(self.vectors, queries, k, self.device, budget)
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def recall(searcher: Searcher, k: int, sample: int = RECALL_SAMPLE, seed: int = 0) -> float:
    """Share of the exact k nearest neighbours that ``searcher`` finds, over ``sample`` random
    queries of its own vectors (exact search by torch, on the searcher's device)."""
    vectors = searcher.vectors
    rows = np.sort(np.random.default_rng(seed).choice(len(vectors), min(sample, len(vectors)), replace=False))
    _, found = searcher.search(vectors[rows], k)
    _, exact = exact_knn_torch(vectors, vectors[rows], k, searcher.device)
    hits = sum(len(np.intersect1d(a[a >= 0], b)) for a, b in zip(found, exact))
    return hits / exact.size
