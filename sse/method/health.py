"""Is an embedding space collapsed? Two figures that say so at a glance.

A contrastive model can fail by mapping everything to nearly one direction: the loss then sits
at chance and every segment looks like every other. Two figures show it:

* the **mean cosine between random pairs** of embeddings: near 1 for a collapsed model;
* the **effective rank** (Roy and Vetterli, 2007) of the L2-normalised embeddings once their
  mean is removed: the exponential of the entropy of their normalised singular values, from 1
  (all variation along one line) up to the dimension.

Max-pooled embeddings share a large common component, so the mean cosine of a healthy model
is high too (0.7 to 0.95 was measured on the real-speech benchmark); it is the two together,
and the effective rank above all, that separate a collapsed model from a working one.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

#: A model whose random pairs are this similar on average is reported as collapsed ...
COLLAPSED_COSINE = 0.98
#: ... and so is one whose embeddings vary along fewer effective dimensions than this.
COLLAPSED_RANK = 3.0


class EmbeddingHealth(NamedTuple):
    mean_cosine: float
    effective_rank: float

    @property
    def collapsed(self) -> bool:
        return self.mean_cosine > COLLAPSED_COSINE or self.effective_rank < COLLAPSED_RANK

    def __str__(self) -> str:
        return f"mean cosine of random pairs {self.mean_cosine:.3f}, effective rank {self.effective_rank:.1f}"


def embedding_health(embeddings, pairs: int = 20000, max_rows: int = 20000, seed: int = 0) -> EmbeddingHealth:
    """Health figures of (N, dim) embeddings, N >= 2 (at most ``max_rows`` random rows are used)."""
    vectors = torch.as_tensor(np.asarray(embeddings), dtype=torch.float64)
    if vectors.dim() != 2 or len(vectors) < 2:
        raise ValueError(f"need at least two embeddings, got shape {tuple(vectors.shape)}")
    rng = np.random.default_rng(seed)
    if len(vectors) > max_rows:
        vectors = vectors[torch.as_tensor(rng.choice(len(vectors), max_rows, replace=False))]
    vectors = torch.nn.functional.normalize(vectors, dim=1)
    first = rng.integers(0, len(vectors), pairs)
    second = (first + rng.integers(1, len(vectors), pairs)) % len(vectors)  # never the same row
    mean_cosine = float((vectors[first] * vectors[second]).sum(1).mean())
    singular = torch.linalg.svdvals(vectors - vectors.mean(0))
    share = singular / singular.sum()
    share = share[share > 0]
    effective_rank = float(torch.exp(-(share * share.log()).sum()))
    return EmbeddingHealth(mean_cosine, effective_rank)
