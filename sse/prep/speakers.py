"""Speaker ids from file paths (relative to the corpus root): by a regular expression, by the
file's parent folder, or one speaker per file."""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import PurePosixPath
from typing import Iterable, Sequence

from sse.core.errors import UserError

#: LibriSpeech names files ``SPEAKER-CHAPTER-UTTERANCE.ext`` (``103-1240-0000.flac``); matched on
#: the file name so the folders above it do not matter; the extension is optional because the
#: keys of a TextGrid folder have none.
DEFAULT_SPEAKER_REGEX = r"(?:^|/)(?P<speaker>\d+)-\d+-\d+(?:\.[^/.]+)?$"



def compile_speaker_regex(pattern: str) -> re.Pattern:
    """Compile a speaker regex; it must have a capture group (a group named ``speaker``, or the first)."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise UserError(f"speaker regex '{pattern}' is not a valid regular expression ({error})") from None
    if regex.groups == 0:
        raise UserError(f"speaker regex '{pattern}' has no capture group: put the speaker id in "
                        "(...) or (?P<speaker>...)")
    return regex


def speaker_of(wav: str, regex: re.Pattern) -> str | None:
    """The speaker id of a path relative to the corpus root, or None if ``regex`` does not find one."""
    match = regex.search(wav)
    if match is None:
        return None
    speaker = match.group("speaker") if "speaker" in regex.groupindex else match.group(1)
    return speaker or None


def speakers_of(wavs: Sequence[str], regex: re.Pattern) -> list[str]:
    """Speaker ids of ``wavs``; a :class:`UserError` names the first path without one.

    Paths and speaker ids become space-separated fields of the VAD list, so whitespace in
    either is refused here rather than producing a list that reads back wrong.
    """
    speakers = []
    for wav in wavs:
        if any(character.isspace() for character in wav):
            raise UserError(f"{wav}: the path contains whitespace, which the VAD list format "
                            "(space-separated fields) cannot hold; rename the file")
        speaker = speaker_of(wav, regex)
        if speaker is None:
            others = sum(speaker_of(other, regex) is None for other in wavs) - 1
            also = (f" (nor in {others} other file{'s' if others > 1 else ''})" if others else "")
            raise UserError(f"{wav}: speaker regex '{regex.pattern}' finds no speaker id in this "
                            f"path{also}; give one that matches with --speaker_regex")
        if any(character.isspace() for character in speaker):
            raise UserError(f"{wav}: speaker regex '{regex.pattern}' gives speaker id {speaker!r}, "
                            "which contains whitespace")
        speakers.append(speaker)
    return speakers


def speakers_from_regex(paths: Iterable[str], pattern: str = DEFAULT_SPEAKER_REGEX) -> dict[str, str]:
    """``{path: speaker}`` for every path; a :class:`UserError` names the first without one."""
    paths = list(paths)
    return {path: sys.intern(speaker)
            for path, speaker in zip(paths, speakers_of(paths, compile_speaker_regex(pattern)))}


#: How ``utils/vad.py --speakers`` names speakers: a regex on the path (LibriSpeech by
#: default), the name of the folder holding the file, or the file itself (its path without
#: the extension, or with it where two files differ only by their extension), for corpora
#: whose files each hold one unknown speaker.
SPEAKER_SOURCES = ("regex", "folder", "file")


def speakers_by(wavs: Sequence[str], source: str = "regex", pattern: str = DEFAULT_SPEAKER_REGEX) -> list[str]:
    """Speaker ids of ``wavs`` (paths relative to the corpus root) by one of :data:`SPEAKER_SOURCES`."""
    if source == "regex":
        return speakers_of(wavs, compile_speaker_regex(pattern))
    if source not in SPEAKER_SOURCES:
        raise UserError(f"unknown speaker source {source!r} (choose from {', '.join(SPEAKER_SOURCES)})")
    speakers = []
    stems = Counter(str(PurePosixPath(wav).with_suffix("")) for wav in wavs) if source == "file" else None
    for wav in wavs:
        if any(character.isspace() for character in wav):
            raise UserError(f"{wav}: the path contains whitespace, which the VAD list format "
                            "(space-separated fields) cannot hold; rename the file")
        path = PurePosixPath(wav)
        if source == "folder":
            if len(path.parts) < 2:
                raise UserError(f"{wav}: the file is directly in the corpus root, so it has no parent "
                                "folder to name its speaker; use --speakers file or regex")
            speakers.append(sys.intern(path.parent.name))
        else:
            # One speaker per file: the path without its extension, unless another file has the
            # same one (a.flac and a.mp3), whose speakers the extension then tells apart.
            stem = str(path.with_suffix(""))
            speakers.append(sys.intern(stem if stems[stem] == 1 else wav))
    return speakers
