import numpy as np
import pytest

from sse.method.augment import Effects, augment, time_stretch
from tests.helpers import dominant_frequency

RATE = 16000


def harmonic_tone(seconds=2.0, f0=220.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(2 * np.pi * 2 * f0 * t)).astype(np.float32)


def vowel(seconds=2.0, f0=110.0, formant=1000.0, bandwidth=80.0):
    """A pulse train at ``f0`` through one resonance at ``formant``: a voice with one formant."""
    source = np.zeros(int(seconds * RATE))
    source[::int(RATE / f0)] = 1.0
    radius, angle = np.exp(-np.pi * bandwidth / RATE), 2 * np.pi * formant / RATE
    out, last, before = np.zeros_like(source), 0.0, 0.0
    for i, x in enumerate(source):  # y[n] = x[n] + 2 r cos(w) y[n-1] - r^2 y[n-2]
        out[i] = x + 2 * radius * np.cos(angle) * last - radius ** 2 * before
        last, before = out[i], last
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def spectral_centroid(samples, low=300.0, high=3000.0):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    frequencies = np.fft.rfftfreq(len(samples), 1 / RATE)
    band = (frequencies > low) & (frequencies < high)
    return float((spectrum[band] * frequencies[band]).sum() / spectrum[band].sum())


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


def test_pitch_shift_moves_the_formants_with_the_pitch():
    """As sox's pitch effect in the paper's augmentation chain does (a vocal tract of another
    length, not only another voice pitch); Rubber Band's formant-preserving shift leaves the
    envelope near where it was (measured: +3 semitones move it by +0.7, -3 by +0.3)."""
    voice = vowel()
    before = spectral_centroid(voice[4000:-4000])
    checked = 0
    for seed in range(8):
        semitones = np.random.default_rng(seed).uniform(-3.0, 3.0)  # augment's first draw
        if abs(semitones) < 1.0:
            continue
        shifted = augment(voice, 1.0, np.random.default_rng(seed), Effects(pitch=True))
        moved = 12 * np.log2(spectral_centroid(shifted[4000:-4000]) / before)
        assert np.sign(moved) == np.sign(semitones) and abs(moved) >= abs(semitones) / 2, (semitones, moved)
        checked += 1
    assert checked >= 4
