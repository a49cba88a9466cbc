"""Shared fixtures: a tiny fairseq wav2vec 2.0 checkpoint and a small spoken-word corpus."""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import soundfile
import torch

from sse.core import progress
from sse.core.testing import save_tiny_wav2vec2
from sse.inference.checkpoint import save_encoder
from sse.method.model import SSEEncoder
from tests.helpers import MFCC_DESCRIPTION, run_script

WORDS = ("window", "garden", "yellow", "market")
VOICES = ("en-us+m1", "en-gb+f2", "en-us+m3", "en-gb-scotland+f1")


def pytest_configure(config):
    # fairseq 0.12 builds wav2vec2 with the deprecated weight_norm; not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore:.*weight_norm.*:FutureWarning")


class WordCorpus(NamedTuple):
    root: Path        # corpus root (--path_wavs)
    vads: Path        # VAD list, one VAD per file
    segments: Path    # labelled segment list: each word as a whole and its first 0.16 s
    labels: list      # the segment list's transcriptions, in order


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory) -> Path:
    return Path(save_tiny_wav2vec2(tmp_path_factory.mktemp("w2v") / "tiny_wav2vec2.pt"))


def _speak(voice: str, text: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)


@pytest.fixture(scope="session")
def word_corpus(tmp_path_factory) -> WordCorpus:
    """Four words said by four espeak-ng voices, one file each, 0.3 s of low noise around the word.

    espeak-ng writes 22.05 kHz, so everything reading this corpus also exercises resampling.
    """
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: run `bash install.sh --dev`")
    root = tmp_path_factory.mktemp("word_corpus")
    rng = np.random.default_rng(0)
    vad_lines, segment_lines, labels = [], [], []
    for speaker, voice in enumerate(VOICES):
        folder = root / f"spk{speaker}"
        folder.mkdir()
        for word in WORDS:
            raw = root / "raw.wav"
            _speak(voice, word, raw)
            samples, rate = soundfile.read(raw, dtype="float32")
            voiced = np.flatnonzero(np.abs(samples) > 0.02)
            samples = samples[voiced[0]:voiced[-1] + 1]
            pad = np.zeros(int(0.3 * rate), dtype=np.float32)
            audio = np.concatenate([pad, samples, pad]) + rng.normal(0, 1e-3, 2 * len(pad) + len(samples))
            name = f"spk{speaker}/{word}.wav"
            soundfile.write(root / name, audio.astype(np.float32), rate)
            duration = len(audio) / rate
            vad_start, vad_end = 0.2, round(duration - 0.2, 3)
            vad_lines.append(f"{name} spk{speaker} {vad_start} {vad_end}")
            word_start, word_end = 0.3, round(0.3 + len(samples) / rate, 3)
            segment_lines.append(f"{name} spk{speaker} {vad_start} {vad_end} {word_start} {word_end} {word}")
            segment_lines.append(f"{name} spk{speaker} {vad_start} {vad_end} {word_start} "
                                 f"{word_start + 0.16:.2f} {word}_onset")
            labels += [word, f"{word}_onset"]
            raw.unlink()
    (root / "vads").write_text("\n".join(vad_lines) + "\n")
    (root / "segments").write_text("\n".join(segment_lines) + "\n")
    return WordCorpus(root, root / "vads", root / "segments", labels)


@pytest.fixture
def restore_logging():
    """Scripts run in this process set up logging; undo it so later tests see pytest's own."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    progress.configure(quiet=False)


@pytest.fixture(scope="module")
def mining_inputs(word_corpus, tmp_path_factory):
    """The word corpus's segments, their MFCC feature store, and a random model (model.pt) to mine with."""
    folder = tmp_path_factory.mktemp("mining")
    run_script("make_segments.py", word_corpus.vads, folder / "segments", check=True)
    run_script("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads", word_corpus.vads,
               "--output_dir", folder / "features", "--frontend", "mfcc", check=True)
    torch.manual_seed(0)
    save_encoder(folder / "model.pt", SSEEncoder(input_dim=78), MFCC_DESCRIPTION)
    return folder
