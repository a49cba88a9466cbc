"""Praat TextGrids as the Montreal Forced Aligner (MFA) writes them -> :class:`FileAlignment`.

Both of Praat's text layouts are read, the long one::

    File type = "ooTextFile"
    Object class = "TextGrid"
    xmin = 0
    xmax = 2.3
    tiers? <exists>
    size = 2
    item []:
        item [1]:
            class = "IntervalTier"
            name = "words"
            ...
            intervals [1]:
                xmin = 0
                xmax = 0.41
                text = ""

and the short one, which holds the same values without their names. Like Praat itself, the
reader keeps only the values (numbers, "strings", <flags>) and skips the names, the ``[n]``
indices and ``!`` comments, so one parser serves both layouts. Files may be UTF-8 (with or
without a byte-order mark) or UTF-16 (Praat's choice when a label is not ASCII).

Tiers named ``words``/``word`` and ``phones``/``phone`` are kept (any case; MFA's multi-speaker
``<speaker> - words`` names too, the speakers' intervals merged). Intervals labelled with
nothing or with one of MFA's non-speech labels (:data:`sse.prep.alignments.SILENCE_LABELS`) are silence and left
out, as in the toolkit's alignment file.
"""
from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

from sse.core.errors import FormatError, UserError
from sse.core.progress import tqdm
from sse.prep.alignments import Alignments, FileAlignment, Interval, is_silence

WORD_TIERS = frozenset({"words", "word"})
PHONE_TIERS = frozenset({"phones", "phone"})

TEXTGRID_SUFFIX = ".textgrid"

# One Praat value: a "string" ("" inside is an escaped quote), a <flag>, or a number that is not
# part of a longer word. Whatever else the file holds (names such as ``xmin =``, ``item [1]:``
# indices, ``!`` comments) sits between the matches and is skipped.
_VALUE = re.compile(r"""
      "(?P<string>(?:[^"]|"")*)"
    | <(?P<flag>[A-Za-z]+)>
    | (?<![\w.\-+])(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | \[[^\]\n]*\]
    | ![^\n]*
""", re.VERBOSE)


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif raw[:1] == b"\x00":
        encoding = "utf-16-be"  # UTF-16 without a byte-order mark: "F" is 00 46 ...
    elif raw[1:2] == b"\x00":
        encoding = "utf-16-le"  # ... or 46 00
    else:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise FormatError(path, None, f"is neither UTF-8 nor UTF-16 text (tried {encoding})") from None


class _Values:
    """The values of a TextGrid in file order, read one at a time with the type expected."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.matches = [match for match in _VALUE.finditer(text)
                        if match.lastgroup is not None]
        self.position = 0

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def error(self, message: str) -> FormatError:
        """A FormatError at the value last read (or at the end of the file)."""
        if self.position == 0 or self.position > len(self.matches):
            return FormatError(self.path, None, message)
        return FormatError(self.path, self.line_of(self.matches[self.position - 1].start()), message)

    def _next(self, kind: str, what: str) -> str:
        if self.position >= len(self.matches):
            self.position += 1
            raise self.error(f"the file ends where {what} ({kind}) was expected")
        match = self.matches[self.position]
        self.position += 1
        if match.lastgroup != kind:
            raise self.error(f"expected {what} ({kind}), found {match.group(0)[:40]!r}")
        return match.group(kind)

    def string(self, what: str) -> str:
        return self._next("string", what).replace('""', '"')

    def flag(self, what: str) -> str:
        return self._next("flag", what)

    def number(self, what: str) -> float:
        value = float(self._next("number", what))
        if not math.isfinite(value):
            raise self.error(f"{what} is not a finite number")
        return value

    def count(self, what: str) -> int:
        value = self.number(what)
        if value < 0 or value != int(value):
            raise self.error(f"{what} must be a non-negative whole number, found {value:g}")
        return int(value)


def _checked_label(values: _Values, label: str, tier: str) -> str:
    label = label.strip()
    # The toolkit's alignment file and segment lists are space-separated, and phone n-grams are
    # comma-joined; a label holding either would come apart downstream.
    if any(character.isspace() for character in label):
        raise values.error(f"{tier} label {label!r} contains white space")
    if tier == "phones" and "," in label:
        raise values.error(f"phone label {label!r} contains a comma, which joins phones in n-grams")
    return label


def _tier_kind(name: str) -> str | None:
    """'words', 'phones' or None (a tier we do not use), from an MFA tier name."""
    base = name.strip().lower().rsplit(" - ", 1)[-1]  # MFA multi-speaker: "<speaker> - words"
    if base in WORD_TIERS:
        return "words"
    if base in PHONE_TIERS:
        return "phones"
    return None


def parse_textgrid(text: str, path: str | os.PathLike = "<text>") -> FileAlignment:
    """Parse the text of a TextGrid (long or short layout); ``path`` only names it in errors."""
    values = _Values(Path(path), text)
    file_type = values.string("the file type")
    if not file_type.startswith("ooTextFile"):
        raise values.error(f"file type {file_type!r} is not a Praat text file (\"ooTextFile\"); "
                           "binary TextGrids are not read")
    object_class = values.string("the object class")
    if object_class != "TextGrid":
        raise values.error(f"object class {object_class!r} is not \"TextGrid\"")
    values.number("the TextGrid xmin")
    values.number("the TextGrid xmax")
    tiers: dict[str, list[Interval]] = {"words": [], "phones": []}
    seen_tiers: list[str] = []
    if values.flag("the tiers flag") == "exists":
        for _ in range(values.count("the number of tiers")):
            tier_class = values.string("a tier class")
            name = values.string("a tier name")
            seen_tiers.append(name)
            values.number("the tier xmin")
            values.number("the tier xmax")
            size = values.count("the number of intervals")
            kind = _tier_kind(name)
            if tier_class == "TextTier":  # point tier: (time, mark) pairs, never words or phones
                for _ in range(size):
                    values.number("a point time")
                    values.string("a point mark")
                continue
            if tier_class != "IntervalTier":
                raise values.error(f"tier class {tier_class!r} is neither IntervalTier nor TextTier")
            for _ in range(size):
                start = values.number("an interval xmin")
                end = values.number("an interval xmax")
                label = values.string("an interval text")
                if kind is None or is_silence(label):
                    continue
                if not 0 <= start < end:
                    raise values.error(f"interval [{start:g}, {end:g}] of tier {name!r} is not a "
                                       "non-negative span with xmin < xmax")
                tiers[kind].append(Interval(start, end, sys.intern(_checked_label(values, label, kind))))
    if values.position < len(values.matches):
        values.position += 1  # point the error at the first value left over
        raise values.error("values left after the last tier: the tier or interval counts do not "
                           "match the content")
    if not any(_tier_kind(name) == "phones" for name in seen_tiers):
        raise FormatError(path, None, f"no phone tier (named 'phones' or 'phone'); tiers found: "
                                      f"{', '.join(repr(name) for name in seen_tiers) or 'none'}")
    return FileAlignment(sorted(tiers["words"]), sorted(tiers["phones"]))


def read_textgrid(path: str | os.PathLike) -> FileAlignment:
    """The word and phone intervals (silence left out) of one TextGrid file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise FormatError(path, None, f"cannot be read ({error.strerror})") from None
    return parse_textgrid(_decode(path, raw), path)


def read_textgrid_folder(folder: str | os.PathLike) -> Alignments:
    """Every ``*.TextGrid`` below ``folder``, keyed by its relative path without extension.

    ``a/b.TextGrid`` becomes key ``a/b``, which :meth:`Alignments.get` finds for ``a/b.wav``;
    so the folder must mirror the corpus layout under ``--path_wavs``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such TextGrid folder")
    paths = sorted(path for path in folder.rglob("*")
                   if path.suffix.lower() == TEXTGRID_SUFFIX and path.is_file())
    if not paths:
        raise UserError(f"{folder}: no .TextGrid files found in this folder or below")
    files = {}
    for path in tqdm(paths, desc="reading TextGrids", unit="file"):
        key = sys.intern(path.relative_to(folder).with_suffix("").as_posix())
        files[key] = read_textgrid(path)
    return Alignments(files)
