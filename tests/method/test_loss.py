import math

import numpy as np
import pytest
import torch

from sse.method.loss import nt_xent, positive_accuracy


def reference_nt_xent(first, second, temperature):
    """NT-Xent written out anchor by anchor, as in the SimCLR paper."""
    z = np.concatenate([first, second])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(first)
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        logits = [z[i] @ z[j] / temperature for j in range(2 * n) if j != i]
        positive = z[i] @ z[partner] / temperature
        total += -(positive - math.log(sum(math.exp(logit) for logit in logits)))
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.15, 0.5, 1.0])
def test_matches_the_written_out_definition(temperature):
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    value = nt_xent(torch.tensor(first), torch.tensor(second), temperature).item()
    assert value == pytest.approx(reference_nt_xent(first, second, temperature), rel=1e-9)


def test_matched_pairs_score_better_than_shuffled_ones():
    rng = np.random.default_rng(1)
    anchors = torch.tensor(rng.normal(size=(32, 16)))
    partners = anchors + 0.05 * torch.tensor(rng.normal(size=(32, 16)))
    matched = nt_xent(anchors, partners)
    shuffled = nt_xent(anchors, partners[torch.randperm(32)])
    assert matched < 0.5 < shuffled
    assert positive_accuracy(anchors, partners) == 1.0
    assert positive_accuracy(anchors, partners[torch.roll(torch.arange(32), 1)]) < 0.2


def test_gradients_pull_partners_together():
    torch.manual_seed(0)
    first = torch.randn(8, 4, requires_grad=True)
    second = torch.randn(8, 4)
    optimizer = torch.optim.SGD([first], lr=0.5)
    before = torch.nn.functional.cosine_similarity(first, second).mean().item()
    for _ in range(50):
        optimizer.zero_grad()
        nt_xent(first, second).backward()
        optimizer.step()
    after = torch.nn.functional.cosine_similarity(first, second).mean().item()
    assert after > before + 0.5


def reference_masked_nt_xent(first, second, labels, temperature):
    """Written out: an anchor's denominator holds its partner and the rows of OTHER labels only."""
    z = np.concatenate([first, second])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n, both = len(first), np.concatenate([labels, labels])
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = [j for j in range(2 * n) if j == partner or both[j] != both[i]]
        total += -(z[i] @ z[partner] / temperature - math.log(sum(math.exp(z[i] @ z[j] / temperature) for j in others)))
    return total / (2 * n)


def test_pairs_of_one_label_are_never_each_others_negatives():
    rng = np.random.default_rng(4)
    labels = np.array([0, 1, 0, 2, 1, 0, 3, 4, 5, 6])  # ten pairs, seven labels
    first, second = rng.normal(size=(10, 8)), rng.normal(size=(10, 8))
    masked = nt_xent(torch.tensor(first), torch.tensor(second), 0.15, torch.tensor(labels)).item()
    assert masked == pytest.approx(reference_masked_nt_xent(first, second, labels, 0.15), rel=1e-9)
    assert masked < nt_xent(torch.tensor(first), torch.tensor(second), 0.15).item()
    distinct = np.arange(10) + 100  # every pair its own label: the mask does nothing
    same = nt_xent(torch.tensor(first), torch.tensor(second), 0.15, torch.tensor(distinct)).item()
    assert same == pytest.approx(nt_xent(torch.tensor(first), torch.tensor(second), 0.15).item(), rel=1e-12)
