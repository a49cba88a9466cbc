"""What the stage engine checks before any work (stage 1's VADs, the benchmark), the ``check`` step,
and the table without a benchmark; in-process, with a runner that records commands."""
from __future__ import annotations

from pathlib import Path

import pytest

from sse import defaults
from sse.core.errors import UserError
from sse.frames.formats import read_vad_list
from sse.method.sampling import AugmentationSettings, split_heldout
from sse.pipeline import stages

RULE = AugmentationSettings()


class Recorder(stages.Runner):
    """Records the scripts a step would run, runs none of them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def call(self, command):
        self.calls.append(Path(command[1]).name)

    def output(self, command):
        self.calls.append(Path(command[1]).name)
        return 0, "MAP 0.5\n", ""

    def train(self, command, log_file):
        self.calls.append("fairseq-train")
        return 1


def vad_list(path: Path, **durations: list[float]) -> Path:
    """A VAD list: for each speaker, one VAD of each duration (the audio is never read)."""
    path.write_text("".join(f"{speaker}/{i}.wav {speaker} 0 {duration}\n"
                            for speaker, values in durations.items() for i, duration in enumerate(values)))
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("benchmark").write_text("b.wav spk 0 1 0 1 a\n")
    return {"SSE_FRONTEND": "mfcc", "SSE_DEVICE": "cpu", "SSE_EXP": "exp", "SSE_BENCHMARK": "benchmark",
            "SSE_VADS": str(vad_list(tmp_path / "vads", george=[2.0] * 25, lucas=[1.5] * 25))}


def test_isolated_words_are_refused_before_any_work_with_the_fix(env, tmp_path):
    words = vad_list(tmp_path / "words", george=[0.45] * 50, lucas=[0.5] * 50)
    runner = Recorder()
    with pytest.raises(UserError) as refused:
        stages.run_training("init", ".", env=dict(env, SSE_VADS=str(words)), runner=runner)
    message = str(refused.value)
    assert f"needs speakers with {RULE.min_vads_per_speaker} VADs of at least {RULE.min_vad_duration:g} s" in message
    assert "none of its 100 VADs is that long (the longest: 0.50 s)" in message
    assert "utils/make_word_corpus.py" in message
    assert runner.calls == [] and not Path("exp").exists()  # no features, no stage folder
    # Some long VADs, too few of them: the counts, and both fixes.
    few = vad_list(tmp_path / "few", george=[2.0] * 12 + [0.4] * 30, lucas=[1.3] * 7)
    with pytest.raises(UserError, match=r"no speaker has that many: george 12, lucas 7; .*make_word_corpus.py.*"
                                        r"SSE_VAD_ARGS=\"--min_silence 0.5\""):
        stages.run_training("init", ".", env=dict(env, SSE_VADS=str(few)), runner=runner)
    # The iteration's augmentation half draws stage-1 pairs too; on mined pairs alone it needs none.
    with pytest.raises(UserError, match=r"the iteration's augmentation pairs .* need speakers with 20 VADs .*"
                                        r"\(SSE_AUGMENT_SHARE=0\)"):
        stages.check_stage1_vads(stages.resolve("iteration", dict(env, SSE_VADS=str(few))), "iteration")
    assert stages.check_stage1_vads(stages.resolve("iteration", dict(env, SSE_VADS=str(few), SSE_AUGMENT_SHARE="0")),
                                    "iteration") is None
    assert runner.calls == []


def test_the_stage1_check_follows_the_rule_fairseq_train_gets(env, tmp_path, capsys):
    few = str(vad_list(tmp_path / "few", george=[2.0] * 12, lucas=[1.3] * 7))
    settings = stages.resolve("init", dict(env, SSE_VADS=few, SSE_EXTRA_ARGS="--min-vads-per-speaker 10"))
    assert stages.check_stage1_vads(settings, "init") == ["george"]
    assert "1 speaker with fewer than 10 VADs of >= 1.2 s is left out: lucas" in capsys.readouterr().out
    settings = stages.resolve("init", dict(env, SSE_VADS=few, SSE_EXTRA_ARGS="--min-vads-per-speaker=5 "
                                                                              "--min-vad-duration=1.4"))
    assert stages.check_stage1_vads(settings, "init") == ["george"]
    # Without a benchmark, stage 1 holds out a share of the VADs for loss validation (drawn from the
    # seed): 20 are then not enough, when the seed draws any of them.
    exactly = vad_list(tmp_path / "exactly", george=[2.0] * RULE.min_vads_per_speaker)
    assert stages.check_stage1_vads(stages.resolve("init", dict(env, SSE_VADS=str(exactly))), "init") == ["george"]
    vads = read_vad_list(exactly)
    seed = next(seed for seed in range(100) if split_heldout(vads, defaults.HELDOUT_FRACTION, seed)[1])
    loss_validated = dict(env, SSE_VADS=str(exactly), SSE_BENCHMARK="", SSE_SEED=str(seed))
    with pytest.raises(UserError, match="once 5% are held out for loss validation"):
        stages.check_stage1_vads(stages.resolve("init", loss_validated), "init")


def test_a_missing_benchmark_is_refused_before_the_training_features(env):
    runner = Recorder()
    with pytest.raises(UserError, match="nowhere: no such benchmark"):
        stages.ensure_features(stages.resolve("features", dict(env, SSE_BENCHMARK="nowhere")), ".", runner)
    assert runner.calls == []


def test_the_check_step_checks_settings_and_the_vad_list_and_says_what_stage1_gets(env, tmp_path, capsys):
    stages.check(".", ["segments", "init", "gold", "table"], env)
    out = capsys.readouterr().out
    assert f"check: {tmp_path / 'vads'}: 50 VADs (0.02 h) of 2 speakers" in out
    assert "stage 1 draws from 2 speakers, with these VADs of >= 1.2 s: george 25, lucas 25" in out
    stages.check(".", ["init"], dict(env, SSE_VADS="not-yet"))  # a list stage 0 will make: settings only
    assert "the VAD list not-yet is not made yet" in capsys.readouterr().out
    with pytest.raises(UserError, match="SSE_MAX_BATCH_DURATION=nan is not a finite number"):
        stages.check(".", ["init"], dict(env, SSE_MAX_BATCH_DURATION="nan"))
    with pytest.raises(UserError, match="check: train is not a step"):
        stages.check(".", ["train"], env)
    words = str(vad_list(tmp_path / "words", george=[0.45] * 50))
    with pytest.raises(UserError, match="make_word_corpus.py"):
        stages.check(".", ["features", "init"], dict(env, SSE_VADS=words))
    stages.check(".", ["features", "gold"], dict(env, SSE_VADS=words))  # no stage-1 pairs wanted: no complaint


def test_the_table_without_a_benchmark_draws_the_curves_and_says_what_the_map_needs(env, capsys):
    Path("exp/init").mkdir(parents=True)
    Path("exp/init/checkpoint_best.pt").write_bytes(b"model")
    runner = Recorder()
    stages.table(".", env=dict(env, SSE_BENCHMARK=""), runner=runner)
    assert runner.calls == ["plot_training.py"]
    out = capsys.readouterr().out
    assert "no MAP without a benchmark" in out and "make_word_corpus.py" in out
    runner.calls.clear()
    stages.table(".", env=env, runner=runner)
    assert runner.calls == ["map_table.py", "plot_training.py"]
    with pytest.raises(UserError, match="nowhere: no such benchmark"):
        stages.table(".", env=dict(env, SSE_BENCHMARK="nowhere"), runner=runner)


def test_a_refused_stage_leaves_no_folder_behind(env):
    """The lock's folder, made for a run refused inside it (no labels for gold), is removed again."""
    with pytest.raises(UserError, match="no labelled segment list"):
        stages.run_training("gold", ".", env=dict(env, SSE_NGRAMS="missing"), runner=Recorder())
    assert not Path("exp/gold").exists()
