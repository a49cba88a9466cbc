import json
import re

import numpy as np
import pytest
import torch

from sse.frames.formats import Segment, read_pair_list
from sse.inference.checkpoint import save_encoder
from sse.method.knn import Searcher, exact_knn_torch, recall
from sse.method.mining import (
    SegmentTable,
    coverage_threshold,
    filter_neighbours,
    fit_pca,
    margin_scores,
    project,
    select_pairs,
)
from sse.method.model import SSEEncoder
from tests.helpers import assert_user_error, run_script


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_knn_is_exact_against_brute_force():
    rng = np.random.default_rng(0)
    vectors = unit(rng.normal(size=(700, 24))).astype(np.float32)
    similarities, ids = Searcher(vectors, "flat", "cpu").search(vectors, k=10)
    brute = vectors @ vectors.T
    expected = np.argsort(-brute, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(np.sort(ids, axis=1), np.sort(expected, axis=1))
    np.testing.assert_allclose(similarities, np.take_along_axis(brute, expected, 1), atol=1e-5)
    assert (ids[:, 0] == np.arange(700)).all()  # each vector is its own nearest neighbour


def test_torch_knn_matches_faiss_exact_search():
    rng = np.random.default_rng(2)
    vectors = unit(rng.normal(size=(900, 32))).astype(np.float32)
    expected_similarities, expected_ids = Searcher(vectors, "flat", "cpu").search(vectors[:300], k=10)
    # A budget of 40 kB: chunks of 11 queries, so the chunking is exercised.
    similarities, ids = exact_knn_torch(vectors, vectors[:300], k=10, memory_budget=40_000)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(similarities, expected_similarities, atol=1e-6)
    assert ids.dtype == np.int64 and similarities.dtype == np.float32


def test_ivf_index_is_exact_when_it_probes_every_cell_and_its_recall_is_measured():
    rng = np.random.default_rng(3)
    vectors = unit(rng.normal(size=(2000, 16))).astype(np.float32)
    _, exact = exact_knn_torch(vectors, vectors, k=10)
    full = Searcher(vectors, "ivf", "cpu", nlist=20, nprobe=20)
    _, ids = full.search(vectors, k=10)
    np.testing.assert_array_equal(np.sort(ids, axis=1), np.sort(exact, axis=1))
    assert recall(full, 10) == 1.0
    one_cell = Searcher(vectors, "ivf", "cpu", nlist=20, nprobe=1)
    _, ids = one_cell.search(vectors, k=10)
    rows = np.sort(np.random.default_rng(0).choice(2000, 500, replace=False))
    expected = np.mean([len(np.intersect1d(ids[r], exact[r])) / 10 for r in rows])
    measured = recall(one_cell, 10, sample=500, seed=0)
    assert measured == pytest.approx(expected) and 0.2 < measured < 0.95  # one cell of 20 misses some


def test_pca_matches_scikit_learn_and_normalises():
    from sklearn.decomposition import PCA
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(500, 32)) * np.linspace(5, 0.1, 32)).astype(np.float32)
    pca = fit_pca(data, dim=8)
    reference = PCA(8).fit(data)
    for ours, theirs in zip(pca.components, reference.components_):
        assert abs(float(ours @ theirs)) == pytest.approx(1.0, abs=1e-4)  # same axis, up to sign
    projected = project(data, pca)
    assert projected.shape == (500, 8)
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, atol=1e-5)
    subset = fit_pca(data, dim=8, max_fit=100, seed=0)
    assert subset.components.shape == (8, 32)


def table(*segments):
    return SegmentTable.of([Segment(wav, "s", 0, 99, start, end) for wav, start, end in segments])


def test_self_and_same_file_overlaps_are_dropped_other_same_file_kept():
    t = table(("a", 0.0, 0.48),   # 0: the query
              ("a", 0.32, 0.64),  # 1: same file, overlaps the query -> dropped
              ("a", 1.0, 1.32),   # 2: same file, no overlap -> kept
              ("b", 0.0, 0.48))   # 3: other file -> kept
    kept = filter_neighbours(t, np.array([0]), np.array([[0, 1, 2, 3]]))
    assert kept.tolist() == [[False, False, True, True]]


def test_cross_speaker_drops_neighbours_of_the_querys_speaker():
    segments = [Segment("a", "alice", 0, 99, 0.0, 0.48), Segment("b", "alice", 0, 99, 0.0, 0.48),
                Segment("c", "bob", 0, 99, 0.0, 0.48), Segment("d", "carol", 0, 99, 0.0, 0.48)]
    ids = np.array([[0, 1, 2, 3]])
    assert filter_neighbours(SegmentTable.of(segments), np.array([0]), ids).tolist() == [[False, True, True, True]]
    kept = filter_neighbours(SegmentTable.of(segments), np.array([0]), ids, cross_speaker=True)
    assert kept.tolist() == [[False, False, True, True]]


def test_non_maximum_suppression_keeps_the_best_of_overlapping_neighbours():
    t = table(("q", 0.0, 0.48),
              ("b", 1.00, 1.48),  # 1: best neighbour in file b
              ("b", 1.16, 1.64),  # 2: IoU with 1 = 0.32/0.64 = 0.5 > 0.4 -> suppressed
              ("b", 1.32, 1.80),  # 3: IoU with 1 = 0.16/0.8 = 0.2 -> kept
              ("c", 1.16, 1.64))  # 4: other file: never suppressed by b's neighbours
    kept = filter_neighbours(t, np.array([0]), np.array([[0, 1, 2, 3, 4]]))
    assert kept.tolist() == [[False, True, False, True, True]]
    # The order is by similarity: if 2 ranks first, it is the one kept.
    kept = filter_neighbours(t, np.array([0]), np.array([[0, 2, 1, 3, 4]]))
    assert kept.tolist() == [[False, True, False, False, True]]  # 3 overlaps 2 by 0.32/0.64


def test_threshold_lowers_in_steps_until_half_the_segments_are_queries():
    best = np.array([0.95, 0.91, 0.874, 0.86, 0.5, -np.inf, -np.inf, -np.inf])
    # 8 segments: 4 must be covered; the 4th best is 0.86 -> threshold 0.86.
    assert coverage_threshold(best, 8) == pytest.approx(0.86)
    assert coverage_threshold(best, 8, coverage=0.25) == pytest.approx(0.91)
    assert coverage_threshold(best, 6, coverage=0.5) == pytest.approx(0.87)
    # float32 similarities sit a hair below their decimal value; 0.9 still reaches the 0.90 step.
    assert coverage_threshold(np.array([0.9, 0.9], dtype=np.float32), 2) == pytest.approx(0.9)
    # Fewer candidates than needed: the threshold drops to keep them all.
    assert coverage_threshold(np.array([0.7, -np.inf]), 10) == pytest.approx(0.7)


def test_select_pairs_applies_threshold_and_writes_each_pair_once():
    t = table(("a", 0, 0.5), ("b", 0, 0.5), ("c", 0, 0.5), ("d", 0, 0.5))
    ids = np.array([[0, 1, 2], [1, 0, 3], [2, 0, 1], [3, 2, 1]])
    sims = np.array([[1.0, 0.9, 0.2], [1.0, 0.9, 0.3], [1.0, 0.25, 0.1], [1.0, 0.8, 0.1]], dtype=np.float32)
    # Best per query: 0.9, 0.9, 0.25, 0.8. Half of 4 segments: 2 queries -> threshold 0.90.
    assert select_pairs(t, sims, ids).threshold == pytest.approx(0.9)
    # Three quarters: 3 queries -> 0.80, which covers a, b and d.
    mined = select_pairs(t, sims, ids, coverage=0.75)
    assert mined.threshold == pytest.approx(0.8)
    pairs = sorted(zip(mined.first.tolist(), mined.second.tolist(), mined.similarity.astype(float).round(3).tolist()))
    assert pairs == [(0, 1, 0.9), (2, 3, 0.8)]
    assert mined.queries_covered == 3


def brute_force_by_duration(t, sims, ids, coverage):
    """The duration-calibrated rule written out: per duration, the highest 0.01 step at which
    that duration's queries reach the coverage; a pair is kept when it reaches its query's step."""
    durations = np.round(t.end - t.start, 2)
    kept = filter_neighbours(t, np.arange(len(ids)), ids)
    pairs = set()
    for duration in np.unique(durations):
        members = np.flatnonzero(durations == duration)
        needed = int(np.ceil(coverage * len(members)))
        for step in np.arange(100, -101, -1) / 100:
            covered = [q for q in members if any(kept[q] & (sims[q] >= step - 1e-6))]
            if len(covered) >= needed:
                break
        for q in members:
            for j in np.flatnonzero(kept[q] & (sims[q] >= step - 1e-6)):
                pairs.add((min(q, ids[q, j]), max(q, ids[q, j])))
    return pairs


def test_coverage_by_duration_reaches_the_coverage_in_every_duration():
    rng = np.random.default_rng(5)
    count = 120
    files = rng.integers(0, 30, count)
    starts = rng.integers(0, 20, count) * 0.16
    steps = rng.integers(1, 7, count)
    t = SegmentTable(files, starts, starts + steps * 0.16)
    vectors = unit(rng.normal(size=(count, 4)) + steps[:, None] * 0.3).astype(np.float32)  # short ones agree more
    sims, ids = Searcher(vectors, "flat", "cpu").search(vectors, k=6)
    mined = select_pairs(t, sims, ids, coverage=0.5, coverage_by="duration")
    assert set(zip(mined.first.tolist(), mined.second.tolist())) == brute_force_by_duration(t, sims, ids, 0.5)
    assert sorted(mined.thresholds) == sorted(set(steps.tolist()))
    covered = mined.best >= np.array([mined.thresholds[s] for s in steps]) - 1e-6
    for s in set(steps.tolist()):  # each duration's own queries reach the coverage
        assert covered[steps == s].mean() >= 0.5
    assert mined.queries_covered == covered.sum()
    with pytest.raises(ValueError, match="coverage_by"):
        select_pairs(t, sims, ids, coverage_by="length")


def test_margin_scores_against_a_written_out_definition():
    rng = np.random.default_rng(6)
    vectors = unit(rng.normal(size=(80, 5))).astype(np.float32)
    sims, ids = Searcher(vectors, "flat", "cpu").search(vectors, k=5)
    cosine = vectors @ vectors.T
    usual = [np.mean([cosine[i, j] for j in ids[i] if j != i]) for i in range(80)]  # r(x): itself left out
    expected = [[cosine[i, j] / ((usual[i] + usual[j]) / 2) for j in ids[i]] for i in range(80)]
    np.testing.assert_allclose(margin_scores(sims, ids), expected, rtol=1e-5)
    ids[0, 4] = -1  # a missing neighbour scores -inf
    assert margin_scores(sims, ids)[0, 4] == -np.inf


def test_margin_prefers_a_distinct_match_over_a_segment_close_to_everything():
    # Segments 0-2 are a dense clump (like pauses): all cosines 0.95. Segments 3 and 4 match each
    # other at 0.9 and are far from the rest (0.2). Cosine ranks the clump first; margin does not.
    t = table(*[(f"f{i}", 0, 0.5) for i in range(5)])
    ids = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1], [3, 4, 0], [4, 3, 0]])
    sims = np.array([[1, .95, .95], [1, .95, .95], [1, .95, .95], [1, .9, .2], [1, .9, .2]], dtype=np.float32)
    by_cosine = select_pairs(t, sims, ids, coverage=0.4)
    by_margin = select_pairs(t, sims, ids, coverage=0.4, score="margin")
    assert set(zip(by_cosine.first.tolist(), by_cosine.second.tolist())) == {(0, 1), (0, 2), (1, 2)}
    assert set(zip(by_margin.first.tolist(), by_margin.second.tolist())) == {(3, 4)}
    assert by_margin.similarity.tolist() == pytest.approx([0.9])  # pairs keep their cosine
    with pytest.raises(ValueError, match="score"):
        select_pairs(t, sims, ids, score="csls")


@pytest.mark.slow
def test_cli_mines_a_pair_list_and_resumes(mining_inputs, tmp_path):
    args = ["--path_segments", mining_inputs / "segments", "--features", mining_inputs / "features",
            "--path_sse", mining_inputs / "model.pt", "--output", tmp_path / "pairs", "--nshards", "3",
            "--pca_dim", "16", "--device", "cpu"]
    run_script("mine_pairs.py", *args, check=True)
    pairs = read_pair_list(tmp_path / "pairs")
    segments = {(s.split()[0], float(s.split()[4]), float(s.split()[5]))
                for s in (mining_inputs / "segments").read_text().splitlines()}
    assert pairs and all((p.wav1, p.start1, p.end1) in segments and (p.wav2, p.start2, p.end2) in segments
                         for p in pairs)
    assert all(not (p.wav1 == p.wav2 and min(p.end1, p.end2) > max(p.start1, p.start2)) for p in pairs)
    assert [p.similarity for p in pairs] == sorted((p.similarity for p in pairs), reverse=True)
    work = tmp_path / "pairs.work"
    stamps = {path.name: path.stat().st_mtime_ns for path in work.iterdir()}
    (tmp_path / "pairs").unlink()
    run_script("mine_pairs.py", *args, check=True)
    assert {path.name: path.stat().st_mtime_ns for path in work.iterdir()} == stamps
    assert read_pair_list(tmp_path / "pairs") == pairs
    # Another model with the same work dir is refused rather than mixed in.
    torch.manual_seed(1)
    save_encoder(tmp_path / "other.pt", SSEEncoder(input_dim=78), {"name": "mfcc", "dim": 78, "frame_rate": 50, "cmvn": "utterance"})
    other = [a if a != mining_inputs / "model.pt" else tmp_path / "other.pt" for a in args]
    assert_user_error(run_script("mine_pairs.py", *other, "--overwrite"), "made from other inputs or settings", "input model")


def test_cli_approximate_index_logs_its_recall_and_refuses_bad_settings(mining_inputs, tmp_path):
    args = ["--path_segments", mining_inputs / "segments", "--features", mining_inputs / "features",
            "--path_sse", mining_inputs / "model.pt", "--output", tmp_path / "pairs", "--pca_dim", "16",
            "--device", "cpu", "--index", "ivf", "--nlist", "8", "--nprobe", "8"]
    result = run_script("mine_pairs.py", *args, check=True)
    assert "approximate IVF (nlist 8, nprobe 8" in result.stderr
    assert re.search(r"recall@10 against exact search, on \d+ sampled queries: 1.0000", result.stderr)
    assert read_pair_list(tmp_path / "pairs")
    # The exact run's work dir is not mixed with the approximate one's.
    assert json.loads((tmp_path / "pairs.work" / "manifest.json").read_text())["settings"]["index"] == "ivf"
    bad = run_script("mine_pairs.py", *args[:-2], "--nprobe", "0")
    assert bad.returncode == 2 and "--nprobe: 0 is out of range" in bad.stderr
