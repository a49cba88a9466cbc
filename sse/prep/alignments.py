"""Word and phone time alignments of a corpus.

The toolkit's alignment file is plain text, one interval a line, paths relative to the corpus
root, times in seconds, silences left out (a gap is silence)::

    <wav path> word <start> <end> <WORD>
    <wav path> phone <start> <end> <PHONE>

e.g. ``train/1001/1001-1-0003.ogg phone 0.42 0.51 DH``. Phones are ARPAbet as the aligner
wrote them (stress digits, if any, are kept in the file and dropped, by default, when segments
are labelled).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

from sse.core.errors import FormatError
from sse.core.files import atomic_open
from sse.frames.formats import TEXT_ENCODING, format_time

TIERS = ("word", "phone")

#: Labels that mean "no speech here": empty, silence, short pause, spoken noise, epsilon.
SILENCE_LABELS = frozenset({"", "sil", "sp", "spn", "<eps>"})


class Interval(NamedTuple):
    start: float
    end: float
    label: str


class FileAlignment(NamedTuple):
    """The word and phone intervals of one audio file, each sorted by start time."""

    words: list[Interval]
    phones: list[Interval]


class Alignments:
    """Alignments of many files, looked up by the wav path used in VAD and segment lists."""

    def __init__(self, files: dict[str, FileAlignment]) -> None:
        self.files = files

    def get(self, wav: str) -> FileAlignment | None:
        """The alignment of ``wav``: by exact path, else by the same path without its extension
        (TextGrid folders name ``a/b.TextGrid`` for ``a/b.wav``)."""
        found = self.files.get(wav)
        if found is None:
            found = self.files.get(os.path.splitext(wav)[0])
        return found

    def __contains__(self, wav: str) -> bool:
        return self.get(wav) is not None

    def __len__(self) -> int:
        return len(self.files)

    def items(self) -> Iterator[tuple[str, FileAlignment]]:
        return iter(self.files.items())


def is_silence(label: str) -> bool:
    """Whether an interval label means non-speech (compared without case or surrounding space)."""
    return label.strip().lower() in SILENCE_LABELS


def _decoded_lines(path: Path, handle) -> Iterator[tuple[int, str]]:
    try:
        yield from enumerate(handle, start=1)
    except UnicodeDecodeError:  # decoded by blocks: the line number is not known
        raise FormatError(path, None, "is not UTF-8 text") from None


def read_alignment_file(path: str | os.PathLike) -> Alignments:
    """Read the toolkit's alignment file (format in the module docstring)."""
    path = Path(path)
    collected: dict[str, dict[str, list[Interval]]] = {}
    try:
        handle = open(path, encoding=TEXT_ENCODING)  # a byte-order mark is dropped
    except OSError as error:
        raise FormatError(path, None, f"cannot be read ({error.strerror})") from None
    with handle:
        for number, line in _decoded_lines(path, handle):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5:
                raise FormatError(path, number, "expected 5 fields (<wav> word|phone <start> <end> "
                                                f"<label>), found {len(fields)}")
            wav, tier, start_text, end_text, label = fields
            if tier not in TIERS:
                raise FormatError(path, number, f"tier {tier!r} is neither 'word' nor 'phone'")
            try:
                start, end = float(start_text), float(end_text)
            except ValueError:
                raise FormatError(path, number, "start and end must be numbers") from None
            if not (0 <= start < end < float("inf")):
                raise FormatError(path, number, f"interval [{start_text}, {end_text}] is not a "
                                                "non-negative span with start < end")
            tiers = collected.setdefault(sys.intern(wav), {"word": [], "phone": []})
            tiers[tier].append(Interval(start, end, label))
    if not collected:
        raise FormatError(path, None, "the alignment file is empty")
    return Alignments({wav: FileAlignment(sorted(tiers["word"]), sorted(tiers["phone"]))
                       for wav, tiers in collected.items()})


def write_alignment_file(path: str | os.PathLike, alignments: Alignments) -> None:
    """Write alignments in the toolkit's format, files sorted by path, atomically."""
    with atomic_open(path, encoding="utf-8") as out:
        for wav, alignment in sorted(alignments.items()):
            for tier, intervals in (("word", alignment.words), ("phone", alignment.phones)):
                for interval in intervals:
                    out.write(f"{wav} {tier} {format_time(interval.start)} "
                              f"{format_time(interval.end)} {interval.label}\n")
