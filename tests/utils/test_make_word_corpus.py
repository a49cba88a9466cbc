"""make_word_corpus.py says when a speaker gets fewer sessions than stage 1 needs, and how many
recordings would give enough."""
from __future__ import annotations

import re

import numpy as np
import soundfile

from sse.frames.formats import read_vad_list
from sse.method.sampling import AugmentationSettings
from tests.helpers import DATA, NO_PROGRESS, run_script

RULE = AugmentationSettings()


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "WARNING" in line]


def test_too_few_sessions_for_stage1_are_a_warning_with_the_recordings_needed(tmp_path):
    # tests/data/fsdd: 50 takes of each of 3 speakers; 40 left for training make 5-8 sessions each.
    result = run_script("make_word_corpus.py", "--path_wavs", DATA / "fsdd", "--output", tmp_path / "corpus",
                        env=NO_PROGRESS, check=True)
    [warning] = warnings(result.stderr)
    long = {speaker: sum(v.duration >= RULE.min_vad_duration for v in read_vad_list(tmp_path / "corpus" / "vads")
                         if v.speaker == speaker) for speaker in ("george", "jackson", "lucas")}
    assert all(count < RULE.min_vads_per_speaker for count in long.values())
    assert (f"stage 1 needs {RULE.min_vads_per_speaker} sessions of at least {RULE.min_vad_duration:g} s from a "
            "speaker, and 3 of 3 speakers have fewer") in warning
    assert "so stage 1 cannot train on this corpus" in warning
    for speaker, count in long.items():
        needed = re.search(rf"{speaker} {count} from 50 recordings \(about (\d+) would give enough\)", warning)
        assert needed, warning
        # The estimate keeps the words a session and the held-out share: it would make enough sessions.
        assert int(needed.group(1)) * 0.8 / (40 / count) >= RULE.min_vads_per_speaker


def test_enough_sessions_are_no_warning(tmp_path):
    """One speaker of 60 words of 0.7 s: two words a session make 24 sessions of 1.5 s and more."""
    words = tmp_path / "words"
    words.mkdir()
    rng = np.random.default_rng(0)
    for take in range(60):
        tone = 0.3 * np.sin(2 * np.pi * (200 + 30 * (take % 10)) * np.arange(11200) / 16000)
        soundfile.write(str(words / f"{take % 10}_ann_{take}.wav"), tone + rng.normal(0, 0.01, 11200), 16000)
    result = run_script("make_word_corpus.py", "--path_wavs", words, "--output", tmp_path / "corpus",
                        "--min_words", "2", "--max_words", "2", env=NO_PROGRESS, check=True)
    assert warnings(result.stderr) == [], result.stderr
    vads = read_vad_list(tmp_path / "corpus" / "vads")
    assert sum(v.duration >= RULE.min_vad_duration for v in vads) >= RULE.min_vads_per_speaker
