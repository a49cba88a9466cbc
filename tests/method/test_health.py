import numpy as np
import pytest

from sse.method.health import embedding_health


def test_a_collapsed_space_is_recognised_and_a_spread_one_is_not():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=64)
    collapsed = direction + 0.01 * rng.normal(size=(500, 64))
    spread = rng.normal(size=(500, 64))
    on_a_line = direction + rng.normal(size=(500, 1)) * rng.normal(size=64)  # varies along one axis only
    bad, flat, good = embedding_health(collapsed), embedding_health(on_a_line), embedding_health(spread)
    assert bad.collapsed and bad.mean_cosine > 0.99
    assert flat.collapsed and flat.effective_rank < 2  # normalising bends the line into an arc
    assert not good.collapsed and abs(good.mean_cosine) < 0.05 and good.effective_rank > 40


def test_effective_rank_counts_equal_directions():
    """Rows spread equally along k orthogonal lines (+-e_i) have effective rank exactly k."""
    for k in (1, 3, 8):
        basis = np.eye(16)[:k]
        rows = np.concatenate([np.repeat(basis, 10, axis=0), np.repeat(-basis, 10, axis=0)])
        assert embedding_health(rows).effective_rank == pytest.approx(k, rel=1e-9)
    # mean cosine of random distinct pairs drawn from two orthogonal clusters of 50: 49/99
    rows = np.repeat(np.eye(2), 50, axis=0)
    assert embedding_health(rows, pairs=200000).mean_cosine == pytest.approx(49 / 99, abs=0.01)
