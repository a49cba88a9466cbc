"""recipe.sh's options and what it checks before any work: stage numbers, settings, the speaker
regex of stage 0, and what a corpus without a benchmark or labels is told. No training here."""
from __future__ import annotations

import os
import subprocess

import pytest

from sse.frames.formats import read_vad_list
from tests.helpers import DATA, REPO


def recipe(*args, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "recipe.sh"), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "SSE_DEVICE": "cpu", "TQDM_DISABLE": "1", **(env or {})},
                          timeout=timeout)


def one_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def corpus(tmp_path):
    """A flat folder of 4 isolated digits of 2 speakers (tests/data/fsdd: {digit}_{speaker}_{take}.wav)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for speaker in ("george", "jackson"):
        for take in (0, 1):
            name = f"{take}_{speaker}_{take}.wav"
            (folder / name).write_bytes((DATA / "fsdd" / name).read_bytes())
    return folder


@pytest.mark.parametrize("options, message", [
    (["--stage", "9"], "--stage 9: there is no such stage (they are 0 to 8)"),
    (["--stage=9"], "--stage 9: there is no such stage"),
    (["--stop-stage=12"], "--stop-stage 12: there is no such stage"),
    (["--stage", "5", "--stop-stage", "3"], "--stage 5 comes after --stop-stage 3: no stage to run"),
    (["--stage=5", "--stop_stage=3"], "--stage 5 comes after --stop-stage 3"),
    (["--iterations=two"], "two is not a whole number"),
])
def test_stage_numbers_are_checked(options, message, corpus, tmp_path):
    one_error(recipe(*options, corpus, tmp_path / "exp"), message)
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("variable, value, message", [
    ("SSE_DEVICE", "gpu", "SSE_DEVICE=gpu is not a device name (cpu, cuda, cuda:N, mps)"),
    ("SSE_MAX_BATCH_DURATION", "inf", "SSE_MAX_BATCH_DURATION=inf is not a finite number >= 0"),
    ("SSE_MAX_BATCH_DURATION", "nan", "SSE_MAX_BATCH_DURATION=nan is not a finite number >= 0"),
    ("SSE_VAD_ARGS", "--speaker_regex '(a", "SSE_VAD_ARGS=--speaker_regex '(a: No closing quotation"),
])
def test_settings_are_checked_before_stage_0(variable, value, message, corpus, tmp_path):
    one_error(recipe(corpus, tmp_path / "exp", env={variable: value}), message)
    assert not (tmp_path / "exp").exists()  # no VAD list, nothing else


def test_the_speaker_regex_reaches_stage_0_quoted_or_not(corpus, tmp_path):
    # The `=` form of the options, as the scripts take them.
    quoted = recipe("--stop-stage=0", corpus, tmp_path / "a",
                    env={"SSE_VAD_ARGS": "--speaker_regex '^[0-9]_(?P<speaker>[a-z]+)_' --num_workers 1"})
    assert quoted.returncode == 0, quoted.stderr
    assert {v.speaker for v in read_vad_list(tmp_path / "a" / "vads")} == {"george", "jackson"}
    plain = recipe("--stop-stage", "0", corpus, tmp_path / "b", env={"SSE_SPEAKER_REGEX": r"_([a-z]+)_[0-9]+\.wav$"})
    assert plain.returncode == 0, plain.stderr
    assert {v.speaker for v in read_vad_list(tmp_path / "b" / "vads")} == {"george", "jackson"}


def test_without_a_benchmark_or_labels_the_recipe_says_to_continue_with_stage_4(tmp_path):
    env = {"SSE_VADS": str(REPO / "training_data" / "demo-vads"), "SSE_FRONTEND": "mfcc"}
    # Stage 2 cannot make a benchmark, stage 3 no labels.
    one_error(recipe("--stage=2", "--stop-stage=2", REPO, tmp_path / "exp", env=env),
              "no benchmark to score the models on", "continue with --stage 4 to train the unsupervised models only")
    one_error(recipe("--stage=3", "--stop-stage=3", REPO, tmp_path / "exp", env=env),
              "no labels for the weakly supervised model", "continue with --stage 4")


def test_from_stage_4_without_them_isolated_words_stop_before_the_features(tmp_path):
    words = tmp_path / "words"
    words.write_text("".join(f"w/{i}.wav george 0 0.45\n" for i in range(60)))
    result = recipe("--stage", "4", REPO, tmp_path / "exp", env={"SSE_VADS": str(words), "SSE_FRONTEND": "mfcc"})
    # No benchmark: models selected by held-out loss, no MAP table; no labels: no stage 7.
    assert "no benchmark" in result.stdout and "selected by held-out loss" in result.stdout, result.stdout
    assert "stage 7, the weakly supervised model, is skipped" in result.stdout
    # Stage 1 could not draw a batch from these VADs: said before the features, with the fix.
    one_error(result, "stage 1 needs speakers with 20 VADs of at least 1.2 s", "utils/make_word_corpus.py",
              "once 5% are held out for loss validation")
    assert not (tmp_path / "exp" / "features").exists()
