"""The k-NN searchers of sse/method/knn.py against brute force: HNSW from each vector's own node,
recall targets, and what a GPU would use."""
import numpy as np
import pytest

from sse.frames.formats import Segment
from sse.method import knn, mining


def clustered(count=3000, dim=32, words=150, noise=0.6, seed=0):
    """Unit rows around ``words`` centres, like the PCA output the mining searches."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(words, dim))
    rows = centres[rng.integers(0, words, count)] + noise * rng.normal(size=(count, dim))
    return knn.unit_rows(rows).astype(np.float32)


def brute_force(vectors, k):
    similarities = vectors @ vectors.T
    ids = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(similarities, ids, 1), ids


@pytest.fixture(scope="module")
def vectors():
    return clustered()


@pytest.fixture(scope="module")
def hnsw(vectors):
    return knn.Searcher(vectors, "hnsw", "cpu", m=16, ef_search=16)


def test_hnsw_neighbours_start_from_the_vector_itself_and_are_true_similarities(vectors, hnsw):
    similarities, ids = hnsw.neighbours(np.arange(len(vectors)), 10)
    assert ids.shape == similarities.shape == (len(vectors), 10)
    assert ids.dtype == np.int64 and similarities.dtype == np.float32
    assert (ids[:, 0] == np.arange(len(vectors))).all()  # each vector first, found once
    assert all(len(set(row)) == 10 for row in ids.tolist())
    assert (np.diff(similarities, axis=1) <= 1e-6).all()  # most similar first
    np.testing.assert_allclose(similarities, np.einsum("qd,qkd->qk", vectors, vectors[ids]), atol=1e-5)
    # A slice asks the same as its indices.
    sliced = hnsw.neighbours(slice(100, 200), 10)
    np.testing.assert_array_equal(sliced[1], ids[100:200])


def test_hnsw_recall_against_brute_force_and_its_measurement(vectors, hnsw):
    _, exact = brute_force(vectors, 10)
    _, ids = hnsw.neighbours(np.arange(len(vectors)), 10)
    true_recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(ids, exact)]) / 10
    assert true_recall >= 0.95
    # recall() measures it on a sample, against exact search by torch.
    rows = knn.sample_rows(len(vectors), 500, seed=3)
    expected = np.mean([len(np.intersect1d(ids[r], exact[r])) for r in rows]) / 10
    assert knn.recall(hnsw, 10, sample=500, seed=3) == pytest.approx(expected)


def test_starting_from_the_own_node_finds_more_than_descending_from_the_entry_point(vectors):
    # A starved beam on a sparse graph: descending the levels loses more neighbours.
    searcher = knn.Searcher(vectors, "hnsw", "cpu", m=4, ef_construction=16, ef_search=10)
    _, exact = brute_force(vectors, 10)
    own = searcher.neighbours(np.arange(len(vectors)), 10)[1]
    descended = searcher.search(vectors, 10)[1]
    hits = [np.mean([len(np.intersect1d(a, b)) for a, b in zip(found, exact)]) for found in (own, descended)]
    assert hits[0] > hits[1]


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_a_recall_target_picks_the_first_setting_that_meets_it(index):
    vectors, target = clustered(noise=0.9), 0.97  # hard enough that the first settings fall short
    small_graph = {"m": 8, "ef_construction": 16} if index == "hnsw" else {}
    searcher = knn.build(vectors, index, "cpu", recall=target, k=10, seed=0, **small_graph)
    assert searcher.kind == index
    setting = "ef_search" if index == "hnsw" else "nprobe"
    chosen = getattr(searcher, setting)
    rows = knn.sample_rows(len(vectors), knn.RECALL_SAMPLE, 0)  # the tuning queries
    truth = brute_force(vectors, 10)[1][rows]
    assert knn.overlap(searcher.neighbours(rows, 10)[1], truth) >= target
    steps = [s for s in knn.EF_SEARCH_STEPS if s >= 10] if index == "hnsw" else [1 << p for p in range(10)]
    before = [s for s in steps if s < chosen]
    assert before  # not met at once: the test would show nothing
    setattr(searcher, setting, before[-1])  # the step before it fell short
    assert knn.overlap(searcher.neighbours(rows, 10)[1], truth) < target


def test_recall_targets_choose_the_index():
    assert knn.resolve_index("flat", None) == "flat"
    assert knn.resolve_index("flat", 0.95) == knn.APPROXIMATE == "hnsw"
    assert knn.resolve_index("ivf", 0.95) == "ivf"
    assert knn.resolve_index("hnsw", 1.0) == "flat"  # only exact search promises everything
    with pytest.raises(ValueError, match="recall target"):
        knn.resolve_index("flat", 0.0)
    with pytest.raises(ValueError, match="unknown index"):
        knn.Searcher(np.zeros((3, 2), np.float32), "annoy")


def test_a_target_of_one_is_exact_search(vectors):
    searcher = knn.build(vectors, "hnsw", "cpu", recall=1.0)
    assert searcher.exact and searcher.describe() == "exact (faiss, cpu)"
    similarities, ids = searcher.neighbours(slice(0, 300), 10)
    expected_similarities, expected = brute_force(vectors, 10)
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(expected[:300], 1))


def test_a_gpu_searches_exactly_rather_than_build_an_approximate_index_on_the_cpu(vectors, monkeypatch):
    monkeypatch.setattr(knn, "faiss_gpus", lambda: 0)
    for index in ("hnsw", "ivf"):
        searcher = knn.Searcher(vectors, index, "cuda")
        assert searcher.exact and searcher.backend == "torch"
        assert searcher.describe() == f"exact (torch, cuda, instead of {index}: faster on a GPU)"
        assert searcher.tune(0.99, 10) == 1.0
    # The torch search it would run there (here on the CPU), against brute force.
    searcher.device = "cpu"
    similarities, ids = searcher.search(vectors[:300], 10)
    expected_similarities, expected = brute_force(vectors, 10)
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(expected[:300], 1))
    np.testing.assert_allclose(similarities, expected_similarities[:300], atol=1e-5)


def test_exact_indexes_select_the_pairs_of_exact_search(vectors):
    # Segments of 40 files on the mining grid; the filters and the threshold see the same lists.
    rng = np.random.default_rng(1)
    segments = [Segment(f"f{rng.integers(40)}.wav", "s", 0.0, 10.0, round(0.16 * a, 2), round(0.16 * (a + b), 2))
                for a, b in zip(rng.integers(0, 50, len(vectors)).tolist(), rng.integers(1, 7, len(vectors)).tolist())]
    table = mining.SegmentTable.of(segments)

    def pairs(searcher):
        mined = mining.select_pairs(table, *searcher.neighbours(slice(None), 10))
        return mined.first.tolist(), mined.second.tolist(), mined.similarity.round(5).tolist()

    reference = pairs(knn.Searcher(vectors, "flat", "cpu"))
    assert len(reference[0]) > 100
    assert pairs(knn.Searcher(vectors, "ivf", "cpu", nlist=20, nprobe=20)) == reference  # every cell probed
    assert pairs(knn.build(vectors, "hnsw", "cpu", recall=1.0)) == reference
