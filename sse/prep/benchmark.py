"""Benchmark building: labelled speech spans of an aligned corpus, for MAP evaluation.

**Benchmark spans.** :func:`build_benchmark` makes the segments of a benchmark from an aligned
corpus: every span from the start of phone i to the end of phone j >= i of one file such that

- consecutive phones of the span are separated by at most ``max_gap`` seconds of silence
  (default 0.05 s). MFA leaves short closures and inter-word transitions as gaps of a few
  frames; a longer gap is a pause, and a span across it would hold non-speech its label does
  not mention. A phone that overlaps its predecessor (a malformed alignment) also breaks a run.
- its duration ``end_j - start_i`` lies in ``[min_duration, max_duration]`` (0.16 to 0.96 s,
  the lengths of ``make_segments.py``).

Such a span starts and ends on phone boundaries, so the labelling rule gives it exactly the
phones i..j (phones of an aligner never overlap): a benchmark list relabelled by
:func:`sse.prep.labels.label_segments` is unchanged.

Each span gets VAD fields: with a VAD list, the VAD of its file that contains it (spans inside
no VAD are dropped and counted; the speaker is the VAD's); without one, the span's own times
(as for any segment list without VAD times) and a speaker per file given by the caller (see :func:`sse.prep.speakers.speakers_from_regex`).

**Selection.** Only labels spoken by at least two different speakers are kept (so each has at
least two tokens, and a query always has a relevant item by another voice). A label with more
than ``max_per_label`` tokens keeps ``max_per_label`` of them, drawn at random (seeded) round-
robin over its speakers: one token of each speaker, in random order, then a second of each, and
so on, so the kept tokens cover as many speakers as possible. ``max_segments`` then keeps whole
labels, in a seeded random order, while the total stays within the cap, so every kept label
still has tokens from two speakers. The output is sorted by (wav path, start, end).
"""
from __future__ import annotations

import logging
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from sse.core.errors import UserError
from sse.frames.audio import AUDIO_EXTENSIONS, find_audio_files
from sse.frames.formats import Segment, Vad
from sse.prep.alignments import Alignments, is_silence
from sse.prep.labels import normalise_phone

logger = logging.getLogger(__name__)

#: Default silence (seconds) allowed between consecutive phones of a benchmark span.
MAX_GAP = 0.05
MIN_DURATION = 0.16
MAX_DURATION = 0.96

# Times are compared with this slack: they come from text with microsecond resolution.
_EPSILON = 1e-6

def resolve_audio_paths(keys: Iterable[str], path_wavs: str | os.PathLike) -> dict[str, str]:
    """The audio file (relative to ``path_wavs``) of each alignment key: the key itself if it is
    a file there, else the one audio file at the key's path with an audio extension."""
    root = Path(path_wavs)
    by_stem: dict[str, list[str]] = defaultdict(list)
    for audio in find_audio_files(root):
        by_stem[os.path.splitext(audio)[0]].append(audio)
    resolved = {}
    for key in keys:
        if (root / key).is_file():
            resolved[key] = key
            continue
        candidates = by_stem.get(os.path.splitext(key)[0], [])
        if len(candidates) != 1:
            problem = "no audio file" if not candidates else f"several audio files ({', '.join(candidates)})"
            raise UserError(f"{key}: {problem} at this path under {root}")
        resolved[key] = candidates[0]
    return resolved


def wav_paths_need_resolving(keys: Iterable[str]) -> bool:
    """Whether some alignment keys lack an audio extension (keys of a TextGrid folder do)."""
    return any(os.path.splitext(key)[1].lower() not in AUDIO_EXTENSIONS for key in keys)


@dataclass(frozen=True)
class BenchmarkConfig:
    """How benchmark spans are chosen (module docstring: the rules)."""

    min_duration: float = MIN_DURATION
    max_duration: float = MAX_DURATION
    max_gap: float = MAX_GAP
    max_per_label: int | None = None
    max_segments: int | None = None
    seed: int = 0
    keep_stress: bool = False

    def check(self) -> None:
        """Raise a UserError for settings that cannot give a benchmark."""
        if not 0 < self.min_duration <= self.max_duration:
            raise UserError(f"need 0 < min_duration <= max_duration, got {self.min_duration:g} "
                            f"and {self.max_duration:g}")
        if self.max_gap < 0:
            raise UserError(f"max_gap must not be negative, got {self.max_gap:g}")
        # Two tokens from two speakers is what makes a label usable; a smaller cap would break it.
        if self.max_per_label is not None and self.max_per_label < 2:
            raise UserError(f"max_per_label must be at least 2, got {self.max_per_label}")
        if self.max_segments is not None and self.max_segments < 2:
            raise UserError(f"max_segments must be at least 2, got {self.max_segments}")


@dataclass(frozen=True)
class BenchmarkSummary:
    """What :func:`build_benchmark` considered and kept."""

    candidate_spans: int      # within duration bounds, no long gap
    outside_vad: int          # of those, inside no VAD (dropped)
    single_speaker: int       # tokens of labels spoken by only one speaker (dropped)
    over_cap: int             # dropped by max_per_label and max_segments
    segments: int
    labels: int
    multi_speaker_labels: int  # labels whose kept tokens come from >= 2 speakers
    speakers: int
    files: int


@dataclass
class _Phones:
    """The speech phones of the whole corpus, files laid one after the other."""

    starts: np.ndarray      # float64
    ends: np.ndarray        # float64
    ids: np.ndarray         # int64 phone type: one id per distinct normalised name
    file_of: np.ndarray     # int64 index into keys
    names: list[str]        # per phone, normalised
    keys: list[str]         # alignment key per file index


def _ids(names: Iterable[str], table: dict[str, int]) -> np.ndarray:
    """Integer ids of ``names``, numbered in order of first appearance in ``table``."""
    return np.fromiter((table.setdefault(name, len(table)) for name in names), dtype=np.int64)


def _corpus_phones(alignments: Alignments, keep_stress: bool) -> _Phones:
    starts: list[float] = []
    ends: list[float] = []
    names: list[str] = []
    file_of: list[int] = []
    keys = sorted(key for key, _ in alignments.items())
    for file_index, key in enumerate(keys):
        for phone in sorted(alignments.files[key].phones):
            if is_silence(phone.label):
                continue
            starts.append(phone.start)
            ends.append(phone.end)
            names.append(sys.intern(normalise_phone(phone.label, keep_stress)))
            file_of.append(file_index)
    return _Phones(np.array(starts), np.array(ends), _ids(names, {}),
                   np.array(file_of, dtype=np.int64), names, keys)


# Odd 64-bit multiplier of the polynomial hash that counts n-grams without building strings.
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)


def _candidate_spans(phones: _Phones, config: BenchmarkConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first phone, last phone, n-gram hash) of every span allowed by the duration and gap rules.

    Vectorised over all phones, one pass per n-gram length: spans only grow with their length,
    so a start phone leaves the loop once its span passes ``max_duration`` or its run ends.
    """
    count = len(phones.starts)
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty.astype(np.uint64)
    gap = phones.starts[1:] - phones.ends[:-1]
    breaks = ((phones.file_of[1:] != phones.file_of[:-1]) | (gap > config.max_gap + _EPSILON)
              | (gap < -_EPSILON))
    run = np.concatenate([[0], np.cumsum(breaks)])
    first = np.arange(count)
    hashes = np.zeros(count, dtype=np.uint64)
    found_first, found_last, found_hash = [], [], []
    length = 0
    while len(first):
        last = first + length
        inside = last < count
        first, last, hashes = first[inside], last[inside], hashes[inside]
        duration = phones.ends[last] - phones.starts[first]
        alive = (run[last] == run[first]) & (duration <= config.max_duration + _EPSILON)
        first, last, hashes, duration = first[alive], last[alive], hashes[alive], duration[alive]
        hashes = hashes * _HASH_BASE + (phones.ids[last] + 1).astype(np.uint64)
        long_enough = duration >= config.min_duration - _EPSILON
        found_first.append(first[long_enough])
        found_last.append(last[long_enough])
        found_hash.append(hashes[long_enough])
        length += 1
    first = np.concatenate(found_first)
    last = np.concatenate(found_last)
    hashes = np.concatenate(found_hash)
    order = np.lexsort((last, first))  # by file, then time: what the VAD lookup walks through
    return first[order], last[order], hashes[order]


def _assign_vads(phones: _Phones, first: np.ndarray, last: np.ndarray,
                 vads_by_key: Mapping[str, list[Vad]]) -> tuple[np.ndarray, list[Vad]]:
    """Index (into the returned VAD list) of the VAD containing each span, -1 for none.

    Per file, VADs sorted by start; the one to test for a span is, among those starting at or
    before it, the one reaching furthest, which also handles overlapping VADs.
    """
    vad_list: list[Vad] = []
    vad_of = np.full(len(first), -1, dtype=np.int64)
    span_file = phones.file_of[first]
    bounds = np.searchsorted(span_file, np.arange(len(phones.keys) + 1))
    span_starts = phones.starts[first]
    span_ends = phones.ends[last]
    for file_index, key in enumerate(phones.keys):
        low, high = bounds[file_index], bounds[file_index + 1]
        file_vads = sorted(vads_by_key.get(key, ()), key=lambda vad: (vad.start, vad.end))
        if low == high or not file_vads:
            continue
        offset = len(vad_list)
        vad_list.extend(file_vads)
        vad_starts = np.array([vad.start for vad in file_vads])
        vad_ends = np.array([vad.end for vad in file_vads])
        positions = np.arange(len(file_vads))
        reaches_furthest = vad_ends >= np.maximum.accumulate(vad_ends)
        furthest = np.maximum.accumulate(np.where(reaches_furthest, positions, 0))
        position = np.searchsorted(vad_starts, span_starts[low:high] + _EPSILON, side="right") - 1
        candidate = furthest[np.maximum(position, 0)]
        inside = (position >= 0) & (vad_ends[candidate] >= span_ends[low:high] - _EPSILON)
        vad_of[low:high] = np.where(inside, candidate + offset, -1)
    return vad_of, vad_list


def _multi_speaker_tokens(label_ids: np.ndarray, speaker_ids: np.ndarray) -> np.ndarray:
    """Mask of the tokens whose label is spoken by at least two distinct speakers."""
    if len(label_ids) == 0:
        return np.zeros(0, dtype=bool)
    label_count = int(label_ids.max()) + 1
    speaker_count = int(speaker_ids.max()) + 1
    distinct_pairs = np.unique(label_ids * speaker_count + speaker_ids)
    speakers_per_label = np.bincount(distinct_pairs // speaker_count, minlength=label_count)
    return speakers_per_label[label_ids] >= 2


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... along each run of equal values of a sorted array."""
    positions = np.arange(len(groups))
    new_group = np.concatenate([[True], groups[1:] != groups[:-1]])
    return positions - np.maximum.accumulate(np.where(new_group, positions, 0))


def _cap_per_label(label_ids: np.ndarray, speaker_ids: np.ndarray, cap: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``cap`` tokens per label, drawn round-robin over its speakers."""
    speaker_count = int(speaker_ids.max()) + 1
    # Round of a token = its random rank among the tokens of its (label, speaker).
    by_speaker = np.lexsort((rng.random(len(label_ids)), speaker_ids, label_ids))
    rounds = np.empty(len(label_ids), dtype=np.int64)
    rounds[by_speaker] = _rank_within(label_ids[by_speaker] * speaker_count + speaker_ids[by_speaker])
    by_round = np.lexsort((rng.random(len(label_ids)), rounds, label_ids))
    keep = _rank_within(label_ids[by_round]) < cap
    return np.sort(by_round[keep])


def _cap_total(label_ids: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the tokens of whole labels, taken in random order while the total fits ``cap``."""
    sizes = np.bincount(label_ids)
    present = np.flatnonzero(sizes)
    order = rng.permutation(present)
    fits = order[np.cumsum(sizes[order]) <= cap]
    return np.flatnonzero(np.isin(label_ids, fits))


@dataclass
class _Spans:
    """Candidate spans as parallel arrays, filtered together."""

    first: np.ndarray     # first phone (index into _Phones)
    last: np.ndarray      # last phone, inclusive
    hashes: np.ndarray    # n-gram hash (uint64)
    vad: np.ndarray       # index of the containing VAD, -1 without a VAD list
    speaker: np.ndarray   # speaker id

    def select(self, which: np.ndarray) -> _Spans:
        return _Spans(self.first[which], self.last[which], self.hashes[which], self.vad[which],
                      self.speaker[which])

    def __len__(self) -> int:
        return len(self.first)


def build_benchmark(alignments: Alignments, config: BenchmarkConfig = BenchmarkConfig(),
                    vads: Sequence[Vad] | None = None,
                    speakers: Mapping[str, str] | None = None,
                    wav_paths: Mapping[str, str] | None = None) -> tuple[list[Segment], BenchmarkSummary]:
    """Labelled benchmark segments from an aligned corpus (module docstring: the rules).

    With ``vads``, each span takes its wav path, speaker and VAD times from the VAD containing
    it (VADs are matched to alignments like :meth:`Alignments.get`). Without, ``speakers`` maps
    every alignment key to its speaker, ``wav_paths`` (default: the key) to its audio path, and
    a segment's VAD times are its own.
    """
    config.check()
    phones = _corpus_phones(alignments, config.keep_stress)
    first, last, hashes = _candidate_spans(phones, config)
    logger.info("%d phones in %d files give %d candidate spans", len(phones.starts),
                len(phones.keys), len(first))

    speaker_table: dict[str, int] = {}
    if vads is not None:
        vads_by_key: dict[str, list[Vad]] = defaultdict(list)
        for vad in vads:
            key = vad.wav if vad.wav in alignments.files else os.path.splitext(vad.wav)[0]
            vads_by_key[key].append(vad)
        unaligned = sum(1 for key in vads_by_key if key not in alignments.files)
        if unaligned:
            logger.info("%d files of the VAD list have no alignment and are left out", unaligned)
        vad_of, vad_list = _assign_vads(phones, first, last, vads_by_key)
        # A span's speaker is its VAD's. Spans inside no VAD (vad_of -1) read the -1 appended
        # at the end; they are dropped below.
        speaker_of_vad = np.append(_ids((vad.speaker for vad in vad_list), speaker_table), -1)
        span_speaker = speaker_of_vad[vad_of]
    else:
        if speakers is None:
            raise ValueError("build_benchmark needs the speakers of the files when no VADs are given")
        missing = [key for key in phones.keys if key not in speakers]
        if missing:
            raise UserError(f"{missing[0]}: no speaker known for this aligned file")
        vad_of, vad_list = np.full(len(first), -1, dtype=np.int64), []
        span_speaker = _ids((speakers[key] for key in phones.keys), speaker_table)[phones.file_of[first]]
    spans = _Spans(first, last, hashes, vad_of, span_speaker)
    candidate_count = len(spans)
    if vads is not None:
        spans = spans.select(spans.vad >= 0)
    outside_vad = candidate_count - len(spans)

    # Count by hash first: most of the millions of candidate n-grams occur once and never need
    # a string. A hash collision can only let extra spans through; the exact count drops them.
    _, hash_label = np.unique(spans.hashes, return_inverse=True)
    spans = spans.select(_multi_speaker_tokens(hash_label.reshape(-1), spans.speaker))
    label_table: dict[str, int] = {}
    label_ids = _ids((",".join(phones.names[i:j + 1])
                      for i, j in zip(spans.first.tolist(), spans.last.tolist())), label_table)
    exact = _multi_speaker_tokens(label_ids, spans.speaker)
    spans, label_ids = spans.select(exact), label_ids[exact]
    single_speaker = candidate_count - outside_vad - len(spans)

    rng = np.random.default_rng(config.seed)
    chosen = np.arange(len(spans))
    if config.max_per_label is not None and len(chosen):
        chosen = _cap_per_label(label_ids, spans.speaker, config.max_per_label, rng)
    if config.max_segments is not None and len(chosen) > config.max_segments:
        chosen = chosen[_cap_total(label_ids[chosen], config.max_segments, rng)]
    over_cap = len(spans) - len(chosen)

    label_names = list(label_table)
    segments = []
    for k in chosen.tolist():
        start, end = float(phones.starts[spans.first[k]]), float(phones.ends[spans.last[k]])
        label = label_names[label_ids[k]]
        if vads is not None:
            vad = vad_list[spans.vad[k]]
            segments.append(Segment(vad.wav, vad.speaker, vad.start, vad.end, start, end, label))
        else:
            key = phones.keys[phones.file_of[spans.first[k]]]
            wav = wav_paths[key] if wav_paths is not None else key
            segments.append(Segment(wav, speakers[key], start, end, start, end, label))
    segments.sort(key=lambda segment: (segment.wav, segment.start, segment.end))
    return segments, summarise(segments, candidate_count, outside_vad, single_speaker, over_cap)


def summarise(segments: Sequence[Segment], candidate_spans: int = 0, outside_vad: int = 0,
              single_speaker: int = 0, over_cap: int = 0) -> BenchmarkSummary:
    """Counts of a benchmark segment list (labels, speakers...), computed from the list itself."""
    speakers_of_label: dict[str, set[str]] = defaultdict(set)
    for segment in segments:
        speakers_of_label[segment.transcription].add(segment.speaker)
    return BenchmarkSummary(
        candidate_spans=candidate_spans, outside_vad=outside_vad, single_speaker=single_speaker,
        over_cap=over_cap, segments=len(segments), labels=len(speakers_of_label),
        multi_speaker_labels=sum(1 for names in speakers_of_label.values() if len(names) >= 2),
        speakers=len({segment.speaker for segment in segments}),
        files=len({segment.wav for segment in segments}))
