"""Candidate segments of a VAD list (docs/method.md, step 2).

Inside each VAD, every span whose start and end lie on a grid of :data:`GRID` seconds counted
from the VAD start, with a length of 1 to :data:`MAX_STEPS` grid steps (0.16 s to 0.96 s).
A VAD with ``k`` whole grid steps gives ``sum(k - n + 1 for n in 1..min(k, 6))`` segments; a
VAD shorter than 0.16 s gives none.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from sse.frames.formats import Segment, Vad

GRID = 0.16
MAX_STEPS = 6


def grid_steps(duration: float, grid: float = GRID) -> int:
    """Whole grid steps that fit in ``duration`` (a hair of slack for times written in ms)."""
    return int(math.floor(duration / grid + 1e-6))


def segments_per_vad(steps: int, max_steps: int = MAX_STEPS) -> int:
    return sum(steps - n + 1 for n in range(1, min(steps, max_steps) + 1))


def vad_segments(vad: Vad, grid: float = GRID, max_steps: int = MAX_STEPS) -> Iterator[Segment]:
    """All segments of one VAD, by start then length."""
    steps = grid_steps(vad.duration, grid)
    for first in range(steps):
        for length in range(1, min(max_steps, steps - first) + 1):
            yield _segment(vad, first, length, grid)


def _segment(vad: Vad, first: int, length: int, grid: float) -> Segment:
    start = round(vad.start + first * grid, 6)
    end = min(round(start + length * grid, 6), vad.end)
    return Segment(vad.wav, vad.speaker, vad.start, vad.end, start, end)


def count_segments(vads: list[Vad], grid: float = GRID, max_steps: int = MAX_STEPS) -> int:
    return sum(segments_per_vad(grid_steps(vad.duration, grid), max_steps) for vad in vads)


def draw_spans(steps: Sequence[int], size: int, rng: np.random.Generator,
               max_steps: int = MAX_STEPS) -> list[tuple[int, int, int]]:
    """``size`` distinct segments drawn uniformly among all candidates of VADs with these grid
    steps, as ``(VAD index, first grid point, length in steps)``, in the order drawn.

    Draws by index (segment ``j`` of VAD ``i``) without building the candidates, so memory is
    proportional to ``size`` even over tens of millions of them.
    """
    counts = np.array([segments_per_vad(n, max_steps) for n in steps], dtype=np.int64)
    total = int(counts.sum())
    chosen = rng.choice(total, size=min(size, total), replace=False)
    ends = np.cumsum(counts)
    vad_of = np.searchsorted(ends, chosen, side="right")
    within = chosen - (ends[vad_of] - counts[vad_of])
    return [(vad, *nth_span(steps[vad], rank, max_steps)) for vad, rank in zip(vad_of.tolist(), within.tolist())]


def make_segments(vads: list[Vad], max_segments: int | None = None, seed: int = 0,
                  grid: float = GRID, max_steps: int = MAX_STEPS) -> list[Segment]:
    """Every segment of ``vads`` in list order, or a uniform random subset of ``max_segments``
    (seeded, still in list order)."""
    steps = [grid_steps(vad.duration, grid) for vad in vads]
    if max_segments is None or max_segments >= sum(segments_per_vad(n, max_steps) for n in steps):
        return [segment for vad in vads for segment in vad_segments(vad, grid, max_steps)]
    # Sorting (VAD, first, length) restores the list order of vad_segments.
    drawn = sorted(draw_spans(steps, max_segments, np.random.default_rng(seed), max_steps))
    return [_segment(vads[vad], first, length, grid) for vad, first, length in drawn]


def nth_span(steps: int, rank: int, max_steps: int = MAX_STEPS) -> tuple[int, int]:
    """(first grid point, length in steps) of the ``rank``-th span in :func:`vad_segments` order."""
    for first in range(steps):
        lengths = min(max_steps, steps - first)
        if rank < lengths:
            return first, rank + 1
        rank -= lengths
    raise IndexError("rank beyond the VAD's segments")
