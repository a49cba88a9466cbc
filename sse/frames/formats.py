"""The toolkit's plain-text lists: VAD lists, segment lists and pair lists.

One item a line, fields separated by a space, times in seconds, wav paths relative to the
corpus root (``--path_wavs``)::

    VAD list      <wav> <speaker> <vad start> <vad end>
    segment list  <wav> <speaker> <vad start> <vad end> <seg start> <seg end> [<transcription>]
    pair list     <wav1> <spk1> <start1> <end1> <wav2> <spk2> <start2> <end2> <similarity>

Readers check every line and raise :class:`sse.core.errors.FormatError` naming the file, the line
number and the rule broken; writers replace their output atomically.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from sse.core.errors import FormatError
from sse.core.files import atomic_open

#: How every text input is read: UTF-8, a leading byte-order mark dropped.
TEXT_ENCODING = "utf-8-sig"

#: How far (seconds) a segment may stick out of its VAD before it is an error.
VAD_TOLERANCE = 0.010


class Vad(NamedTuple):
    """A speech region of one file."""

    wav: str
    speaker: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class Segment(NamedTuple):
    """A span of speech inside a VAD, optionally labelled (e.g. with a phone n-gram)."""

    wav: str
    speaker: str
    vad_start: float
    vad_end: float
    start: float
    end: float
    transcription: str | None = None

    @property
    def vad(self) -> Vad:
        return Vad(self.wav, self.speaker, self.vad_start, self.vad_end)

    @property
    def duration(self) -> float:
        return self.end - self.start


class Pair(NamedTuple):
    """Two segments thought to say the same thing, with the similarity that paired them."""

    wav1: str
    speaker1: str
    start1: float
    end1: float
    wav2: str
    speaker2: str
    start2: float
    end2: float
    similarity: float


VAD_FIELDS = "<wav> <speaker> <vad start> <vad end>"
SEGMENT_FIELDS = "<wav> <speaker> <vad start> <vad end> <segment start> <segment end> [<transcription>]"
PAIR_FIELDS = "<wav1> <spk1> <start1> <end1> <wav2> <spk2> <start2> <end2> <similarity>"


def format_time(seconds: float) -> str:
    """Seconds with microsecond resolution and no trailing zeros: 0.16 -> '0.16', 3.0 -> '3'."""
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for every non-blank line of ``path``.

    A UTF-8 byte-order mark (which some Windows editors write) is dropped, not read into the
    first field.
    """
    try:
        handle = open(path, encoding=TEXT_ENCODING)
    except FileNotFoundError:
        raise FormatError(path, None, "no such file") from None
    except OSError as error:
        raise FormatError(path, None, f"cannot be read ({error.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if fields:
                    yield number, fields
        except UnicodeDecodeError:
            raise FormatError(path, None, "is not UTF-8 text") from None


def _number(path: Path, line: int, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(path, line, f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise FormatError(path, line, f"{name} {text!r} is not a finite number")
    return value


def _time_span(path: Path, line: int, what: str, start_text: str, end_text: str) -> tuple[float, float]:
    start = _number(path, line, f"{what} start", start_text)
    end = _number(path, line, f"{what} end", end_text)
    if start < 0:
        raise FormatError(path, line, f"{what} start {start_text} is negative")
    if not start < end:
        raise FormatError(path, line, f"{what} start {start_text} is not before {what} end {end_text}")
    return start, end


@contextlib.contextmanager
def _reading(path: Path, line: int, kind: str, spec: str, fields: list[str]):
    """Adds to a bad field's error which line format was expected and how many fields were found,
    so that a list with a column missing (or one of another kind) says so."""
    try:
        yield
    except FormatError as error:
        raise FormatError(path, line, f"{error.message} (read as a {kind} line: {spec}; this line "
                                      f"has {len(fields)} fields)") from None


def _not_empty(path: Path, items: list, allow_empty: bool, kind: str) -> list:
    if not items and not allow_empty:
        raise FormatError(path, None, f"the {kind} is empty")
    return items


def read_vad_list(path: str | os.PathLike, allow_empty: bool = False) -> list[Vad]:
    """Read a VAD list: ``<wav> <speaker> <vad start> <vad end>`` per line."""
    path = Path(path)
    vads = []
    for line, fields in _lines(path):
        if len(fields) != 4:
            raise FormatError(path, line, f"expected 4 fields ({VAD_FIELDS}), found {len(fields)}")
        with _reading(path, line, "VAD list", VAD_FIELDS, fields):
            start, end = _time_span(path, line, "vad", fields[2], fields[3])
        vads.append(Vad(sys.intern(fields[0]), sys.intern(fields[1]), start, end))
    return _not_empty(path, vads, allow_empty, "VAD list")


def _parse_segment(path: Path, line: int, fields: list[str]) -> Segment:
    if len(fields) not in (6, 7):
        raise FormatError(path, line, f"expected 6 or 7 fields ({SEGMENT_FIELDS}), found {len(fields)}")
    with _reading(path, line, "segment list", SEGMENT_FIELDS, fields):
        vad_start, vad_end = _time_span(path, line, "vad", fields[2], fields[3])
        start, end = _time_span(path, line, "segment", fields[4], fields[5])
        if start < vad_start - VAD_TOLERANCE or end > vad_end + VAD_TOLERANCE:
            raise FormatError(path, line, f"segment [{fields[4]}, {fields[5]}] is not inside its VAD "
                                          f"[{fields[2]}, {fields[3]}] (tolerance {VAD_TOLERANCE * 1000:g} ms)")
    transcription = fields[6] if len(fields) == 7 else None
    return Segment(sys.intern(fields[0]), sys.intern(fields[1]), vad_start, vad_end, start, end,
                   transcription)


def read_segment_list(path: str | os.PathLike, allow_empty: bool = False,
                      require_transcriptions: bool = False) -> list[Segment]:
    """Read a segment list; with ``require_transcriptions`` every line must carry its 7th field.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "segments")
    >>> _ = open(path, "w").write("a.wav spk1 0 2.5 0.32 0.8 HH,AH\\n")
    >>> read_segment_list(path)
    [Segment(wav='a.wav', speaker='spk1', vad_start=0.0, vad_end=2.5, start=0.32, end=0.8, transcription='HH,AH')]

    A line that does not parse says which format it was read as (here the speaker is missing):

    >>> _ = open(path, "w").write("a.wav 0 2.5 0.32 0.8 HH,AH\\n")
    >>> read_segment_list(path)
    Traceback (most recent call last):
    sse.core.errors.FormatError: ...:1: vad start 2.5 is not before vad end 0.32 (read as a segment list line: \
<wav> <speaker> <vad start> <vad end> <segment start> <segment end> [<transcription>]; this line has 6 fields)
    """
    path = Path(path)
    segments = []
    for line, fields in _lines(path):
        segment = _parse_segment(path, line, fields)
        if require_transcriptions and segment.transcription is None:
            raise FormatError(path, line, "this segment has no transcription (7th field); "
                                          "MAP needs every segment labelled")
        segments.append(segment)
    return _not_empty(path, segments, allow_empty, "segment list")


SPAN_FIELDS = "<wav> <start> <end>"
#: The speaker field of a segment read from a plain span line (no speaker given).
NO_SPEAKER = "-"


def read_segments(path: str | os.PathLike, allow_empty: bool = False,
                  require_transcriptions: bool = False) -> list[Segment]:
    """Read segments to embed: segment-list lines, or plain spans ``<wav> <start> <end>``.

    Embedding needs neither a speaker nor VAD times, so a span line becomes a segment whose VAD
    is the span itself (the rule for lists without VAD times) and whose speaker is
    :data:`NO_SPEAKER`. Lines of both kinds may be mixed.
    """
    path = Path(path)
    segments = [parse_segment_or_span(fields, path, line, require_transcriptions)
                for line, fields in _lines(path)]
    return _not_empty(path, segments, allow_empty, "segment list")


def parse_segment_or_span(fields: list[str], path, line: int | None,
                          require_transcription: bool = False) -> Segment:
    """One line of :func:`read_segments`, already split into fields."""
    if len(fields) == 3:
        with _reading(path, line, "plain segment list", SPAN_FIELDS, fields):
            _time_span(path, line, "span", fields[1], fields[2])
        fields = [fields[0], NO_SPEAKER, fields[1], fields[2], fields[1], fields[2]]
    elif len(fields) not in (6, 7):
        raise FormatError(path, line, f"expected 6 or 7 fields ({SEGMENT_FIELDS}) or 3 ({SPAN_FIELDS}), "
                                      f"found {len(fields)}")
    segment = _parse_segment(path, line, fields)
    if require_transcription and segment.transcription is None:
        raise FormatError(path, line, "this segment has no transcription (7th field); "
                                      "MAP needs every segment labelled")
    return segment


def read_pair_list(path: str | os.PathLike, allow_empty: bool = False) -> list[Pair]:
    """Read a mined pair list: two ``<wav> <speaker> <start> <end>`` groups and a similarity."""
    path = Path(path)
    pairs = []
    for line, fields in _lines(path):
        if len(fields) != 9:
            raise FormatError(path, line, f"expected 9 fields ({PAIR_FIELDS}), found {len(fields)}")
        with _reading(path, line, "pair list", PAIR_FIELDS, fields):
            start1, end1 = _time_span(path, line, "first segment", fields[2], fields[3])
            start2, end2 = _time_span(path, line, "second segment", fields[6], fields[7])
            similarity = _number(path, line, "similarity", fields[8])
        pairs.append(Pair(sys.intern(fields[0]), sys.intern(fields[1]), start1, end1,
                          sys.intern(fields[4]), sys.intern(fields[5]), start2, end2, similarity))
    return _not_empty(path, pairs, allow_empty, "pair list")


def read_vads_of(path: str | os.PathLike) -> list[Vad]:
    """The VADs a file names: a VAD list, or the distinct VAD fields of a segment list.

    Lets feature extraction take a benchmark segment list directly. Order of first appearance.
    """
    path = Path(path)
    for line, fields in _lines(path):
        if len(fields) in (6, 7):
            segments = read_segment_list(path)
            return list(dict.fromkeys(segment.vad for segment in segments))
        break
    return read_vad_list(path)


def write_vad_list(path: str | os.PathLike, vads: Iterable[Vad]) -> None:
    with atomic_open(path, single_writer=True, encoding="utf-8") as out:
        for vad in vads:
            out.write(f"{vad.wav} {vad.speaker} {format_time(vad.start)} {format_time(vad.end)}\n")


def format_segment(segment: Segment) -> str:
    line = (f"{segment.wav} {segment.speaker} {format_time(segment.vad_start)} "
            f"{format_time(segment.vad_end)} {format_time(segment.start)} {format_time(segment.end)}")
    return line if segment.transcription is None else f"{line} {segment.transcription}"


def format_segment_or_span(segment: Segment) -> str:
    """A segment as :func:`read_segments` reads it back: ``<wav> <start> <end>`` when it has no
    speaker and its VAD is itself (a plain span), else the segment-list line."""
    if (segment.speaker == NO_SPEAKER and segment.transcription is None
            and (segment.vad_start, segment.vad_end) == (segment.start, segment.end)):
        return f"{segment.wav} {format_time(segment.start)} {format_time(segment.end)}"
    return format_segment(segment)


def write_segment_list(path: str | os.PathLike, segments: Iterable[Segment]) -> None:
    with atomic_open(path, single_writer=True, encoding="utf-8") as out:
        for segment in segments:
            out.write(format_segment(segment) + "\n")


def write_pair_list(path: str | os.PathLike, pairs: Iterable[Pair]) -> None:
    with atomic_open(path, single_writer=True, encoding="utf-8") as out:
        for p in pairs:
            out.write(f"{p.wav1} {p.speaker1} {format_time(p.start1)} {format_time(p.end1)} "
                      f"{p.wav2} {p.speaker2} {format_time(p.start2)} {format_time(p.end2)} "
                      f"{p.similarity:.6f}\n")
