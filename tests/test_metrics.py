import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from sse.metrics import mean_average_precision


def sklearn_map(embeddings, labels):
    """MAP computed independently: one scikit-learn AP per query over all other segments."""
    x = torch.nn.functional.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    scores = (x @ x.T).double().numpy()
    labels = np.asarray(labels)
    aps = []
    for query in range(len(labels)):
        others = np.arange(len(labels)) != query
        relevant = labels[others] == labels[query]
        if relevant.any():
            aps.append(average_precision_score(relevant, scores[query][others]))
    return float(np.mean(aps)), len(aps)


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
