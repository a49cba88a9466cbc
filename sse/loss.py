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


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Mean NT-Xent over the 2B anchors of B positive pairs ``(first[i], second[i])``.

    Each anchor's positive is its partner; the other 2B - 2 embeddings of the batch are its
    negatives.
    """
    if first.shape != second.shape:
        raise ValueError(f"pairs need equal shapes, got {tuple(first.shape)} and {tuple(second.shape)}")
    logits = _similarities(first, second, temperature)
    return F.cross_entropy(logits, _positives(len(first), logits.device))


@torch.no_grad()
def positive_accuracy(first: torch.Tensor, second: torch.Tensor) -> float:
    """Share of anchors whose most similar other embedding is their partner (a training gauge)."""
    logits = _similarities(first, second, 1.0)
    return (logits.argmax(1) == _positives(len(first), logits.device)).float().mean().item()
