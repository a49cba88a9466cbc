"""Waveform augmentation for stage 1 (docs/method.md, step 6): tempo stretch, and optional effects.

Time-stretching keeps the pitch (Rubber Band through pedalboard). The other effects are off by
default, as in the paper's recipe, and each is drawn at random when on: pitch shift within
+-300 cents, reverb, additive white noise at 20-30 dB SNR, echo, and a bass or treble shelf
boost/cut of up to 6 dB. The pitch shift moves the formants with the pitch, as sox's ``pitch``
effect in the paper's augmentation chain does: a shorter or longer vocal tract as well as a
higher or lower voice.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sse.defaults import EFFECTS
from sse.frames.audio import SAMPLE_RATE


def time_stretch(samples: np.ndarray, factor: float, pitch_semitones: float = 0.0) -> np.ndarray:
    """Change the tempo by ``factor`` (> 1 is faster, so shorter) keeping the pitch; with
    ``pitch_semitones``, shift the pitch and the spectral envelope (formants) with it."""
    import pedalboard  # noqa: PLC0415

    stretched = pedalboard.time_stretch(np.ascontiguousarray(samples, dtype=np.float32)[None], SAMPLE_RATE,
                                        stretch_factor=float(factor),
                                        pitch_shift_in_semitones=float(pitch_semitones),
                                        preserve_formants=not pitch_semitones)
    return np.ascontiguousarray(stretched[0], dtype=np.float32)


@dataclass(frozen=True)
class Effects:
    """Which optional effects are on; each applies with a random setting per waveform."""

    pitch: bool = False
    reverb: bool = False
    noise: bool = False
    echo: bool = False
    bass_treble: bool = False

    @classmethod
    def from_names(cls, names) -> "Effects":
        unknown = set(names) - set(EFFECTS)
        if unknown:
            raise ValueError(f"unknown effect(s) {sorted(unknown)}; choose from {', '.join(EFFECTS)}")
        return cls(**{name: True for name in names})

    def any(self) -> bool:
        return any((self.pitch, self.reverb, self.noise, self.echo, self.bass_treble))


def augment(samples: np.ndarray, factor: float, rng: np.random.Generator,
            effects: Effects = Effects()) -> np.ndarray:
    """Stretch by ``factor`` and apply the chosen effects with settings drawn from ``rng``."""
    pitch = rng.uniform(-3.0, 3.0) if effects.pitch else 0.0
    out = time_stretch(samples, factor, pitch)
    board = []
    if effects.reverb or effects.echo or effects.bass_treble:
        import pedalboard  # noqa: PLC0415

        if effects.bass_treble:
            gain = rng.uniform(-6.0, 6.0)
            board.append(pedalboard.LowShelfFilter(cutoff_frequency_hz=250.0, gain_db=gain)
                         if rng.random() < 0.5 else
                         pedalboard.HighShelfFilter(cutoff_frequency_hz=3000.0, gain_db=gain))
        if effects.echo:
            board.append(pedalboard.Delay(delay_seconds=rng.uniform(0.05, 0.25),
                                          feedback=rng.uniform(0.0, 0.4), mix=rng.uniform(0.1, 0.4)))
        if effects.reverb:
            board.append(pedalboard.Reverb(room_size=rng.uniform(0.1, 0.9), wet_level=rng.uniform(0.1, 0.4),
                                           dry_level=1.0 - rng.uniform(0.0, 0.3)))
        out = pedalboard.Pedalboard(board)(out[None], SAMPLE_RATE)[0].astype(np.float32)
    if effects.noise:
        power = float(np.mean(out ** 2)) + 1e-12
        snr_db = rng.uniform(20.0, 30.0)
        out = out + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(out)).astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)
