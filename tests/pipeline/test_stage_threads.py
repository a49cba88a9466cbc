"""SSE_THREADS: every command a stage runs gets that many CPU threads (on a CPU the numbers depend
on it, not on the machine's load), whatever the number of cores; the small profile fixes 2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sse.pipeline import stages


class Recorder(stages.Runner):
    """Records the thread settings each command would get."""

    def __init__(self) -> None:
        self.threads_seen: list[tuple[str | None, str | None]] = []

    def call(self, command):
        self.threads_seen.append((self.env.get("OMP_NUM_THREADS"), self.env.get("MKL_NUM_THREADS")))

    def output(self, command):
        self.call(command)
        return 0, "MAP 0.5\n", ""

    def train(self, command, log_file):
        self.call(command)
        (Path(command[command.index("--save-dir") + 1]) / "checkpoint_best.pt").write_bytes(b"model")
        log_file.write_text("| train | epoch 001 | loss 1.0\n")
        return 0


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    Path("vads").write_text("".join(f"s/{i}.wav spk 0 2\n" for i in range(25)))
    return {"SSE_FRONTEND": "mfcc", "SSE_DEVICE": "cpu", "SSE_EXP": "exp", "SSE_BENCHMARK": "", "SSE_VADS": "vads"}


def test_every_command_of_a_stage_gets_sse_threads(env):
    runner = Recorder()
    stages.run_training("init", ".", env=dict(env, SSE_THREADS="3"), runner=runner)
    assert runner.threads_seen and set(runner.threads_seen) == {("3", "3")}  # fairseq-train, the plot
    runner = Recorder()
    stages.run_training("gold", ".", env=dict(env, SSE_PROFILE="small", SSE_NGRAMS="vads"), runner=runner)
    assert set(runner.threads_seen) == {("2", "2")}  # the features, training, the plot
    runner = Recorder()
    stages.table(".", env=env, runner=runner)  # unset: the commands' own default, one thread per core
    assert set(runner.threads_seen) == {(None, None)}
    with pytest.raises(stages.UserError, match="SSE_THREADS=two is not a whole number >= 0"):
        stages.resolve("init", dict(env, SSE_THREADS="two"))


def test_torch_in_a_command_runs_on_those_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    threads = [sys.executable, "-c", "import torch; print(torch.get_num_threads())"]
    runner = stages.Runner()
    default = int(subprocess.run(threads, env=runner.env, capture_output=True, text=True, check=True).stdout)
    if default == 1:
        pytest.skip("one core: torch's default is already one thread (it uses at most one a core)")
    runner.threads = 1
    assert subprocess.run(threads, env=runner.env, capture_output=True, text=True, check=True).stdout.strip() == "1"
