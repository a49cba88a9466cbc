import math

import numpy as np
import pytest
import torch

from sse.loss import nt_xent, positive_accuracy


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
        total += -(positive - math.log(sum(math.exp(l) for l in logits)))
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
