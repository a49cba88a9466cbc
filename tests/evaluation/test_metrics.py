import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from sse.evaluation.metrics import (
    _count_numpy,
    _count_torch,
    mean_average_precision,
    same_speaker_neighbours,
    speaker_report,
)
from tests.helpers import sklearn_map


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scikit_learn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    count = 400
    embeddings = rng.normal(size=(count, 16))
    # Some labels with one other token (a single relevant item), many with several,
    # and singletons that are never queries but stay in every ranking as distractors.
    labels = list(rng.integers(0, 80, count).astype(str))
    labels[:20] = [f"pair{i // 2}" for i in range(20)]
    labels[20:50] = [f"alone{i}" for i in range(30)]
    expected, queries = sklearn_map(embeddings, labels)
    result = mean_average_precision(embeddings, labels)
    assert result.num_queries == queries
    assert result.map == pytest.approx(expected, abs=1e-9)


def test_ties_are_ranked_like_scikit_learn():
    rng = np.random.default_rng(5)
    prototypes = rng.normal(size=(10, 8))
    embeddings = prototypes[rng.integers(0, 10, 300)]  # exact duplicates: exactly tied scores
    labels = rng.integers(0, 25, 300).astype(str)
    expected, _ = sklearn_map(embeddings, labels)
    assert mean_average_precision(embeddings, labels).map == pytest.approx(expected, abs=1e-9)


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(7)
    embeddings, labels = rng.normal(size=(500, 12)), rng.integers(0, 60, 500)
    whole = mean_average_precision(embeddings, labels)
    chunked = mean_average_precision(embeddings, labels, memory_budget=20_000)
    np.testing.assert_allclose(chunked.average_precisions, whole.average_precisions)


def test_known_values():
    # Perfect clustering gives 1; a hand-worked ranking gives its AP.
    labels = ["a", "a", "b", "b"]
    assert mean_average_precision(np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]]), labels).map == 1.0
    # Query 0 ranks: item 2 (b, cos .8), item 1 (a, cos .6), item 3 (b, cos -1): AP = 1/2.
    embeddings = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [-1.0, 0.0]])
    result = mean_average_precision(embeddings, ["a", "a", "b", "b"])
    assert result.average_precisions[0] == pytest.approx(0.5)
    assert result.num_queries == 4 and result.num_labels == 2


def test_no_query_when_no_label_repeats():
    result = mean_average_precision(np.eye(3), ["x", "y", "z"])
    assert result.num_queries == 0 and np.isnan(result.map)


def test_many_ties_across_relevant_and_irrelevant_items_and_uneven_label_sizes():
    # Scores take only a few values, so relevant and irrelevant items tie at every rank; label
    # sizes run from 2 to 40, so chunks (sorted by relevant count) pad differently.
    rng = np.random.default_rng(11)
    prototypes = rng.normal(size=(4, 6))
    embeddings = prototypes[rng.integers(0, 4, 600)]
    labels = np.concatenate([np.repeat(np.arange(30), np.arange(2, 32)), 1000 + np.arange(105)])  # 495 + 105
    rng.shuffle(labels)
    expected, queries = sklearn_map(embeddings, labels.astype(str))
    for budget in (1 << 30, 50_000):  # one chunk; many small chunks
        result = mean_average_precision(embeddings, labels, memory_budget=budget)
        assert result.num_queries == queries
        assert result.map == pytest.approx(expected, abs=1e-9)


def test_average_precisions_follow_segment_order():
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(300, 10))
    labels = np.repeat(np.arange(75), [2, 3, 4, 5, 6] * 15)
    rng.shuffle(labels)
    x = torch.nn.functional.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    scores = (x @ x.T).double().numpy()
    expected = []
    for query in range(300):
        others = np.arange(300) != query
        expected.append(average_precision_score(labels[others] == labels[query], scores[query][others]))
    result = mean_average_precision(embeddings, labels, memory_budget=30_000)
    np.testing.assert_allclose(result.average_precisions, expected, atol=1e-9)


@pytest.mark.parametrize("count", [_count_numpy, _count_torch])
def test_counting_kernels_against_brute_force(count):
    rng = np.random.default_rng(4)
    scores = torch.as_tensor(rng.integers(0, 20, size=(37, 500)).astype(np.float32))  # many equal values
    needed = np.sort(rng.integers(1, 9, 37))
    thresholds = torch.as_tensor(rng.integers(0, 20, size=(37, 8)).astype(np.float32))
    expected = (scores[:, :, None] >= thresholds[:, None, :]).sum(1)
    expected[torch.arange(8)[None, :] >= torch.as_tensor(needed)[:, None]] = 0
    assert torch.equal(count(scores, thresholds, needed), expected)


def scoped_reference(embeddings, labels, speakers, scope):
    """MAP with each query's ranking restricted by speaker, one scikit-learn AP per query."""
    x = torch.nn.functional.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    scores = (x @ x.T).double().numpy()
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    aps = []
    for query in range(len(labels)):
        ranked = np.arange(len(labels)) != query
        ranked &= (speakers != speakers[query]) if scope == "across" else (speakers == speakers[query])
        relevant = labels[ranked] == labels[query]
        if relevant.any():
            aps.append(average_precision_score(relevant, scores[query][ranked]))
    return float(np.mean(aps)), len(aps)


@pytest.mark.parametrize("scope", ["across", "within"])
def test_speaker_scopes_match_scikit_learn(scope):
    rng = np.random.default_rng(11)
    count = 360
    labels = rng.integers(0, 30, count).astype(str)
    voices = rng.integers(0, 4, count)
    speakers = np.array(["ann", "bob", "cy", "dee"])[voices]
    # A voice component, so that the scopes give different numbers.
    embeddings = rng.normal(size=(count, 12)) + 2 * np.eye(4)[voices].repeat(3, axis=1)
    expected, queries = scoped_reference(embeddings, labels, speakers, scope)
    result = mean_average_precision(embeddings, labels, speakers=speakers, scope=scope, memory_budget=50_000)
    assert result.num_queries == queries
    assert result.map == pytest.approx(expected, abs=1e-9)
    assert result.map != pytest.approx(mean_average_precision(embeddings, labels).map, abs=1e-3)


def test_a_voice_encoder_is_caught_by_the_speaker_report():
    # Embeddings that hold only the speaker: perfect within a speaker's own takes of nothing,
    # all neighbours of the same voice, and no better than chance across speakers.
    rng = np.random.default_rng(3)
    speakers = np.repeat(["ann", "bob", "cy"], 40)
    labels = np.tile(np.arange(10).astype(str), 12)
    voice = {"ann": 0, "bob": 1, "cy": 2}
    embeddings = np.eye(3)[[voice[s] for s in speakers]] * 10 + rng.normal(scale=0.1, size=(120, 3))
    report = speaker_report(embeddings, labels, speakers)
    assert report.neighbours == pytest.approx(1.0)
    assert report.chance == pytest.approx(39 / 119)
    assert report.map_across < 0.2 and report.map_within < 0.4
    assert "MAP across speakers" in str(report)


def test_same_speaker_neighbours_against_brute_force():
    rng = np.random.default_rng(4)
    embeddings, speakers = rng.normal(size=(200, 6)), rng.integers(0, 5, 200)
    x = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    scores = x @ x.T
    np.fill_diagonal(scores, -np.inf)
    top = np.argsort(-scores, axis=1)[:, :10]
    expected = (speakers[top] == speakers[:, None]).mean()
    share, _ = same_speaker_neighbours(embeddings, speakers, k=10, chunk=64)
    assert share == pytest.approx(expected)


def test_a_scope_needs_speakers():
    with pytest.raises(ValueError, match="speaker"):
        mean_average_precision(np.eye(4), ["a", "a", "b", "b"], scope="across")
