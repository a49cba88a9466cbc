"""How each training stage draws a batch of positive pairs (docs/method.md, steps 6-8).

Every draw takes its own ``numpy`` generator, so a batch is a pure function of
``(seed, epoch, batch index)``: data-loader workers agree, and a resumed run sees the batches
the interrupted one would have seen.

* :class:`AugmentationSampler` (stage 1): one speaker per batch, up to 20 of its VADs, each
  time-stretched twice; a pair is one span read from both stretched versions.
* :class:`PairSampler` (stage 2): random pairs of a mined pair list, same-file pairs excluded;
  :class:`StretchedPairSampler` reads each side of them from a precomputed time-stretched
  version of its VAD, as stage 1 stretches its pairs (an option).
* :class:`LabelSampler` (stage 3, weakly supervised): a label drawn in proportion to its count,
  then two distinct tokens of it, as many times as the batch has pairs.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from sse.core.errors import UserError
from sse.defaults import FRAME_RATE, MAX_BATCH_DURATION, STAGES
from sse.frames.audio import read_audio
from sse.frames.formats import Pair, Segment, Vad
from sse.method.augment import Effects, augment
from sse.method.segments import GRID, draw_spans, grid_steps


class Span(NamedTuple):
    """A stretch of one file, as a training pair names it."""

    wav: str
    start: float
    end: float


def split_heldout(items: Sequence, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded random ``(kept, held out)`` split, each part in the original order."""
    if not 0 <= fraction < 1:
        raise ValueError("fraction must be in [0, 1)")
    heldout = np.random.default_rng(seed).random(len(items)) < fraction
    return ([item for item, out in zip(items, heldout) if not out],
            [item for item, out in zip(items, heldout) if out])


# --------------------------------------------------------------------------- stage 1

class AugmentedBatch(NamedTuple):
    waves: list            # 2 stretched versions of each chosen VAD: [v0 a, v0 b, v1 a, v1 b, ...]
    spans: np.ndarray      # (pairs, 2, 3) int64: (wave index, first frame, end frame) of each side
    factors: list          # tempo factor of each wave
    sources: list = []     # the VAD each wave was read from


@dataclass(frozen=True)
class AugmentationSettings:
    pairs_per_batch: int = STAGES["init"].pairs_per_batch
    min_vads_per_speaker: int = 20
    min_vad_duration: float = 1.2
    max_vads_per_batch: int = 20
    max_batch_duration: float = MAX_BATCH_DURATION
    min_stretch: float = 0.5
    max_stretch: float = 1.8
    effects: Effects = Effects()
    frame_rate: int = FRAME_RATE


class AugmentationSampler:
    """Stage 1 batches: positive pairs from ONE speaker, so negatives share the speaker.

    A speaker is drawn with probability proportional to its number of usable VADs (at least
    ``min_vad_duration`` long; only speakers with ``min_vads_per_speaker`` of them take part).
    Its VADs are taken in random order, up to ``max_vads_per_batch``, stopping once they pass
    ``max_batch_duration`` seconds. Each is read (no extra context: the stretched audio is
    what the front-end sees) and stretched twice with independent tempo factors drawn uniformly
    in ``[min_stretch, max_stretch]``. The candidate spans are the step-2 segments (docs/method.md) of the
    chosen VADs; ``pairs_per_batch`` of them are drawn, and span ``[a, b]`` (seconds from the
    VAD start) becomes frames ``round(a / f * rate) .. round(b / f * rate)`` of the version
    stretched by ``f``.
    """

    def __init__(self, vads: Sequence[Vad], corpus_root: str | os.PathLike,
                 settings: AugmentationSettings = AugmentationSettings()) -> None:
        self.corpus_root = Path(corpus_root)
        self.settings = settings
        by_speaker: dict[str, list[Vad]] = defaultdict(list)
        for vad in vads:
            if vad.duration >= settings.min_vad_duration:
                by_speaker[vad.speaker].append(vad)
        self.speakers = sorted(s for s, v in by_speaker.items() if len(v) >= settings.min_vads_per_speaker)
        if not self.speakers:
            raise UserError(f"no speaker has {settings.min_vads_per_speaker} VADs of at least "
                            f"{settings.min_vad_duration:g} s, which stage 1 needs to build a batch "
                            f"(the VAD list has {len(vads)} VADs, {len(by_speaker)} speakers with long ones)")
        self.vads = {speaker: by_speaker[speaker] for speaker in self.speakers}
        counts = np.array([len(self.vads[s]) for s in self.speakers], dtype=np.float64)
        self.speaker_probabilities = counts / counts.sum()

    def choose_vads(self, rng: np.random.Generator) -> list[Vad]:
        speaker = self.speakers[rng.choice(len(self.speakers), p=self.speaker_probabilities)]
        chosen, total = [], 0.0
        for index in rng.permutation(len(self.vads[speaker]))[:self.settings.max_vads_per_batch]:
            chosen.append(self.vads[speaker][index])
            total += chosen[-1].duration
            if total > self.settings.max_batch_duration:
                break
        return chosen

    def draw(self, rng: np.random.Generator) -> AugmentedBatch:
        settings = self.settings
        chosen = self.choose_vads(rng)
        spans_drawn = draw_spans([grid_steps(vad.duration) for vad in chosen], settings.pairs_per_batch, rng)

        waves, factors, sources = [], [], []
        for vad in chosen:
            samples = read_audio(self.corpus_root / vad.wav, vad.start, vad.end)
            for _ in range(2):
                factor = rng.uniform(settings.min_stretch, settings.max_stretch)
                waves.append(augment(samples, factor, rng, settings.effects))
                factors.append(factor)
                sources.append(vad)

        spans = np.zeros((len(spans_drawn), 2, 3), dtype=np.int64)
        for row, (k, first, length) in enumerate(spans_drawn):
            start, end = first * GRID, (first + length) * GRID
            for side in range(2):
                wave = 2 * k + side
                a = int(round(start / factors[wave] * settings.frame_rate))
                b = max(a + 1, int(round(end / factors[wave] * settings.frame_rate)))
                spans[row, side] = (wave, a, b)
        return AugmentedBatch(waves, spans, factors, sources)


# --------------------------------------------------------------------------- stages 2 and 3

class PairSampler:
    """Stage 2 batches: ``pairs_per_batch`` distinct pairs of the mined list, uniformly.

    Pairs whose two segments come from the same file are not trained on (docs/method.md, step 7).
    """

    def __init__(self, pairs: Sequence[Pair], pairs_per_batch: int = STAGES["iteration"].pairs_per_batch) -> None:
        self.pairs = [(Span(p.wav1, p.start1, p.end1), Span(p.wav2, p.start2, p.end2))
                      for p in pairs if p.wav1 != p.wav2]
        self.dropped_same_file = len(pairs) - len(self.pairs)
        if not self.pairs:
            raise UserError("the pair list has no pair across two different files to train on")
        self.pairs_per_batch = pairs_per_batch

    def draw(self, rng: np.random.Generator) -> list[tuple[Span, Span]]:
        picks = rng.choice(len(self.pairs), size=min(self.pairs_per_batch, len(self.pairs)), replace=False)
        return [self.pairs[i] for i in picks]


class StretchedPairSampler:
    """Stage 2 batches whose mined pairs are time-stretched, as stage 1 stretches its pairs
    (not in the paper; ``iteration.sh`` with ``SSE_STRETCH_PAIRS=N``, docs/iteration.md).

    A segment's nearest neighbour is the positive the mining model already agrees with most, so
    a fresh model learns little from mined pairs as they are. Here each side of a drawn pair is
    read from one of the ``store.versions`` time-stretched versions of its VAD, drawn
    independently for each side (``store``: a :class:`sse.method.stretch_store.StretchStore`, whose
    frames were computed once). Pairs come from :class:`PairSampler` (same-file pairs excluded).
    """

    def __init__(self, pairs: Sequence[Pair], store, pairs_per_batch: int = STAGES["iteration"].pairs_per_batch) -> None:
        self.pairs = PairSampler(pairs, pairs_per_batch)
        self.store = store

    def draw(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """The frames of both sides of every drawn pair."""
        drawn = self.pairs.draw(rng)
        versions = rng.integers(self.store.versions, size=(len(drawn), 2))
        return [tuple(self.store.frames(*span, int(version)) for span, version in zip(pair, chosen))
                for pair, chosen in zip(drawn, versions)]


class LabelBatch(NamedTuple):
    pairs: list            # (Span, Span) of each pair
    labels: np.ndarray     # (pairs,) int64: the label index of each pair


class LabelSampler:
    """Stage 3 batches: labels drawn in proportion to their counts, two distinct tokens each.

    Only labels with at least two tokens take part. Labels are drawn with replacement, so a
    batch always has ``pairs_per_batch`` pairs, even with a vocabulary of ten words; two pairs
    of one label must then not serve as each other's negatives, which the loss masks using
    :attr:`LabelBatch.labels`.
    """

    def __init__(self, segments: Sequence[Segment], pairs_per_batch: int = STAGES["gold"].pairs_per_batch) -> None:
        tokens: dict[str, list[Span]] = defaultdict(list)
        for segment in segments:
            if segment.transcription is None:
                raise UserError(f"segment {segment.wav} [{segment.start}, {segment.end}] has no "
                                f"transcription; the weakly supervised stage needs labelled segments")
            tokens[segment.transcription].append(Span(segment.wav, segment.start, segment.end))
        self.labels = sorted(label for label, spans in tokens.items() if len(spans) >= 2)
        if not self.labels:
            raise UserError("no transcription occurs twice, so there is no positive pair to train on")
        self.tokens = [tokens[label] for label in self.labels]
        counts = np.array([len(spans) for spans in self.tokens], dtype=np.float64)
        self.probabilities = counts / counts.sum()
        self.pairs_per_batch = pairs_per_batch

    def draw(self, rng: np.random.Generator) -> LabelBatch:
        labels = rng.choice(len(self.labels), size=self.pairs_per_batch, replace=True, p=self.probabilities)
        pairs = []
        for label in labels:
            first, second = rng.choice(len(self.tokens[label]), size=2, replace=False)
            pairs.append((self.tokens[label][first], self.tokens[label][second]))
        return LabelBatch(pairs, labels.astype(np.int64))


def batch_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of batch ``index`` of ``epoch`` (``stream`` separates training and validation)."""
    return np.random.default_rng([seed, stream, epoch, index])

