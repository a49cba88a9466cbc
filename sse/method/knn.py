"""Inner-product k nearest neighbours for pair mining: exact (FAISS or torch) or approximate (HNSW, IVF).

* ``flat`` (the default, as in the paper): exact search. On the CPU, FAISS ``IndexFlatIP``; on a
  GPU, FAISS's GPU index when faiss-gpu is installed, otherwise :func:`exact_knn_torch`
  (chunked matrix product + top-k on the GPU), so a GPU never falls back to the CPU.
* ``hnsw``: FAISS ``IndexHNSWFlat`` (a graph of ``m`` links per vector, ``2 m`` on its base
  level), the approximate index of choice on a CPU (bench/README.md measures it against IVF at
  1,000,000 x 128). Mining and discovery look for the neighbours of the indexed vectors
  themselves, so :meth:`Searcher.neighbours` starts each search from the vector's own node of
  the base level instead of descending the upper levels from the graph's entry point: the same
  beam (``ef_search``) then finds more of the true neighbours, for less work.
* ``ivf``: FAISS ``IndexIVFFlat``: ``nlist`` k-means cells, the ``nprobe`` nearest of which
  are scanned per query.

An approximate index can miss neighbours. :func:`recall` measures the share of the exact k
nearest neighbours it finds on a sample of queries (``sse/pipeline/mining_run.py`` and
``sse/discovery/terms.py`` log it), and :meth:`Searcher.tune` raises ``ef_search`` (HNSW) or
``nprobe`` (IVF) step by step until that share reaches a target: the ``--recall`` of the
scripts, which asks for a recall rather than for index parameters (:func:`build`).

On a GPU, exact search of a million vectors takes seconds, less than building an approximate
index on the CPU; FAISS has no GPU HNSW. So on a GPU ``hnsw`` (and ``ivf`` without faiss-gpu)
searches exactly, and says so in :meth:`Searcher.describe`.

Every searcher returns ``(similarities, ids)``, each ``(queries, k)``, most similar first,
float32 and int64, ids of -1 where fewer than k neighbours were found. Query-by-example
(``sse/inference/search.py``) searches through the same functions. torch is imported only when it searches,
so a FAISS search on the CPU never loads it.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from sse.defaults import NPROBE as DEFAULT_NPROBE

logger = logging.getLogger(__name__)

#: The k-NN indexes: exact search, or approximate FAISS HNSW or IVF.
INDEXES = ("flat", "ivf", "hnsw")
#: The index a recall target below 1 uses when none is named (bench/README.md: the table it is chosen from).
APPROXIMATE = "hnsw"
#: HNSW links per vector (``2 m`` on the base level) and the beam of its construction (FAISS: 40;
#: at 1,000,000 x 128 clustered vectors 40 caps recall@10 near 0.96, 48 near 0.98, bench/README.md).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 48
#: HNSW beam of a search when no recall target is given.
HNSW_EF_SEARCH = 32
#: Queries on which recall is measured (and a recall target is tuned), and the bytes of their
#: exact similarity blocks (small: the searched vectors and the index are in memory too).
RECALL_SAMPLE = 2000
RECALL_MEMORY = 256 << 20
#: Rows searched from their own HNSW node at a time.
OWN_NODE_BLOCK = 1 << 16
#: The HNSW beams :meth:`Searcher.tune` tries, in order (IVF: nprobe 1, 2, 4, ... up to nlist).
EF_SEARCH_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


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


def check_recall_target(recall: float | None) -> None:
    if recall is not None and not 0 < recall <= 1:
        raise ValueError(f"a recall target must be in (0, 1], got {recall}")


def resolve_index(index: str, recall: float | None) -> str:
    """The index a search with ``index`` and the recall target ``recall`` uses: a target of 1 is
    exact search; a lower one is :data:`APPROXIMATE` unless ``index`` names an approximate index."""
    if index not in INDEXES:
        raise ValueError(f"unknown index {index!r}; choose one of {', '.join(INDEXES)}")
    check_recall_target(recall)
    if recall is None:
        return index
    if recall >= 1:
        return "flat"
    return APPROXIMATE if index == "flat" else index


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
    """k-NN over a fixed set of vectors with one of :data:`INDEXES`, on ``device``.

    ``nlist`` and ``nprobe`` set an IVF index; ``m``, ``ef_construction`` and ``ef_search`` an
    HNSW one. ``seed`` makes the IVF training sample reproducible (HNSW builds in parallel, so
    its graph, and the neighbours it finds, can differ slightly from run to run).
    """

    def __init__(self, vectors: np.ndarray, index: str = "flat", device="cpu", nlist: int | None = None,
                 nprobe: int = DEFAULT_NPROBE, seed: int = 0, m: int = HNSW_M,
                 ef_construction: int = HNSW_EF_CONSTRUCTION, ef_search: int = HNSW_EF_SEARCH) -> None:
        if index not in INDEXES:
            raise ValueError(f"unknown index {index!r}; choose one of {', '.join(INDEXES)}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.requested, self.kind, self.device = index, index, str(device)
        self.backend = "torch"
        self._index = self._on_device = None
        on_gpu = self.device_type == "cuda"
        gpus = faiss_gpus() if on_gpu else 0
        if on_gpu and (index == "hnsw" or (index == "ivf" and gpus == 0)):
            self.kind = "flat"  # exact search on the GPU is faster than building the index on the CPU
        if self.kind == "flat" and on_gpu and gpus == 0:
            return  # exact search by torch on the GPU
        import faiss  # noqa: PLC0415

        dim = self.vectors.shape[1]
        self.backend = "faiss"
        if self.kind == "flat":
            self._index = faiss.IndexFlatIP(dim)
        elif self.kind == "hnsw":
            self.m, self.ef_construction = m, ef_construction
            self._index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            self._index.hnsw.efConstruction = ef_construction
            self.ef_search = ef_search
        else:
            self.nlist = min(nlist or default_nlist(len(self.vectors)), len(self.vectors))
            quantizer = faiss.IndexFlatIP(dim)
            self._index = faiss.IndexIVFFlat(quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
            self._index.cp.seed = seed
            training = self.vectors
            most = 256 * self.nlist  # FAISS samples this many by default; do it reproducibly
            if len(training) > most:
                training = training[np.sort(np.random.default_rng(seed).choice(len(training), most, replace=False))]
            self._index.train(training)
            self._quantizer = quantizer  # the IVF index does not own it
            self.nprobe = nprobe
        if on_gpu:
            self._index = faiss.index_cpu_to_all_gpus(self._index)
            self.backend = "faiss-gpu"
        self._index.add(self.vectors)

    @property
    def device_type(self) -> str:
        """``cpu``, ``cuda`` or ``mps``."""
        return self.device.split(":")[0]

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    @property
    def nprobe(self) -> int:
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = max(1, min(int(value), self.nlist))
        try:
            self._index.nprobe = self._nprobe
        except AttributeError:  # a GPU index
            import faiss  # noqa: PLC0415
            faiss.GpuParameterSpace().set_index_parameter(self._index, "nprobe", self._nprobe)

    @property
    def ef_search(self) -> int:
        return self._index.hnsw.efSearch

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._index.hnsw.efSearch = int(value)

    def describe(self) -> str:
        if self.kind == "ivf":
            return f"approximate IVF (nlist {self.nlist}, nprobe {self.nprobe}, {self.backend})"
        if self.kind == "hnsw":
            return (f"approximate HNSW (m {self.m}, ef_construction {self.ef_construction}, "
                    f"ef_search {self.ef_search}, {self.backend})")
        instead = f", instead of {self.requested}: faster on a GPU" if self.requested != "flat" else ""
        return f"exact ({self.backend}, {self.device_type}{instead})"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest of any query vectors."""
        if self._index is None:  # a GPU has room for larger blocks, which keep it busy
            budget = (4 << 30) if self.device_type == "cuda" else (1 << 30)
            if self._on_device is None:  # moved once, not at every block of queries
                import torch  # noqa: PLC0415
                self._on_device = torch.as_tensor(self.vectors).to(self.device)
            return exact_knn_torch(self._on_device, queries, k, self.device, budget)
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def neighbours(self, rows, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest of the searcher's own vectors ``rows`` (indices or a slice): what
        mining and discovery ask. HNSW starts each search from the vector's own node."""
        rows = np.arange(len(self.vectors))[rows] if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)
        if self.kind != "hnsw":
            return self.search(self.vectors[rows], k)
        k = min(k, len(self.vectors))
        similarities = np.empty((len(rows), k), dtype=np.float32)
        ids = np.empty((len(rows), k), dtype=np.int64)
        for begin in range(0, len(rows), OWN_NODE_BLOCK):  # bounds the temporary arrays
            block = slice(begin, begin + OWN_NODE_BLOCK)
            similarities[block], ids[block] = self._hnsw_from_own_node(rows[block], k)
        return similarities, ids

    def _hnsw_from_own_node(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss  # noqa: PLC0415

        queries = np.ascontiguousarray(self.vectors[rows])
        own = np.einsum("ij,ij->i", queries, queries).astype(np.float32)
        # FAISS's HNSW keeps similarities as they are, or (older versions) negated, as distances.
        start_distance = own if getattr(self._index.hnsw, "is_similarity", False) else -own
        start = np.ascontiguousarray(rows.astype(np.int32)[:, None])
        start_distance = np.ascontiguousarray(start_distance[:, None])
        similarities = np.empty((len(rows), k), dtype=np.float32)
        ids = np.empty((len(rows), k), dtype=np.int64)
        self._index.search_level_0(len(rows), faiss.swig_ptr(queries), k, faiss.swig_ptr(start),
                                   faiss.swig_ptr(start_distance), faiss.swig_ptr(similarities),
                                   faiss.swig_ptr(ids), 1, 1)
        # The start node is normally among the results; make sure it is, once, at its place.
        similarities = np.where(ids == rows[:, None], -np.inf, np.where(ids >= 0, similarities, -np.inf))
        similarities = np.concatenate([own[:, None], similarities], axis=1)
        ids = np.concatenate([rows[:, None], ids], axis=1)
        order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
        similarities, ids = np.take_along_axis(similarities, order, 1), np.take_along_axis(ids, order, 1)
        ids[~np.isfinite(similarities)] = -1
        return similarities.astype(np.float32), ids

    def tune(self, target: float, k: int, sample: int = RECALL_SAMPLE, seed: int = 0) -> float:
        """Raise ``ef_search`` (HNSW) or ``nprobe`` (IVF) through :data:`EF_SEARCH_STEPS` (or powers of
        two) until the recall@k on ``sample`` queries reaches ``target``; returns that recall. An
        exact searcher has recall 1. If the last step falls short, it is kept and a warning says so."""
        check_recall_target(target)
        if self.exact:
            return 1.0
        rows = sample_rows(len(self.vectors), sample, seed)
        _, truth = exact_knn_torch(self.vectors, self.vectors[rows], k, self.device, RECALL_MEMORY)
        if self.kind == "hnsw":
            setting, steps = "ef_search", [step for step in EF_SEARCH_STEPS if step >= k] or [k]
        else:
            setting = "nprobe"
            steps = [min(1 << power, self.nlist) for power in range(math.ceil(math.log2(self.nlist)) + 1)]
        measured = 0.0
        for step in steps:
            setattr(self, setting, step)
            measured = overlap(self.neighbours(rows, k)[1], truth)
            logger.debug("%s %d: recall@%d %.4f", setting, step, k, measured)
            if measured >= target:
                return measured
        logger.warning("recall@%d %.4f with %s %d, the largest tried: below the target %.4f",
                       k, measured, setting, steps[-1], target)
        return measured


def build(vectors: np.ndarray, index: str = "flat", device="cpu", recall: float | None = None, k: int = 10,
          nlist: int | None = None, nprobe: int = DEFAULT_NPROBE, seed: int = 0, **hnsw) -> Searcher:
    """A :class:`Searcher` for ``index`` and the recall target ``recall`` (:func:`resolve_index`),
    tuned to it (:meth:`Searcher.tune`, on queries drawn with ``seed``) when it is approximate."""
    searcher = Searcher(vectors, resolve_index(index, recall), device, nlist, nprobe, seed, **hnsw)
    if recall is not None and not searcher.exact:
        reached = searcher.tune(recall, k, seed=seed)
        logger.info("k-NN tuned for recall@%d >= %.2f: %s (recall %.4f on the %d tuning queries)",
                    k, recall, searcher.describe(), reached, min(RECALL_SAMPLE, len(vectors)))
    return searcher


def sample_rows(count: int, sample: int, seed: int) -> np.ndarray:
    """``sample`` distinct rows of ``count``, sorted, drawn with ``seed`` (all of them if fewer)."""
    return np.sort(np.random.default_rng(seed).choice(count, min(sample, count), replace=False))


def overlap(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the ids of ``truth`` (rows of exact neighbours) that the rows of ``found`` hold."""
    hits = sum(len(np.intersect1d(a[a >= 0], b[b >= 0])) for a, b in zip(found, truth))
    return hits / max(1, int((truth >= 0).sum()))


def recall(searcher: Searcher, k: int, sample: int = RECALL_SAMPLE, seed: int = 0) -> float:
    """Share of the exact k nearest neighbours that ``searcher`` finds, over ``sample`` random
    queries of its own vectors (exact search by torch, on the searcher's device)."""
    rows = sample_rows(len(searcher.vectors), sample, seed)
    _, exact = exact_knn_torch(searcher.vectors, searcher.vectors[rows], k, searcher.device, RECALL_MEMORY)
    return overlap(searcher.neighbours(rows, k)[1], exact)
