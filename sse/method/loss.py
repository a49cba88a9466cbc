"""NT-Xent, the contrastive loss of SimCLR, as the paper trains with it (docs/method.md, step 5)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

TEMPERATURE = 0.15


def _similarities(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cosine similarities / temperature of all 2B embeddings, self-similarity masked out."""
    embeddings = F.normalize(torch.cat([first, second]), dim=1)
    logits = embeddings @ embeddings.T / temperature
    return logits.fill_diagonal_(float("-inf"))


def _positives(batch: int, device) -> torch.Tensor:
    """Index of each row's positive: row i of ``first`` pairs with row i of ``second``."""
    index = torch.arange(batch, device=device)
    return torch.cat([index + batch, index])


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float = TEMPERATURE,
            labels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean NT-Xent over the 2B anchors of B positive pairs ``(first[i], second[i])``.

    Each anchor's positive is its partner; the other 2B - 2 embeddings of the batch are its
    negatives. With ``labels`` (one per pair), embeddings of another pair of the anchor's label
    are left out of its denominator: they are neither positives nor negatives.
    """
    if first.shape != second.shape:
        raise ValueError(f"pairs need equal shapes, got {tuple(first.shape)} and {tuple(second.shape)}")
    logits = _masked(_similarities(first, second, temperature), labels)
    return F.cross_entropy(logits, _positives(len(first), logits.device))


def _masked(logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Logits with the other rows of each anchor's label set to -inf (no-op without labels)."""
    if labels is None:
        return logits
    pairs = len(logits) // 2
    if labels.shape != (pairs,):
        raise ValueError(f"need one label per pair, got {tuple(labels.shape)} for {pairs} pairs")
    both = torch.cat([labels, labels]).to(logits.device)
    same_label = both[:, None] == both[None, :]
    same_label[torch.arange(len(both), device=logits.device), _positives(pairs, logits.device)] = False
    return logits.masked_fill(same_label, float("-inf"))  # the diagonal is -inf already


@torch.no_grad()
def positive_accuracy(first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """Share of anchors whose most similar other embedding is their partner (a training gauge);
    with ``labels``, rows of another pair of the anchor's label do not compete."""
    logits = _masked(_similarities(first, second, 1.0), labels)
    return (logits.argmax(1) == _positives(len(first), logits.device)).float().mean().item()
