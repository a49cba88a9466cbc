"""Cepstral mean and variance normalisation (CMVN) of frames, per utterance or per speaker.

Three modes (``--cmvn``, ``SSE_CMVN``; recorded in every front-end description):

* ``none``: frames as the front-end gives them;
* ``utterance``: each VAD (or stretched waveform) normalised by its own frames' mean and
  standard deviation, per dimension. An isolated word is then normalised by itself, which
  removes the word's own mean spectrum;
* ``speaker``: every frame of a speaker normalised by the mean and standard deviation of all
  frames of that speaker's VADs in the list being processed (Kaldi's usual practice). It removes
  the voice and the channel and keeps the word.

Per-speaker statistics are sums (count, sum, sum of squares, in float64), so statistics computed
on separate shards of a list add up to those of the whole list (:meth:`SpeakerStats.merge`).
They are saved as a ``.npz`` of plain arrays (no pickle).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from sse.core.errors import UserError
from sse.core.files import atomic_open
from sse.frames.formats import NO_SPEAKER, Vad

MIN_STD = 1e-5  # a dimension that does not vary (one frame, digital silence) is centred, not divided by ~0


def apply_cmvn(frames: torch.Tensor) -> torch.Tensor:
    """Per-dimension mean and variance normalisation over all frames of one waveform or VAD."""
    if len(frames) == 0:
        return frames
    mean = frames.mean(0, keepdim=True)
    std = frames.std(0, unbiased=False, keepdim=True)
    return (frames - mean) / std.clamp(min=MIN_STD)


def stats_key(vad: Vad) -> str:
    """Whose statistics normalise a VAD's frames: its speaker, or its file when the list names
    no speaker (plain ``<wav> <start> <end>`` lines)."""
    return vad.wav if vad.speaker == NO_SPEAKER else vad.speaker


class SpeakerStats:
    """Per-speaker frame statistics: ``add`` frames, then ``normalize`` a speaker's frames.

    >>> stats = SpeakerStats(2)
    >>> stats.add("ann", np.array([[1.0, 10.0], [3.0, 20.0]]))
    >>> stats.add("bob", np.array([[0.0, 5.0]]))
    >>> stats.add("ann", np.array([[5.0, 30.0]]))       # every frame of ann counts, in any order
    >>> [values.round(3).tolist() for values in stats.mean_std("ann")]
    [[3.0, 20.0], [1.633, 8.165]]
    >>> stats.normalize("ann", np.array([[3.0, 20.0], [4.633, 28.165]])).round(2).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self.count: dict[str, float] = {}
        self.sum: dict[str, np.ndarray] = {}
        self.sumsq: dict[str, np.ndarray] = {}
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __contains__(self, speaker: str) -> bool:
        return speaker in self.count

    def __len__(self) -> int:
        return len(self.count)

    @property
    def speakers(self) -> list[str]:
        return sorted(self.count)

    def add(self, speaker: str, frames) -> None:
        """Count the frames (``(time, dim)``, numpy or torch) as ``speaker``'s."""
        if isinstance(frames, torch.Tensor):
            frames = frames.detach().float().cpu().numpy()
        frames = np.asarray(frames, dtype=np.float64)
        if frames.ndim != 2 or frames.shape[1] != self.dim:
            raise ValueError(f"expected (time, {self.dim}) frames, got {frames.shape}")
        if speaker not in self.count:
            self.count[speaker] = 0.0
            self.sum[speaker] = np.zeros(self.dim)
            self.sumsq[speaker] = np.zeros(self.dim)
        self.count[speaker] += len(frames)
        self.sum[speaker] += frames.sum(0)
        self.sumsq[speaker] += np.square(frames).sum(0)
        self._cache.pop(speaker, None)

    def merge(self, other: "SpeakerStats") -> "SpeakerStats":
        """Add ``other``'s sums to these (statistics of another shard of the same list)."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge {other.dim}-dim statistics into {self.dim}-dim ones")
        for speaker in other.count:
            if speaker not in self.count:
                self.count[speaker] = 0.0
                self.sum[speaker] = np.zeros(self.dim)
                self.sumsq[speaker] = np.zeros(self.dim)
            self.count[speaker] += other.count[speaker]
            self.sum[speaker] += other.sum[speaker]
            self.sumsq[speaker] += other.sumsq[speaker]
            self._cache.pop(speaker, None)
        return self

    def mean_std(self, speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and (population) standard deviation of ``speaker``'s frames, per dimension."""
        if speaker not in self._cache:
            if speaker not in self.count or self.count[speaker] == 0:
                raise UserError(f"no CMVN statistics for speaker {speaker!r} "
                                f"(statistics hold {len(self)} speakers: {', '.join(self.speakers[:5])}"
                                f"{'...' if len(self) > 5 else ''})")
            count = self.count[speaker]
            mean = self.sum[speaker] / count
            variance = np.maximum(self.sumsq[speaker] / count - np.square(mean), 0.0)
            self._cache[speaker] = (mean, np.sqrt(variance))
        return self._cache[speaker]

    def normalize(self, speaker: str, frames):
        """``speaker``'s frames, mean and variance normalised with its statistics (float32,
        numpy in numpy out, torch in torch out on the same device)."""
        mean, std = self.mean_std(speaker)
        scale = 1.0 / np.maximum(std, MIN_STD)
        if isinstance(frames, torch.Tensor):
            mean_t = torch.as_tensor(mean, dtype=torch.float32, device=frames.device)
            scale_t = torch.as_tensor(scale, dtype=torch.float32, device=frames.device)
            return (frames.float() - mean_t) * scale_t
        return ((np.asarray(frames, dtype=np.float32) - mean.astype(np.float32))
                * scale.astype(np.float32)).astype(np.float32)

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the sums as a ``.npz`` of plain arrays (atomically)."""
        speakers = self.speakers
        with atomic_open(Path(path), "wb") as out:
            np.savez(out, speakers=np.array(speakers, dtype=str),
                     count=np.array([self.count[s] for s in speakers], dtype=np.float64),
                     sum=np.array([self.sum[s] for s in speakers], dtype=np.float64).reshape(len(speakers), self.dim),
                     sumsq=np.array([self.sumsq[s] for s in speakers],
                                    dtype=np.float64).reshape(len(speakers), self.dim))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SpeakerStats":
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                speakers, count, sums, sumsq = (data["speakers"], data["count"], data["sum"], data["sumsq"])
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise UserError(f"{path}: not a CMVN statistics file ({type(error).__name__})") from None
        if sums.ndim != 2 or sums.shape != sumsq.shape or len(speakers) != len(count) != len(sums):
            raise UserError(f"{path}: damaged CMVN statistics (arrays of mismatched shapes)")
        stats = cls(sums.shape[1])
        for speaker, n, total, squares in zip(speakers.tolist(), count, sums, sumsq):
            stats.count[speaker], stats.sum[speaker], stats.sumsq[speaker] = float(n), total.copy(), squares.copy()
        return stats

    @classmethod
    def of(cls, frames_by_speaker: Iterable[tuple[str, np.ndarray]], dim: int) -> "SpeakerStats":
        """Statistics of ``(speaker, frames)`` items."""
        stats = cls(dim)
        for speaker, frames in frames_by_speaker:
            stats.add(speaker, frames)
        return stats
