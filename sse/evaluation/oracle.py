"""Oracle pair lists: positive pairs made from gold word (or n-gram) tokens instead of k-NN search.

They answer which property of mined pairs costs the most when a model is trained on them: that
the sides are grid segments rather than whole words, that most pairs join a speaker with
themself, or that some pairs are wrong. :func:`oracle_pairs` makes a pair list of a given size
with each of these properties set at will, in the pair-list format, so the stage-2 task trains
on it unchanged (``bench/iteration_lab.py`` compares them).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from sse.core.errors import UserError
from sse.evaluation.pair_quality import Labeller
from sse.frames.formats import Pair, Segment


def label_grid_segments(segments: Sequence[Segment], tokens: Sequence[Segment], min_iou: float = 0.5) -> list:
    """Each segment's label: the token it overlaps most, if their intersection over union reaches
    ``min_iou`` (the rule of :func:`sse.evaluation.pair_quality.pair_quality`), else None."""
    labeller = Labeller(tokens, min_iou)
    return [labeller.label(s.wav, s.start, s.end) for s in segments]


def oracle_pairs(candidates: Sequence[Segment], count: int, same_speaker_share: float | None = None,
                 wrong_share: float = 0.0, seed: int = 0) -> list[Pair]:
    """``count`` pairs of labelled ``candidates`` (segments with a transcription) from two files.

    A pair draws a label in proportion to its number of candidates, then two candidates of it
    from different files. With ``same_speaker_share`` set, that share of the pairs (in
    expectation) joins two candidates of one speaker, the rest two different speakers (a label
    lacking such a pair is drawn again); without it, the two are drawn regardless of speaker.
    ``wrong_share`` of the pairs (in expectation) then get, as second side, a candidate of
    another label, under the same speaker rule: the errors of a miner.
    """
    by_label: dict[str, list[Segment]] = defaultdict(list)
    for segment in candidates:
        if segment.transcription is not None:
            by_label[segment.transcription].append(segment)
    labels = sorted(label for label, members in by_label.items() if len({m.wav for m in members}) >= 2)
    if not labels:
        raise UserError("no label has candidates in two different files: no oracle pair can be made")
    weights = np.array([len(by_label[label]) for label in labels], dtype=np.float64)
    weights /= weights.sum()
    everything = [s for label in labels for s in by_label[label]]
    rng = np.random.default_rng(seed)

    def partner(first: Segment, pool: Sequence[Segment], same_speaker: bool | None, label: str | None):
        """A random member of ``pool`` from another file that meets the speaker rule (and, with
        ``label``, has another label); None if 64 draws find none."""
        for _ in range(64):
            second = pool[rng.integers(len(pool))]
            if (second.wav != first.wav and (label is None or second.transcription != label)
                    and (same_speaker is None or (second.speaker == first.speaker) == same_speaker)):
                return second
        return None

    pairs: list[Pair] = []
    attempts = 0
    while len(pairs) < count:
        attempts += 1
        if attempts > 100 * count + 1000:
            raise UserError(f"could make only {len(pairs)} of {count} oracle pairs with these constraints")
        label = labels[rng.choice(len(labels), p=weights)]
        first = by_label[label][rng.integers(len(by_label[label]))]
        same_speaker = None if same_speaker_share is None else bool(rng.random() < same_speaker_share)
        if rng.random() < wrong_share:
            second = partner(first, everything, same_speaker, label)
        else:
            second = partner(first, by_label[label], same_speaker, None)
        if second is None:
            continue
        pairs.append(Pair(first.wav, first.speaker, first.start, first.end,
                          second.wav, second.speaker, second.start, second.end, 1.0))
    return pairs
