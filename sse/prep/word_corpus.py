"""A corpus of isolated word recordings -> the toolkit's inputs.

Many low-resource corpora are word lists: each file holds one spoken word, with a speaker and
a label. The method trains on continuous speech, so the training tokens of each speaker are
joined into *sessions* (a few words with short gaps of low noise between them), and the rest
are kept as isolated, labelled tokens for a MAP benchmark:

``OUTPUT/sessions/<speaker>/<speaker>-NNNN.wav``
    16 kHz mono sessions of training tokens.
``OUTPUT/vads``
    VAD list: one VAD per session, from its first word's start to its last word's end.
``OUTPUT/tokens``
    segment list of the tokens inside the sessions, labelled (for ``launch_gold.sh``).
``OUTPUT/isolated/...`` and ``OUTPUT/benchmark``
    the held-out tokens, copied as they were recorded, and their labelled segment list.

``OUTPUT`` is the corpus root (``$LS``) of every list. Held-out tokens are drawn per
(speaker, label), so the benchmark holds every word of every speaker; whole speakers can be
held out too, for a benchmark of voices never trained on.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import soundfile

from sse.core.errors import FormatError, UserError
from sse.core.progress import tqdm
from sse.defaults import FSDD_PATTERN
from sse.frames.audio import SAMPLE_RATE, find_audio_files, read_audio
from sse.frames.formats import Segment, Vad, write_segment_list, write_vad_list


class WordToken(NamedTuple):
    """One recording of one word."""

    path: str      # relative to the source root
    speaker: str
    label: str


@dataclass(frozen=True)
class SessionSettings:
    """How training tokens are joined into sessions."""

    min_words: int = 4
    max_words: int = 8
    min_gap: float = 0.10      # seconds of low noise between two words
    max_gap: float = 0.40
    edge: float = 0.20         # before the first word and after the last
    noise_level: float = 1e-3  # RMS of the noise floor laid under the whole session (-60 dBFS)

    def check(self) -> None:
        if not 1 <= self.min_words <= self.max_words:
            raise UserError("need 1 <= --min_words <= --max_words")
        if not 0 <= self.min_gap <= self.max_gap or self.edge < 0 or self.noise_level < 0:
            raise UserError("need 0 <= --min_gap <= --max_gap, --edge >= 0 and --noise_level >= 0")


def tokens_from_pattern(root: str | os.PathLike, pattern: str = FSDD_PATTERN) -> list[WordToken]:
    """Every audio file below ``root``, its speaker and label read from its path by ``pattern``.

    ``pattern`` is searched in the path relative to ``root`` without its extension and must
    have the named groups ``speaker`` and ``label``.
    """
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise UserError(f"--pattern {pattern!r} is not a regular expression ({error})") from None
    if not {"speaker", "label"} <= set(regex.groupindex):
        raise UserError(f"--pattern {pattern!r} needs the named groups (?P<speaker>...) and (?P<label>...)")
    tokens, unmatched = [], []
    for path in find_audio_files(root):
        match = regex.search(os.path.splitext(path)[0])
        if match is None:
            unmatched.append(path)
            continue
        tokens.append(WordToken(path, match["speaker"], match["label"]))
    if unmatched:
        raise UserError(f"{Path(root) / unmatched[0]}: file name does not match --pattern {pattern!r} "
                        f"({len(unmatched)} files do not)")
    if not tokens:
        raise UserError(f"{root}: no audio files")
    return tokens


def tokens_from_list(path: str | os.PathLike) -> list[WordToken]:
    """Tokens from a list file of ``<wav> <speaker> <label>`` lines (wav relative to the root)."""
    tokens = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                raise FormatError(path, number, "expected 3 fields (<wav> <speaker> <label>)")
            tokens.append(WordToken(*fields))
    if not tokens:
        raise UserError(f"{path}: the token list is empty")
    return tokens


def split_tokens(tokens: Sequence[WordToken], heldout_fraction: float, seed: int = 0,
                 heldout_speakers: Sequence[str] = ()) -> tuple[list[WordToken], list[WordToken]]:
    """(training, held out): whole ``heldout_speakers``, and ``heldout_fraction`` of every
    other (speaker, label) group, drawn at random (rounded, at least one of a group of two or more)."""
    if not 0 <= heldout_fraction < 1:
        raise UserError("--heldout_fraction must be in [0, 1)")
    known = {token.speaker for token in tokens}
    unknown = sorted(set(heldout_speakers) - known)
    if unknown:
        raise UserError(f"--heldout_speakers: no token of speaker(s) {', '.join(unknown)}")
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[WordToken]] = defaultdict(list)
    for token in sorted(tokens):
        groups[token.speaker, token.label].append(token)
    train, heldout = [], []
    for (speaker, _), members in sorted(groups.items()):
        if speaker in heldout_speakers:
            heldout += members
            continue
        count = int(round(heldout_fraction * len(members)))
        if heldout_fraction > 0 and len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        chosen = set(rng.choice(len(members), size=count, replace=False).tolist())
        for index, token in enumerate(members):
            (heldout if index in chosen else train).append(token)
    return train, heldout


class WordCorpus(NamedTuple):
    root: Path
    sessions: int
    session_seconds: float
    training_tokens: int
    benchmark_tokens: int
    speakers: int
    labels: int


def _session_plan(tokens: Sequence[WordToken], settings: SessionSettings,
                  rng: np.random.Generator) -> list[list[WordToken]]:
    """Each speaker's tokens in random order, cut into sessions of min..max words."""
    by_speaker: dict[str, list[WordToken]] = defaultdict(list)
    for token in tokens:
        by_speaker[token.speaker].append(token)
    sessions = []
    for speaker in sorted(by_speaker):
        members = by_speaker[speaker]
        order = rng.permutation(len(members))
        position = 0
        while position < len(order):
            size = int(rng.integers(settings.min_words, settings.max_words + 1))
            sessions.append([members[i] for i in order[position:position + size]])
            position += size
    return sessions


def _write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(samples, -1, 1), SAMPLE_RATE, subtype="PCM_16")


def build_word_corpus(source_root: str | os.PathLike, tokens: Sequence[WordToken], output: str | os.PathLike,
                      heldout_fraction: float = 0.2, heldout_speakers: Sequence[str] = (),
                      settings: SessionSettings = SessionSettings(), seed: int = 0,
                      progress: bool = True) -> WordCorpus:
    """Write sessions, their VAD and token lists, and the isolated benchmark to ``output``.

    Everything is written into a hidden folder beside ``output`` and renamed at the end, so an
    interrupted run leaves no corpus that looks finished.
    """
    settings.check()
    source_root, output = Path(source_root), Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(f"{output}: already exists; give a new --output folder")
    for token in tokens:
        if not (source_root / token.path).is_file():
            raise UserError(f"{source_root / token.path}: no such audio file")
        if any(" " in field or not field for field in token):
            raise UserError(f"{token.path}: paths, speakers and labels must be non-empty and without spaces")
    train, heldout = split_tokens(tokens, heldout_fraction, seed, heldout_speakers)
    if not train:
        raise UserError("every token is held out: nothing is left to train on")
    rng = np.random.default_rng(seed)
    plan = _session_plan(train, settings, rng)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    try:
        vads, token_segments, total = [], [], 0.0
        counters: dict[str, int] = defaultdict(int)
        for words in tqdm(plan, desc="sessions", unit="session", disable=not progress):
            speaker = words[0].speaker
            name = f"sessions/{speaker}/{speaker}-{counters[speaker]:04d}.wav"
            counters[speaker] += 1
            pieces = [np.zeros(int(round(settings.edge * SAMPLE_RATE)), dtype=np.float32)]
            spans, cursor = [], len(pieces[0])  # cursor: samples written so far
            for position, token in enumerate(words):
                samples = read_audio(source_root / token.path)
                spans.append((cursor / SAMPLE_RATE, (cursor + len(samples)) / SAMPLE_RATE, token.label))
                last = position == len(words) - 1
                gap = settings.edge if last else rng.uniform(settings.min_gap, settings.max_gap)
                pieces += [samples, np.zeros(int(round(gap * SAMPLE_RATE)), dtype=np.float32)]
                cursor += len(samples) + len(pieces[-1])
            session = np.concatenate(pieces)
            session += rng.normal(0, settings.noise_level, len(session)).astype(np.float32)
            _write_wav(staging / name, session)
            total += len(session) / SAMPLE_RATE
            vad = Vad(name, speaker, round(spans[0][0], 3), round(spans[-1][1], 3))
            vads.append(vad)
            token_segments += [Segment(name, speaker, vad.start, vad.end, round(start, 3), round(end, 3), label)
                               for start, end, label in spans]
        write_vad_list(staging / "vads", vads)
        write_segment_list(staging / "tokens", token_segments)

        benchmark = []
        for token in heldout:
            target = Path("isolated") / token.path
            (staging / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_root / token.path, staging / target)
            duration = round(soundfile.info(str(staging / target)).duration, 3)
            benchmark.append(Segment(target.as_posix(), token.speaker, 0.0, duration, 0.0, duration, token.label))
        if benchmark:
            write_segment_list(staging / "benchmark", benchmark)
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WordCorpus(output, len(vads), total, len(token_segments), len(benchmark),
                      len({t.speaker for t in tokens}), len({t.label for t in tokens}))
