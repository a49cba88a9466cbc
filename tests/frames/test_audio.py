import numpy as np
import pytest
import soundfile

from sse.core.errors import UserError
from sse.frames.audio import SAMPLE_RATE, audio_info, find_audio_files, read_audio


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
def test_reads_any_rate_as_16k_mono(tmp_path, rate):
    t = np.arange(2 * rate) / rate
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)
    soundfile.write(tmp_path / "x.wav", np.stack([left, right], 1).astype(np.float32) * 0.4, rate)
    samples = read_audio(tmp_path / "x.wav", 0.5, 1.5)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - SAMPLE_RATE) <= 2
    # Averaging the channels keeps both tones at half amplitude.
    spectrum = np.abs(np.fft.rfft(samples)) / len(samples) * 2
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    for tone in (440, 1000):
        assert spectrum[np.abs(freqs - tone).argmin()] == pytest.approx(0.2, rel=0.05)


def test_slice_is_the_right_part_of_the_file(tmp_path):
    ramp = (np.arange(3 * SAMPLE_RATE) / (3 * SAMPLE_RATE)).astype(np.float32)
    soundfile.write(tmp_path / "ramp.flac", ramp, SAMPLE_RATE, subtype="PCM_24")
    samples = read_audio(tmp_path / "ramp.flac", 1.0, 2.0)
    assert samples[0] == pytest.approx(1 / 3, abs=1e-4)
    assert samples[-1] == pytest.approx(2 / 3, abs=1e-4)
    assert audio_info(tmp_path / "ramp.flac").duration == pytest.approx(3.0)


def test_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "garbage.wav").write_bytes(b"this is not audio" * 100)
    with pytest.raises(UserError, match="cannot read audio"):
        read_audio(tmp_path / "garbage.wav")
    soundfile.write(tmp_path / "short.wav", np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    with pytest.raises(UserError, match="goes past the end of the file"):
        read_audio(tmp_path / "short.wav", 0.5, 1.2)
    assert len(read_audio(tmp_path / "short.wav", 0.5, 1.005)) == SAMPLE_RATE // 2  # within tolerance


def test_find_audio_files(tmp_path):
    for name in ("b/2.flac", "a/1.wav", "a/notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert find_audio_files(tmp_path) == ["a/1.wav", "b/2.flac"]
