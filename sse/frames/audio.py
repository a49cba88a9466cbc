"""Reading audio: any file soundfile can open, returned as 16 kHz mono float32."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile

from sse.core.errors import UserError

SAMPLE_RATE = 16000
#: How far (seconds) a requested end may pass the end of the file before it is an error;
#: times written with millisecond precision can overshoot by a hair.
END_TOLERANCE = 0.010

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph", ".aiff", ".aif")


class AudioInfo(NamedTuple):
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, channel count and length of a file, without reading its samples."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such audio file")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise UserError(f"{path}: cannot read audio ({error})") from None
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) of a mono float32 signal."""
    if source_rate == target_rate:
        return samples
    import soxr  # noqa: PLC0415  (most corpora are already at 16 kHz)
    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32)


def read_audio(path: str | os.PathLike, start: float | None = None, end: float | None = None,
               info: AudioInfo | None = None) -> np.ndarray:
    """Samples of ``[start, end]`` seconds of ``path`` (whole file by default), 16 kHz mono float32.

    Other rates are resampled and channels averaged. A time before 0 or past the end of the
    file (beyond :data:`END_TOLERANCE`) is a :class:`UserError`.
    """
    info = info or audio_info(path)
    start = 0.0 if start is None else float(start)
    end = info.duration if end is None else float(end)
    if start < 0 or not start < end:
        raise UserError(f"{path}: cannot read [{start:.3f}, {end:.3f}] s: not a valid time span")
    if end > info.duration + END_TOLERANCE:
        raise UserError(f"{path}: [{start:.3f}, {end:.3f}] s goes past the end of the file "
                        f"({info.duration:.3f} s)")
    first = int(round(start * info.sample_rate))
    last = min(int(round(end * info.sample_rate)), info.frames)
    try:
        samples, rate = soundfile.read(str(path), start=first, stop=last, dtype="float32",
                                       always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise UserError(f"{path}: cannot read audio ({error})") from None
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return resample(np.ascontiguousarray(mono, dtype=np.float32), rate)


def find_audio_files(root: str | os.PathLike, extensions=AUDIO_EXTENSIONS) -> list[str]:
    """Paths (relative to ``root``, sorted) of every audio file below ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder")
    found = [path.relative_to(root).as_posix() for path in root.rglob("*")
             if path.suffix.lower() in extensions and path.is_file()]
    return sorted(found)
