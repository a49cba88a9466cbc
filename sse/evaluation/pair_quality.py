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

from sse.frames.formats import Pair, Segment


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


class Labeller:
    """Labels a span with the reference segment of its file that it overlaps most (IoU >= min_iou)."""

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
    labeller = Labeller(references, min_iou)
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


# --------------------------------------------------------------------------- what each side holds

class Units:
    """Reference units (words or phones) of a corpus, per file, sorted by start: what is spoken where.

    Built from a labelled segment list (each labelled segment is a unit, e.g. word tokens) or
    from an alignment tier (:meth:`from_alignments`). Units of one file are assumed not to overlap.
    """

    def __init__(self, units: dict[str, list[tuple[float, float, str]]]) -> None:
        self.files = {}
        for wav, rows in units.items():
            rows = sorted(rows)
            self.files[wav] = (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows])

    @classmethod
    def from_segments(cls, segments: Sequence[Segment]) -> "Units":
        units: dict[str, list] = defaultdict(list)
        for segment in segments:
            if segment.transcription is not None:
                units[segment.wav].append((segment.start, segment.end, segment.transcription))
        return cls(units)

    @classmethod
    def from_alignments(cls, alignments, tier: str = "phone") -> "Units":
        """``tier`` of an :class:`sse.prep.alignments.Alignments` (silences are already left out)."""
        return cls({wav: [(i.start, i.end, i.label) for i in getattr(alignment, tier + "s")]
                    for wav, alignment in alignments.files.items()})

    def _overlaps(self, wav: str, start: float, end: float):
        found = self.files.get(wav)
        if found is None:
            return np.zeros(0), np.zeros(0), []
        starts, ends, labels = found
        hit = np.flatnonzero((starts < end) & (ends > start))
        overlap = np.minimum(ends[hit], end) - np.maximum(starts[hit], start)
        return overlap, ends[hit] - starts[hit], [labels[i] for i in hit]

    def speech_share(self, wav: str, start: float, end: float) -> float:
        """Share of ``[start, end]`` covered by units."""
        overlap, _, _ = self._overlaps(wav, start, end)
        return float(overlap.sum() / max(end - start, 1e-12))

    def sequence(self, wav: str, start: float, end: float, min_share: float = 0.5,
                 min_overlap: float = 0.03) -> list[str]:
        """The units spoken in ``[start, end]``, in order: those covered for at least half of their
        duration or at least 30 ms (the rule of the ZeroSpeech 2017 term discovery evaluation)."""
        overlap, duration, labels = self._overlaps(wav, start, end)
        return [label for label, o, d in zip(labels, overlap, duration)
                if o >= min_overlap - 1e-9 or o >= min_share * d - 1e-9]


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two sequences."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def normalised_edit_distance(a: Sequence, b: Sequence) -> float:
    """ZeroSpeech's NED: edit distance over the longer length (nan when both are empty)."""
    longest = max(len(a), len(b))
    return edit_distance(a, b) / longest if longest else float("nan")


class SideReport(NamedTuple):
    """Durations, speech shares and content agreement of the two sides of every pair."""

    duration: np.ndarray       # (pairs, 2) seconds
    speech: np.ndarray         # (pairs, 2) share of each side covered by units
    ned: np.ndarray            # (pairs,) NED of the two sides' unit sequences (nan: both empty)
    same_main_unit: np.ndarray  # (pairs,) both sides' most-covered unit is the same (False if a side has none)


def side_report(pairs: Sequence[Pair], units: Units) -> SideReport:
    duration = np.array([[p.end1 - p.start1, p.end2 - p.start2] for p in pairs]).reshape(-1, 2)
    speech = np.array([[units.speech_share(p.wav1, p.start1, p.end1), units.speech_share(p.wav2, p.start2, p.end2)]
                       for p in pairs]).reshape(-1, 2)
    ned, same = np.empty(len(pairs)), np.zeros(len(pairs), dtype=bool)
    for row, p in enumerate(pairs):
        ned[row] = normalised_edit_distance(units.sequence(p.wav1, p.start1, p.end1),
                                            units.sequence(p.wav2, p.start2, p.end2))
        main = []
        for wav, start, end in ((p.wav1, p.start1, p.end1), (p.wav2, p.start2, p.end2)):
            overlap, _, labels = units._overlaps(wav, start, end)
            main.append(labels[int(np.argmax(overlap))] if len(labels) else None)
        same[row] = main[0] is not None and main[0] == main[1]
    return SideReport(duration, speech, ned, same)
