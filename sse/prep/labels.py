"""Phone n-gram labels for speech segments, from forced alignments.

**Labelling rule.** A segment ``[start, end)`` of a file is labelled with the phones of that file
whose *midpoint* lies in ``[start, end)``, in time order, joined by commas (``DH,AH,K,AE,T``).
Segment boundaries rarely fall exactly on phone boundaries (the segments of ``make_segments.py``
lie on a 0.16 s grid); a phone cut by a boundary goes to the side that holds most of it, so a
segment never claims a phone of which it holds less than half, and no phone is dropped that it
holds more than half of. The half-open interval puts a phone whose midpoint sits exactly on a
boundary in the later segment, so two segments that touch never share a phone. A segment that
holds no phone midpoint (silence, or a sliver of a phone) has no label.

ARPAbet stress digits are dropped by default (``AH1`` -> ``AH``), since the benchmark asks for
the same phones, not the same prosody; ``keep_stress=True`` keeps them. Intervals labelled as
non-speech (:data:`sse.prep.alignments.SILENCE_LABELS`: ``sil``, ``sp``, ``spn``...) are never phones,
even when an alignment file lists them.

Alignments come from the toolkit's alignment file or from a folder of MFA TextGrids
(:func:`load_alignments` reads either); benchmarks of such spans are built by
:mod:`sse.prep.benchmark`.
"""
from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sse.core.errors import UserError
from sse.core.progress import tqdm
from sse.frames.audio import END_TOLERANCE, audio_info
from sse.frames.formats import Segment, format_time
from sse.prep.alignments import Alignments, FileAlignment, is_silence, read_alignment_file
from sse.prep.textgrid import read_textgrid_folder

logger = logging.getLogger(__name__)

# ARPAbet marks stress with one digit after the vowel: AH0, AH1, AH2.
_STRESS = re.compile(r"(?<=[A-Za-z])[012]$")


def normalise_phone(phone: str, keep_stress: bool = False) -> str:
    """``phone`` as it appears in labels: trailing ARPAbet stress digits removed unless kept."""
    return phone if keep_stress else _STRESS.sub("", phone)


class PhoneIndex:
    """The speech phones of one file, ready to label many segments by the midpoint rule."""

    def __init__(self, alignment: FileAlignment, keep_stress: bool = False) -> None:
        phones = sorted(((phone.start + phone.end) / 2, normalise_phone(phone.label, keep_stress))
                        for phone in alignment.phones if not is_silence(phone.label))
        self.midpoints = np.array([midpoint for midpoint, _ in phones], dtype=np.float64)
        self.names = [name for _, name in phones]

    def label_many(self, starts: np.ndarray, ends: np.ndarray) -> list[str | None]:
        """Labels of the segments ``[starts[k], ends[k])`` (None where no phone midpoint is inside)."""
        first = np.searchsorted(self.midpoints, starts, side="left")
        stop = np.searchsorted(self.midpoints, ends, side="left")
        return [",".join(self.names[i:j]) if j > i else None
                for i, j in zip(first.tolist(), stop.tolist())]

    def label(self, start: float, end: float) -> str | None:
        """The phone n-gram of ``[start, end)``, or None when it holds no phone midpoint."""
        return self.label_many(np.array([start]), np.array([end]))[0]


def phone_ngram(alignment: FileAlignment, start: float, end: float,
                keep_stress: bool = False) -> str | None:
    """The phone n-gram label of ``[start, end)`` of one file (module docstring: the rule)."""
    return PhoneIndex(alignment, keep_stress).label(start, end)


def check_coverage(segments: Sequence[Segment], alignments: Alignments) -> None:
    """Raise a UserError naming the first listed file that the alignments do not cover."""
    missing = sorted({segment.wav for segment in segments if segment.wav not in alignments})
    if missing:
        more = f" (and {len(missing) - 1} more files)" if len(missing) > 1 else ""
        raise UserError(f"{missing[0]}: listed in the segment list but absent from the "
                        f"alignments{more}")


def check_within_audio(segments: Sequence[Segment], path_wavs: str | os.PathLike) -> None:
    """Raise a UserError for the first segment that ends past the end of its audio file."""
    path_wavs = Path(path_wavs)
    last_end: dict[str, tuple[float, Segment]] = {}
    for segment in segments:
        if segment.wav not in last_end or segment.end > last_end[segment.wav][0]:
            last_end[segment.wav] = (segment.end, segment)
    for wav, (end, segment) in tqdm(sorted(last_end.items()), desc="checking audio lengths",
                                    unit="file"):
        duration = audio_info(path_wavs / wav).duration
        if end > duration + END_TOLERANCE:
            raise UserError(f"{wav}: segment [{format_time(segment.start)}, {format_time(end)}] "
                            f"ends past the end of the audio ({duration:.3f} s)")


def label_segments(segments: Sequence[Segment], alignments: Alignments,
                   keep_stress: bool = False) -> list[str | None]:
    """The phone n-gram of every segment, in input order (None: no phone). Files must be covered."""
    check_coverage(segments, alignments)
    by_file: dict[str, list[int]] = defaultdict(list)
    for position, segment in enumerate(segments):
        by_file[segment.wav].append(position)
    labels: list[str | None] = [None] * len(segments)
    for wav, positions in tqdm(by_file.items(), desc="labelling segments", unit="file"):
        index = PhoneIndex(alignments.get(wav), keep_stress)
        starts = np.array([segments[p].start for p in positions])
        ends = np.array([segments[p].end for p in positions])
        for position, label in zip(positions, index.label_many(starts, ends)):
            labels[position] = label
    return labels


@dataclass(frozen=True)
class LabelCounts:
    """How a labelling went: segments in, labelled, distinct labels, labels with >= 2 tokens."""

    segments: int
    labelled: int
    distinct_labels: int
    repeated_labels: int

    @property
    def unlabelled(self) -> int:
        return self.segments - self.labelled


def count_labels(labels: Iterable[str | None]) -> LabelCounts:
    """Count the outcome of :func:`label_segments`."""
    tokens: dict[str, int] = defaultdict(int)
    total = 0
    for label in labels:
        total += 1
        if label is not None:
            tokens[label] += 1
    return LabelCounts(total, sum(tokens.values()), len(tokens),
                       sum(1 for count in tokens.values() if count >= 2))


def transcribe_segments(segments: Sequence[Segment], alignments: Alignments,
                        keep_stress: bool = False) -> tuple[list[Segment], LabelCounts]:
    """The segments that hold a phone, with their n-gram as transcription (input order kept)."""
    labels = label_segments(segments, alignments, keep_stress)
    labelled = [segment._replace(transcription=label)
                for segment, label in zip(segments, labels) if label is not None]
    return labelled, count_labels(labels)


def load_alignments(path: str | os.PathLike) -> Alignments:
    """Alignments from the toolkit's file, or from a folder of Montreal Forced Aligner TextGrids."""
    path = Path(path)
    if path.is_dir():
        return read_textgrid_folder(path)
    if not path.exists():
        raise UserError(f"{path}: no such alignment file or TextGrid folder")
    return read_alignment_file(path)
