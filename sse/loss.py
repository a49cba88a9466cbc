"""NT-Xent, the contrastive loss of SimCLR, as the paper trains with it (SPEC step 5)."""
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
    logits = _similarities(first, second, temperature)
    positives = _positives(len(first), logits.device)
    if labels is not None:
        if labels.shape != (len(first),):
            raise ValueError(f"need one label per pair, got {tuple(labels.shape)} for {len(first)} pairs")
        both = torch.cat([labels, labels]).to(logits.device)
        same_label = both[:, None] == both[None, :]
        same_label[torch.arange(len(both), device=logits.device), positives] = False
        logits = logits.masked_fill(same_label, float("-inf"))  # the diagonal is -inf already
    return F.cross_entropy(logits, positives)


@torch.no_grad()
def positive_accuracy(first: torch.Tensor, second: torch.Tensor) -> float:
    """Share of anchors whose most similar other embedding is their partner (a training gauge)."""
    logits = _similarities(first, second, 1.0)
    return (logits.argmax(1) == _positives(len(first), logits.device)).float().mean().item()
