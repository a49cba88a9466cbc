"""A stage stops with what it started, and runs once at a time in its folder.

The stage engine runs for real (``python -m sse.pipeline.stages init``, what launch_init.sh runs),
with a stand-in ``fairseq-train`` first on PATH: it starts a worker process, as fairseq-train's
data loader does, and sleeps. The tests signal the engine and look for what is left running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sse.pipeline import stages
from tests.helpers import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the parent-death signal")

#: A slow, cheap fairseq-train: a worker that ends when its parent does (as torch's data-loader
#: workers do), then both pids in SAVE_DIR/pids, then a long sleep.
FAKE_TRAIN = f"""#!{sys.executable}
import os, sys, time
out = sys.argv[sys.argv.index("--save-dir") + 1]
parent = os.getpid()
worker = os.fork()
if worker == 0:
    while os.getppid() == parent:
        time.sleep(0.05)
    os._exit(0)
with open(os.path.join(out, "pids.part"), "w") as handle:
    handle.write(f"{{parent}} {{worker}}\\n")
os.replace(os.path.join(out, "pids.part"), os.path.join(out, "pids"))
time.sleep(120)
"""


@pytest.fixture
def stage_env(tmp_path):
    """An environment whose stage 1 reaches fairseq-train at once: MFCC on the CPU, no benchmark,
    a VAD list that passes the stage-1 check (the audio is never read), the stand-in first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fairseq-train"
    fake.write_text(FAKE_TRAIN)
    fake.chmod(0o755)
    vads = tmp_path / "vads"
    vads.write_text("".join(f"s/{i}.wav spk 0 2\n" for i in range(30)))
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SSE_FRONTEND": "mfcc",
            "SSE_DEVICE": "cpu", "SSE_BENCHMARK": "", "SSE_VADS": str(vads), "SSE_EXP": str(tmp_path / "exp"),
            "SSE_TENSORBOARD": "0", "PYTHONPATH": str(REPO)}


def start_stage(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sse.pipeline.stages", "init", str(REPO)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, which only waits for its parent to reap it, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def training_pids(out: Path, engine: subprocess.Popen, timeout: float = 30) -> list[int]:
    """The stand-in's pid and its worker's, once it runs."""
    deadline = time.monotonic() + timeout
    while not (out / "pids").exists():
        assert engine.poll() is None, engine.communicate()
        assert time.monotonic() < deadline, "fairseq-train never started"
        time.sleep(0.05)
    return [int(pid) for pid in (out / "pids").read_text().split()]


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(map(running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if running(pid)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_a_stage_stops_what_it_started_and_says_so(signum, stage_env, tmp_path):
    engine = start_stage(stage_env)
    pids = training_pids(tmp_path / "exp" / "init", engine)
    try:
        os.kill(engine.pid, signum)  # the engine alone, as a scheduler or `kill PID` does
        _, stderr = engine.communicate(timeout=30)
        assert engine.returncode == 128 + signum
        # The engine ended after what it ran: nothing of it is left by then.
        assert [pid for pid in pids if running(pid)] == []
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"stopped by {signal.Signals(signum).name}"), stderr
        assert "fairseq-train" in lines[0]
        assert not (tmp_path / "exp" / "init" / "training_done").exists()
    finally:
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if engine.poll() is None:
            os.killpg(engine.pid, signal.SIGKILL)


def test_a_running_stage_refuses_a_second_run_and_a_killed_one_leaves_no_lock(stage_env, tmp_path):
    out = tmp_path / "exp" / "init"
    first = start_stage(stage_env)
    pids = training_pids(out, first)
    try:
        second = subprocess.run([sys.executable, "-m", "sse.pipeline.stages", "init", str(REPO)], env=stage_env,
                                cwd=REPO, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {out}: this stage is already running there "
                                                       f"(started by process {first.pid})"), second.stderr
        assert "training:" not in second.stdout  # refused before any work
        # kill -9 of the engine: what it ran goes with it, and the kernel frees the lock; a run
        # started at once waits the moment that takes, then trains.
        (out / "pids").unlink()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        third = start_stage(stage_env)
        third_pids = training_pids(out, third)
        assert wait_gone(pids) == []
        os.kill(third.pid, signal.SIGTERM)
        third.communicate(timeout=30)
        assert third.returncode == 128 + signal.SIGTERM and wait_gone(third_pids) == []
    finally:
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)


def test_commands_left_by_a_killed_run_keep_the_stage_locked(tmp_path, monkeypatch):
    """The engine that held the lock is gone, a command it started still holds it: refused, naming them."""
    monkeypatch.setattr(stages, "LEFTOVER_GRACE", 0.3)
    folder = tmp_path / "init"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    (folder / stages.LOCK).write_text(f"{dead.pid}\n")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(folder / stages.LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(stages.UserError, match=f"process {dead.pid}, which ran this stage, is gone, but commands "
                                                   f"it started still run and hold {folder / stages.LOCK}"):
            with stages.stage_lock(folder, stages.Runner()):
                pass
    finally:
        holder.kill()
        holder.wait()
    with stages.stage_lock(folder, stages.Runner()):  # once they have ended, the stage runs
        assert (folder / stages.LOCK).read_text() == f"{os.getpid()}\n"
