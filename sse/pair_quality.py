"""How good are mined pairs? Their precision against reference labels, and what else they share.

Each side of a pair takes the label of the labelled reference segment of its file that it
overlaps most, if their intersection over union reaches ``min_iou`` (a segment of the
reference list itself gets its own label; a grid segment that covers one spoken word gets the
word's). A pair is *correct* when both sides are labelled alike. Sharing a speaker or a file
is reported too: a model that pairs voices instead of words shows up there.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from typing import NamedTuple, Sequence

import numpy as np

from .formats import Pair, Segment


class PairQuality(NamedTuple):
    pairs: int
    labelled: int             # pairs whose two sides both got a label
    same_label: int           # ... of which with the same label
    same_speaker: int
    same_file: int
    random_same_label: float  # share of same-label pairs among random pairs of labelled sides

    @property
    def precision(self) -> float:
        return self.same_label / self.labelled if self.labelled else float("nan")

    def __str__(self) -> str:
        return (f"{self.pairs} pairs: precision {100 * self.precision:.1f}% on the {self.labelled} with both "
                f"sides labelled (random pairs: {100 * self.random_same_label:.1f}%); same speaker "
                f"{100 * self.same_speaker / max(self.pairs, 1):.1f}%, same file "
                f"{100 * self.same_file / max(self.pairs, 1):.1f}%")


class _Labeller:
    def __init__(self, references: Sequence[Segment], min_iou: float) -> None:
        self.by_file: dict[str, list[Segment]] = defaultdict(list)
        for segment in references:
            if segment.transcription is not None:
                self.by_file[segment.wav].append(segment)
        for segments in self.by_file.values():
            segments.sort(key=lambda s: s.start)
        self.starts = {wav: [s.start for s in segments] for wav, segments in self.by_file.items()}
        self.longest = max((s.duration for s in references), default=0.0)
        self.min_iou = min_iou

    def label(self, wav: str, start: float, end: float) -> str | None:
        candidates = self.by_file.get(wav)
        if not candidates:
            return None
        starts = self.starts[wav]
        best, best_iou = None, 0.0
        for index in range(bisect.bisect_left(starts, start - self.longest), bisect.bisect_right(starts, end)):
            reference = candidates[index]
            overlap = min(end, reference.end) - max(start, reference.start)
            if overlap <= 0:
                continue
            iou = overlap / (max(end, reference.end) - min(start, reference.start))
            if iou > best_iou:
                best, best_iou = reference.transcription, iou
        return best if best_iou >= self.min_iou else None


def pair_quality(pairs: Sequence[Pair], references: Sequence[Segment], min_iou: float = 0.5,
                 seed: int = 0) -> PairQuality:
    """Score ``pairs`` against the labelled segments ``references``."""
    labeller = _Labeller(references, min_iou)
    first = [labeller.label(p.wav1, p.start1, p.end1) for p in pairs]
    second = [labeller.label(p.wav2, p.start2, p.end2) for p in pairs]
    both = [(a, b) for a, b in zip(first, second) if a is not None and b is not None]
    sides = np.array([label for pair in both for label in pair], dtype=object)
    random_same = float("nan")
    if len(sides) >= 2:
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, len(sides), (2, 20000))
        keep = i != j
        random_same = float((sides[i[keep]] == sides[j[keep]]).mean())
    return PairQuality(len(pairs), len(both), sum(a == b for a, b in both),
                       sum(p.speaker1 == p.speaker2 for p in pairs), sum(p.wav1 == p.wav2 for p in pairs),
                       random_same)
