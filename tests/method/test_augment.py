import numpy as np
import pytest

from sse.method.augment import Effects, augment, time_stretch
from tests.helpers import dominant_frequency

RATE = 16000


def harmonic_tone(seconds=2.0, f0=220.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(2 * np.pi * 2 * f0 * t)).astype(np.float32)


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.3, 1.8])
def test_time_stretch_changes_duration_and_keeps_pitch(factor):
    tone = harmonic_tone()
    stretched = time_stretch(tone, factor)
    assert len(stretched) / len(tone) == pytest.approx(1 / factor, rel=0.02)
    middle = stretched[len(stretched) // 4: 3 * len(stretched) // 4]
    assert dominant_frequency(middle) == pytest.approx(220.0, rel=0.03)


def test_effects_are_off_by_default_and_each_does_something():
    # Broadband, so that a bass or a treble shelf both have something to change.
    tone = harmonic_tone() + np.random.default_rng(9).normal(0, 0.05, 32000).astype(np.float32)
    rng = np.random.default_rng(0)
    plain = augment(tone, 1.0, rng)
    np.testing.assert_allclose(plain, time_stretch(tone, 1.0), atol=1e-6)
    for name in ("pitch", "reverb", "noise", "echo", "bass_treble"):
        out = augment(tone, 1.0, np.random.default_rng(1), Effects.from_names([name]))
        assert np.isfinite(out).all() and abs(len(out) - len(tone)) < 0.02 * len(tone)
        assert not np.allclose(out[:len(plain)], plain[:len(out)], atol=1e-3), name
    with pytest.raises(ValueError, match="unknown effect"):
        Effects.from_names(["chorus"])


def test_noise_lands_between_20_and_30_db_snr():
    tone = harmonic_tone()
    clean = time_stretch(tone, 1.0)
    for seed in range(5):
        noisy = augment(tone, 1.0, np.random.default_rng(seed), Effects(noise=True))
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
        assert 19.5 < snr < 30.5


def test_pitch_shift_stays_within_300_cents():
    tone = harmonic_tone()
    for seed in range(6):
        shifted = augment(tone, 1.0, np.random.default_rng(seed), Effects(pitch=True))
        cents = 1200 * np.log2(dominant_frequency(shifted[4000:-4000]) / 220.0)
        assert abs(cents) <= 320
