"""The stage engine (sse/pipeline/stages.py), in-process: settings, stamps, commands, skipping and refusing."""
from __future__ import annotations

import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from sse import defaults
from sse.core.errors import UserError
from sse.pipeline import stages
from tests.helpers import REPO

#: A valid other value for every setting that changes what a stage makes.
OTHER = {"frontend": "fbank", "path_ssl": "other.pt", "layer": "6", "cmvn": "none", "vads": "other-vads",
         "segments": "other-segments", "max_segments": "77", "ngrams": "other-ngrams", "alignments": "other-ali",
         "benchmark": "other-benchmark", "max_epoch": "9", "patience": "4", "epoch_updates": "11",
         "pairs_per_batch": "12", "max_batch_duration": "7", "effects": "pitch,noise", "seed": "5",
         "extra_args": "--fp16",
         "mine_args": "--k 5", "augment_share": "0.25", "warm_start": "1", "stretch_pairs": "2"}
#: And for those that do not (where a step runs or writes, how fast, how it logs).
RUNTIME = {"profile": "small", "exp": "elsewhere", "out": "elsewhere/out", "device": "cuda", "num_workers": "7",
           "threads": "3", "tensorboard": "0", "log_interval": "3"}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A folder with the files a plan names, and an environment naming them (the paper's wav2vec2)."""
    monkeypatch.chdir(tmp_path)
    for name in ("vads", "segments", "ngrams", "benchmark", "w2v.pt", *(v for v in OTHER.values() if "-" in v
                                                                          and not v.startswith("--")), "other.pt"):
        Path(name).write_text(f"{name}\n")
    Path("vads").write_text("".join(f"s/{i}.wav spk 0 2\n" for i in range(25)))  # enough for stage-1 batches
    Path("init").mkdir()
    Path("init/checkpoint_best.pt").write_bytes(b"model")
    env = {"SSE_VADS": "vads", "SSE_SEGMENTS": "segments", "SSE_NGRAMS": "ngrams", "SSE_BENCHMARK": "benchmark",
           "SSE_PATH_SSL": "w2v.pt", "SSE_EXP": "exp", "SSE_DEVICE": "cpu", "SSE_ALIGNMENTS": "ali"}
    Path("ali").write_text("ali\n")
    return env


def plan(stage: str, env: dict) -> tuple[stages.Plan, dict]:
    reader = stages.Reader(stages.resolve(stage, env))
    previous = ["init/checkpoint_best.pt"] if stage == "iteration" else []
    built = stages.TRAINING[stage](reader, "corpus", *previous)
    return built, built.stamp(reader)


def test_every_setting_is_one_variable_and_one_field():
    assert [f.name for f in fields(stages.Settings)] == list(stages.VARIABLES)
    assert set(OTHER) | set(RUNTIME) == set(stages.VARIABLES)
    assert {name for name, v in stages.VARIABLES.items() if v.kind == "runtime"} == set(RUNTIME)


@pytest.mark.parametrize("stage", sorted(stages.TRAINING))
def test_no_setting_reaches_a_command_without_reaching_the_stamp(stage, corpus):
    base_plan, base_stamp = plan(stage, corpus)
    changed_any = []
    for name, value in OTHER.items():
        env = dict(corpus, **{stages.VARIABLES[name].env: value})
        other_plan, other_stamp = plan(stage, env)
        if other_plan.commands != base_plan.commands:
            changed_any.append(name)
            assert other_stamp != base_stamp, f"{stage}: {name} changes the commands but not the stamp"
    # The check is not empty: the schedule, the seed and the lists all reach each stage.
    assert {"max_epoch", "seed", "extra_args", "benchmark"} <= set(changed_any)
    if stage == "iteration":
        assert {"mine_args", "segments", "stretch_pairs", "augment_share", "warm_start"} <= set(changed_any)
    if stage != "gold":  # stage-1 pairs: stage 1's, and the iteration's augmentation half
        assert "effects" in changed_any
    for name, value in RUNTIME.items():  # where and how fast it runs: the stamp stays
        env = dict(corpus, **{stages.VARIABLES[name].env: value})
        if name == "profile":
            continue  # a profile changes settings, and those are stamped one by one (above)
        assert plan(stage, env)[1]["settings"] == base_stamp["settings"], name


def test_each_stage_takes_its_schedule_from_the_table_the_profile_then_the_environment():
    for stage, row in defaults.STAGES.items():
        settings = stages.resolve(stage, {})
        assert (settings.max_epoch, settings.patience, settings.epoch_updates, settings.pairs_per_batch) == \
            (row.max_epoch, row.patience, row.epoch_updates, row.pairs_per_batch)
        assert settings.layer == defaults.DEFAULT_LAYER and settings.frontend == "wav2vec2"
    small = defaults.PROFILES["small"]
    settings = stages.resolve("gold", {"SSE_PROFILE": "small"})
    assert {name: getattr(settings, name) for name in small} == small
    settings = stages.resolve("gold", {"SSE_PROFILE": "small", "SSE_MAX_EPOCH": "3", "SSE_LAYER": "6"})
    assert settings.max_epoch == 3 and settings.layer == 6 and settings.epoch_updates == small["epoch_updates"]
    # Profiles compose, the last one winning: the demo's setting with the paper's iteration.
    settings = stages.resolve("iteration", {"SSE_PROFILE": "small,paper"})
    assert (settings.pairs_per_batch, settings.augment_share, settings.stretch_pairs) == (64, 0, 0)
    settings = stages.resolve("iteration", {})
    assert (settings.augment_share, settings.stretch_pairs) == (defaults.ITERATION_AUGMENT_SHARE,
                                                                defaults.ITERATION_STRETCH_PAIRS)
    # An empty variable is unset, except SSE_BENCHMARK, where empty means "validate by loss".
    assert stages.resolve("gold", {"SSE_SEED": ""}).seed == 1
    assert stages.resolve("gold", {"SSE_BENCHMARK": ""}).benchmark == ""


@pytest.mark.parametrize("variable, value, message", [
    ("SSE_PROFILE", "huge", "SSE_PROFILE=huge: 'huge' is not one of default, paper, small"),
    ("SSE_PROFILE", "small,hug", "SSE_PROFILE=small,hug: 'hug' is not one of"),
    ("SSE_FRONTEND", "hubert", "SSE_FRONTEND=hubert is not one of"),
    ("SSE_CMVN", "global", "SSE_CMVN=global is not one of"),
    ("SSE_WARM_START", "yes", "SSE_WARM_START=yes is not 0 or 1"),
    ("SSE_EFFECTS", "pitch,vibrato", "SSE_EFFECTS=pitch,vibrato: vibrato not among pitch, reverb"),
    ("SSE_STRETCH_PAIRS", "1.5", "is not a number of stretched versions"),
    ("SSE_SEED", "one", "SSE_SEED=one is not a whole number"),
    ("SSE_AUGMENT_SHARE", "1", "SSE_AUGMENT_SHARE=1 is not a finite number >= 0 and < 1"),
    ("SSE_PAIRS_PER_BATCH", "1", "SSE_PAIRS_PER_BATCH=1 is not a whole number >= 2"),
    ("SSE_MAX_BATCH_DURATION", "inf", "SSE_MAX_BATCH_DURATION=inf is not a finite number >= 0"),
    ("SSE_MAX_BATCH_DURATION", "nan", "SSE_MAX_BATCH_DURATION=nan is not a finite number >= 0"),
    ("SSE_AUGMENT_SHARE", "nan", "SSE_AUGMENT_SHARE=nan is not a finite number"),
    ("SSE_DEVICE", "gpu", r"SSE_DEVICE=gpu is not a device name \(cpu, cuda, cuda:N, mps\)"),
])
def test_bad_settings_are_one_line_each(variable, value, message):
    with pytest.raises(UserError, match=message):
        stages.resolve("iteration", {variable: value})


class Recorder(stages.Runner):
    """Records the commands; "trains" by writing a checkpoint; "mines" by writing pairs."""

    def __init__(self):
        self.calls: list[str] = []

    def call(self, command):
        self.calls.append(Path(command[1]).name)
        if command[1].endswith("mine_pairs.py"):
            Path(command[command.index("--output") + 1]).write_text("pairs\n")

    def output(self, command):
        self.calls.append(Path(command[1]).name)
        return 0, "MAP 0.5000\n", ""

    def train(self, command, log_file):
        self.calls.append("fairseq-train")
        save_dir = Path(command[command.index("--save-dir") + 1])
        (save_dir / "checkpoint_best.pt").write_bytes(b"trained")
        log_file.write_text("| train | epoch 001 | loss 1.0\n")
        return 0


def test_an_iteration_runs_skips_and_refuses_in_process(corpus, capsys):
    runner = Recorder()
    stages.run_training("iteration", ".", "init/checkpoint_best.pt", env=corpus, runner=runner)
    assert runner.calls == ["extract_features.py", "extract_features.py", "mine_pairs.py", "stretch_features.py",
                            "fairseq-train",
                            "plot_training.py", "map_dump.py"]
    out = Path("init").resolve().parent / "iter1"
    assert (out / "training_done").is_file() and "iter1: MAP 0.5000" in capsys.readouterr().out
    # A rerun with the same settings skips mining and training (the stores skip their own finished work).
    runner.calls.clear()
    stages.run_training("iteration", ".", "init/checkpoint_best.pt", env=corpus, runner=runner)
    assert runner.calls == ["extract_features.py", "extract_features.py", "stretch_features.py", "map_dump.py"]
    # Any other mining or training option is refused before any work, never silently reused.
    for name in ("SSE_MINE_ARGS", "SSE_STRETCH_PAIRS", "SSE_SEED", "SSE_MAX_EPOCH", "SSE_EXTRA_ARGS"):
        runner.calls.clear()
        value = {"SSE_MINE_ARGS": "--score margin", "SSE_EXTRA_ARGS": "--fp16"}.get(name, "3")
        with pytest.raises(UserError, match="made from other inputs or settings"):
            stages.run_training("iteration", ".", "init/checkpoint_best.pt", env=dict(corpus, **{name: value}),
                                runner=runner)
        assert "mine_pairs.py" not in runner.calls and "fairseq-train" not in runner.calls


def test_a_failed_training_becomes_one_error_line(corpus):
    class Failing(Recorder):
        def train(self, command, log_file):
            log_file.write_text("noise\nerror: ngrams:3: expected a label\nTraceback ...\n")
            return 1

    with pytest.raises(UserError, match="^ngrams:3: expected a label$"):
        stages.run_training("gold", ".", env=corpus, runner=Failing())
    assert not (Path("exp") / "gold" / "training_done").exists()


def test_the_entry_points_print_their_settings_and_refuse_bad_use(tmp_path):
    for script, usage in (("launch_init.sh", "$LS"), ("iteration.sh", "$LS <previous"), ("launch_gold.sh", "$LS")):
        shown = subprocess.run(["bash", str(REPO / script), "--help"], capture_output=True, text=True, cwd=tmp_path)
        assert shown.returncode == 0 and f"usage: bash {script} {usage}" in shown.stdout
        assert all(v.env in shown.stdout for v in stages.VARIABLES.values())
        wrong = subprocess.run(["bash", str(REPO / script)], capture_output=True, text=True, cwd=tmp_path)
        assert wrong.returncode == 2 and wrong.stderr.startswith(f"usage: bash {script}")


def test_effects_reach_the_stage1_pairs_and_nothing_else(corpus):
    def train_args(stage, **env):
        command = plan(stage, dict(corpus, SSE_EFFECTS="pitch", **env))[0].commands["train"]
        return command[command.index("--effects") + 1] if "--effects" in command else None

    assert train_args("init") == "pitch"
    assert train_args("iteration") == "pitch"  # its augmentation half
    assert train_args("iteration", SSE_AUGMENT_SHARE="0") is None  # no stage-1 pairs to affect
    assert train_args("gold") is None
    assert "--effects" not in plan("init", corpus)[0].commands["train"]  # none by default, as in the paper


def test_a_setting_added_later_leaves_older_stamps_valid_at_its_default(corpus):
    """Folders made before SSE_EFFECTS existed have no 'effects' in their stamp; they still match."""
    assert "effects" not in plan("init", corpus)[1]["settings"]
    assert plan("init", dict(corpus, SSE_EFFECTS="pitch"))[1]["settings"]["effects"] == "pitch"
