"""The recipe's steps, each defined once: its settings, its stamp, its commands, how it runs.

``launch_init.sh``, ``iteration.sh`` and ``launch_gold.sh`` (the paper's entry points) and the
numbered stages of ``recipe.sh`` are one call each of this module::

    python -m sse.pipeline.stages init LS                # stage 1 (augmentation pairs) -> $SSE_EXP/init
    python -m sse.pipeline.stages iteration LS PREVIOUS  # one k-NN iteration           -> $SSE_EXP/iterN
    python -m sse.pipeline.stages gold LS                # weakly supervised            -> $SSE_EXP/gold
    python -m sse.pipeline.stages segments|features|labels|table LS   # the steps between them

Every setting is an ``SSE_*`` environment variable (:data:`VARIABLES`, the one place they are
read), falling back to the row of the chosen profile (``SSE_PROFILE``: ``PROFILES`` in
:mod:`sse.defaults`) and then to the library's defaults. A step builds its commands through a
:class:`Reader` that records every setting they read, and its stamp is made from that record,
so a setting cannot reach a command without being in the stamp (:mod:`sse.core.stamps`): rerunning
a step with another value refuses, in one line, instead of reusing the old output.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping

from sse import defaults
from sse.core.cli import reader_left
from sse.core.errors import UserError
from sse.core.stamps import claim, fingerprint, folder_has_state
from sse.frames.formats import read_vad_list
from sse.method.sampling import AugmentationSampler, AugmentationSettings, split_heldout

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "utils"
STAMP = "stamp.json"


# -- the settings ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Variable:
    """One recipe setting: the environment variable, its help, and how it binds the output."""

    env: str
    help: str
    default: str  # as shown in --help
    #: "value": a setting, recorded in the stamp; "input": a file or folder, fingerprinted in the
    #: stamp; "runtime": where or how fast a step runs, or where it writes (not in the stamp).
    kind: str = "value"


#: Every SSE_* variable, in --help order. :class:`Settings` has one field per entry.
VARIABLES = {
    "profile": Variable("SSE_PROFILE", "default | paper | small, or several (small,paper): rows of PROFILES "
                        "in sse/defaults.py under every setting below", "default", "runtime"),
    "frontend": Variable("SSE_FRONTEND", "wav2vec2 | mfcc | fbank", "wav2vec2"),
    "path_ssl": Variable("SSE_PATH_SSL", "fairseq wav2vec 2.0 checkpoint", "pretrained/wav2vec_small.pt", "input"),
    "layer": Variable("SSE_LAYER", "wav2vec 2.0 layer", str(defaults.DEFAULT_LAYER)),
    "cmvn": Variable("SSE_CMVN", "utterance | speaker | none: mean/variance normalisation of the frames per VAD "
                     "or per speaker (sse/frames/cmvn.py)",
                     "utterance for mfcc/fbank, none for wav2vec2"),
    "vads": Variable("SSE_VADS", "training VAD list", "training_data/demo-vads", "input"),
    "segments": Variable("SSE_SEGMENTS", "training segment list, made from SSE_VADS if missing",
                         "training_data/demo-segments", "input"),
    "max_segments": Variable("SSE_MAX_SEGMENTS", "cap when making SSE_SEGMENTS", "4000000"),
    "ngrams": Variable("SSE_NGRAMS", "labelled segments for the weakly supervised model",
                       "training_data/demo-ngrams", "input"),
    "alignments": Variable("SSE_ALIGNMENTS", "alignments to make SSE_NGRAMS from SSE_SEGMENTS if it is missing",
                           "none", "input"),
    "benchmark": Variable("SSE_BENCHMARK", "validation benchmark; set it empty to select by held-out loss "
                          "instead", "sse_benchmark/demo-ngrams-subset", "input"),
    "exp": Variable("SSE_EXP", "experiment folder", "exp", "runtime"),
    "out": Variable("SSE_OUT", "this stage's output folder", "exp/init, exp/iterN, exp/gold", "runtime"),
    "device": Variable("SSE_DEVICE", "cuda | cpu", "cuda if available", "runtime"),
    "max_epoch": Variable("SSE_MAX_EPOCH", "most epochs", "per stage: STAGES in sse/defaults.py"),
    "patience": Variable("SSE_PATIENCE", "epochs without a better validation before stopping", "per stage"),
    "epoch_updates": Variable("SSE_EPOCH_UPDATES", "updates an epoch", "per stage"),
    "pairs_per_batch": Variable("SSE_PAIRS_PER_BATCH", "positive pairs a batch", "per stage"),
    "max_batch_duration": Variable("SSE_MAX_BATCH_DURATION", "stage 1: seconds of VADs per batch",
                                   f"{defaults.MAX_BATCH_DURATION:g}"),
    "effects": Variable("SSE_EFFECTS", "stage-1 pairs (stage 1, and the iteration's augmentation half): "
                        f"extra effects, comma-separated, of {','.join(defaults.EFFECTS)}", "none, as in the paper"),
    "num_workers": Variable("SSE_NUM_WORKERS", "data-loading processes", "2", "runtime"),
    "threads": Variable("SSE_THREADS", "CPU threads of every command (OMP_NUM_THREADS, MKL_NUM_THREADS; torch "
                        "uses at most one a core): on a CPU the numbers depend on it, so a fixed one makes them "
                        "repeat on another machine", "one per core", "runtime"),
    "seed": Variable("SSE_SEED", "training seed", "1"),
    "tensorboard": Variable("SSE_TENSORBOARD", "1: log training scalars to OUT/tensorboard "
                            "(tensorboard --logdir $SSE_EXP); 0: off", "1", "runtime"),
    "log_interval": Variable("SSE_LOG_INTERVAL", "updates between two train_inner log lines", "50", "runtime"),
    "extra_args": Variable("SSE_EXTRA_ARGS", "anything else for fairseq-train, e.g. \"--max-update 3000 --fp16\"",
                           "none"),
    "mine_args": Variable("SSE_MINE_ARGS", "iteration: anything else for utils/mine_pairs.py, e.g. "
                          "\"--score margin --coverage 0.3\"", "none"),
    "augment_share": Variable("SSE_AUGMENT_SHARE", "iteration: share of each batch's pairs from stage-1 "
                              "augmentation", f"{defaults.ITERATION_AUGMENT_SHARE:g}; the paper: 0"),
    "warm_start": Variable("SSE_WARM_START", "iteration: 1 starts from the previous model, 0 from scratch",
                           f"{int(defaults.ITERATION_WARM_START)}, the paper"),
    "stretch_pairs": Variable("SSE_STRETCH_PAIRS", "iteration: N > 0 reads both sides of each mined pair from N "
                              "time-stretched versions of their VADs, computed once in FEATURES-stretchedN",
                              f"{defaults.ITERATION_STRETCH_PAIRS}; the paper: 0"),
}


@dataclass(frozen=True)
class Settings:
    """Every recipe setting, resolved and checked (:func:`resolve`)."""

    profile: str
    frontend: str
    path_ssl: str
    layer: int
    cmvn: str  # "" = the front-end's default
    vads: str
    segments: str
    max_segments: int
    ngrams: str
    alignments: str
    benchmark: str  # "" = validate by held-out loss
    exp: str
    out: str  # "" = the stage's own folder under exp
    device: str
    max_epoch: int
    patience: int
    epoch_updates: int
    pairs_per_batch: int
    max_batch_duration: float
    effects: str
    num_workers: int
    threads: int  # 0 = torch's default, one per core
    seed: int
    tensorboard: bool
    log_interval: int
    extra_args: str
    mine_args: str
    augment_share: float
    warm_start: bool
    stretch_pairs: int


def _number(cast: Callable, text: str, name: str, low: float | None = None, high: float | None = None):
    try:
        value = cast(text)
    except ValueError:
        value = None
    if (value is None or not math.isfinite(value) or (low is not None and value < low)
            or (high is not None and value >= high)):
        bounds = ("" if low is None else f" >= {low:g}") + ("" if high is None else f" and < {high:g}")
        raise UserError(f"{VARIABLES[name].env}={text} is not a {'finite' if cast is not int else 'whole'} "
                        f"number{bounds}")
    return value


def resolve(stage: str, env: Mapping[str, str] = os.environ) -> Settings:
    """The settings of ``stage`` (``init``, ``iteration``, ``gold``, or a step with no schedule)
    from ``env``: each SSE_* variable, else the profile's row, else the library default."""
    profile = env.get("SSE_PROFILE") or "default"
    row: dict = {}
    for name in profile.split(","):  # "small,paper": the rows in turn, the last one winning
        if name not in defaults.PROFILES:
            raise UserError(f"SSE_PROFILE={profile}: {name!r} is not one of {', '.join(defaults.PROFILES)}")
        row.update(defaults.PROFILES[name])
    schedule = defaults.STAGES.get(stage, defaults.STAGES["iteration"])

    def get(name: str, default) -> str:
        value = env.get(VARIABLES[name].env)
        if value is None or (value == "" and name != "benchmark"):
            value = row.get(name, default)
        return str(value)

    frontend = get("frontend", "wav2vec2")
    if frontend not in defaults.FRONTENDS:
        raise UserError(f"SSE_FRONTEND={frontend} is not one of {', '.join(defaults.FRONTENDS)}")
    cmvn = get("cmvn", "")
    if cmvn and cmvn not in defaults.CMVN_MODES:
        raise UserError(f"SSE_CMVN={cmvn} is not one of {', '.join(defaults.CMVN_MODES)}")
    warm = get("warm_start", int(defaults.ITERATION_WARM_START))
    if warm not in ("0", "1"):
        raise UserError(f"SSE_WARM_START={warm} is not 0 or 1")
    effects = get("effects", "")
    unknown = sorted(set(filter(None, effects.split(","))) - set(defaults.EFFECTS))
    if unknown:
        raise UserError(f"SSE_EFFECTS={effects}: {', '.join(unknown)} not among {', '.join(defaults.EFFECTS)}")
    device = get("device", "")
    if device and not re.fullmatch(r"cpu|cuda(:[0-9]+)?|mps", device):
        raise UserError(f"SSE_DEVICE={device} is not a device name (cpu, cuda, cuda:N, mps)")
    stretch = get("stretch_pairs", defaults.ITERATION_STRETCH_PAIRS)
    if not re.fullmatch(r"[0-9]{1,3}", stretch):
        raise UserError(f"SSE_STRETCH_PAIRS={stretch} is not a number of stretched versions (0: off)")
    return Settings(
        profile=profile, frontend=frontend, path_ssl=get("path_ssl", defaults.DEFAULT_WAV2VEC2),
        layer=_number(int, get("layer", defaults.DEFAULT_LAYER), "layer", 0), cmvn=cmvn,
        vads=get("vads", ROOT / "training_data" / "demo-vads"),
        segments=get("segments", ROOT / "training_data" / "demo-segments"),
        max_segments=_number(int, get("max_segments", 4_000_000), "max_segments", 1),
        ngrams=get("ngrams", ROOT / "training_data" / "demo-ngrams"), alignments=get("alignments", ""),
        benchmark=get("benchmark", ROOT / "sse_benchmark" / "demo-ngrams-subset"),
        exp=get("exp", "exp"), out=get("out", ""), device=device,
        max_epoch=_number(int, get("max_epoch", schedule.max_epoch), "max_epoch", 1),
        patience=_number(int, get("patience", schedule.patience), "patience", 0),
        epoch_updates=_number(int, get("epoch_updates", schedule.epoch_updates), "epoch_updates", 1),
        pairs_per_batch=_number(int, get("pairs_per_batch", schedule.pairs_per_batch), "pairs_per_batch", 2),
        max_batch_duration=_number(float, get("max_batch_duration", f"{defaults.MAX_BATCH_DURATION:g}"),
                                   "max_batch_duration", 0),
        effects=effects, num_workers=_number(int, get("num_workers", 2), "num_workers", 0),
        threads=_number(int, get("threads", 0), "threads", 0),
        seed=_number(int, get("seed", 1), "seed", 0),
        tensorboard=get("tensorboard", "1") != "0",
        log_interval=_number(int, get("log_interval", 50), "log_interval", 1),
        extra_args=get("extra_args", ""), mine_args=get("mine_args", ""),
        augment_share=_number(float, get("augment_share", f"{defaults.ITERATION_AUGMENT_SHARE:g}"),
                              "augment_share", 0, 1),
        warm_start=warm == "1", stretch_pairs=int(stretch, 10))


#: Settings added after experiment folders had stamps: left out of a stamp while at this default,
#: so that a folder made before the setting existed still matches its stamp.
LATER_SETTINGS = {"effects": ""}


def _shown(value) -> str:
    """A setting as the stamp records it (the recipes' former strings: 0/1 for booleans)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Reader:
    """The settings a step reads, each recorded: the stamp is made from this record."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.read: dict[str, object] = {}

    def __getattr__(self, name: str):
        value = getattr(self._settings, name)
        if name in VARIABLES:
            self.read[name] = value
        return value

    @property
    def feature_tag(self) -> str:
        tag = f"wav2vec2-layer{self.layer}" if self.frontend == "wav2vec2" else self.frontend
        return f"{tag}-cmvn-{self.cmvn}" if self.cmvn else tag


# -- a step's plan -----------------------------------------------------------------------------
@dataclass
class Plan:
    """What one step will do: its output, its stamp's inputs, and its commands."""

    stage: str
    out: Path
    inputs: dict[str, str] = field(default_factory=dict)  # name -> path, beyond the settings' own
    commands: dict[str, list[str]] = field(default_factory=dict)  # mine, stretch, train ...

    def stamp(self, reader: Reader) -> dict:
        """The stamp: every setting the commands read, and every file they read, fingerprinted."""
        inputs, settings = dict(self.inputs), {}
        for name, value in reader.read.items():
            kind = VARIABLES[name].kind
            if kind == "input":
                inputs[name] = str(value)
            elif kind == "value" and not (name in LATER_SETTINGS and value == LATER_SETTINGS[name]):
                settings[name] = _shown(value)
        return {"stage": self.stage, "inputs": {name: fingerprint(path) for name, path in sorted(inputs.items()) if path},
                "settings": dict(sorted(settings.items()))}


def _features(reader: Reader, which: str) -> Path:
    return Path(reader.exp) / "features" / reader.feature_tag / which


def frontend_args(reader: Reader, style: str = "_") -> list[str]:
    """The front-end flags of the utils scripts (``--path_ssl``) or of fairseq (``--path-ssl``)."""
    args = ["--frontend", reader.frontend]
    if reader.frontend == "wav2vec2":
        args += [f"--path{style}ssl", reader.path_ssl, "--layer", str(reader.layer)]
    if reader.cmvn:
        args += ["--cmvn", reader.cmvn]
    return args


def features_command(reader: Reader, corpus: str, vads: str, store: Path) -> list[str]:
    return [sys.executable, str(UTILS / "extract_features.py"), "--path_wavs", corpus, "--path_vads", vads,
            "--output_dir", str(store), *frontend_args(reader), "--device", reader.device,
            "--num_workers", str(reader.num_workers)]


def _train_command(reader: Reader, corpus: str, out: Path, task_args: list[str]) -> list[str]:
    """fairseq-train with the stage's task arguments and what every stage shares."""
    validation = ["--valid-batches", "20"]
    if reader.benchmark:
        validation = ["--valid-segments", reader.benchmark, "--valid-features", str(_features(reader, "benchmark")),
                      "--best-checkpoint-metric", "map", "--maximize-best-checkpoint-metric"]
    command = ["fairseq-train", corpus, "--user-dir", str(ROOT / "sse"), *task_args, *validation,
               "--arch", "sse", "--criterion", "nt_xent", "--optimizer", "adam", "--lr", f"{defaults.LEARNING_RATE:g}",
               "--adam-betas", "(0.9, 0.999)", "--weight-decay", "0", "--lr-scheduler", "fixed", "--batch-size", "1",
               "--max-epoch", str(reader.max_epoch), "--patience", str(reader.patience),
               "--epoch-updates", str(reader.epoch_updates), "--pairs-per-batch", str(reader.pairs_per_batch),
               "--save-dir", str(out), "--no-epoch-checkpoints", "--log-format", "simple",
               "--log-interval", str(reader.log_interval), "--num-workers", str(reader.num_workers),
               "--seed", str(reader.seed)]
    if reader.device == "cpu":
        command.append("--cpu")
    if reader.tensorboard:
        command += ["--tensorboard-logdir", str(out / "tensorboard")]
    return command + shlex.split(reader.extra_args)


def _output(reader: Reader, default: str) -> Path:
    return Path(reader.out or Path(reader.exp) / default)


def effects_args(reader: Reader) -> list[str]:
    """``--effects`` of the stage-1 pairs, when SSE_EFFECTS names any."""
    return ["--effects", reader.effects] if reader.effects else []


def plan_init(reader: Reader, corpus: str) -> Plan:
    out = _output(reader, "init")
    task = ["--task", "sse_augment", "--vads", reader.vads, *frontend_args(reader, "-"),
            "--max-batch-duration", _shown(reader.max_batch_duration), *effects_args(reader)]
    if reader.cmvn == "speaker":  # the training speakers' statistics, from their feature store
        task += ["--cmvn-stats", str(_features(reader, "train"))]
    return Plan("init", out, commands={"train": _train_command(reader, corpus, out, task)})


def next_iteration(previous: Path) -> str:
    """iter1 after init, iterN+1 after iterN, NAME_iter1 after any other folder NAME."""
    name = previous.name
    if name == "init":
        return "iter1"
    match = re.fullmatch(r"iter([0-9]+)", name)
    return f"iter{int(match.group(1)) + 1}" if match else f"{name}_iter1"


def previous_checkpoint(previous: str) -> tuple[Path, Path]:
    """(folder, checkpoint file) of the model given to an iteration."""
    path = Path(previous)
    if not path.exists():
        raise UserError(f"{previous}: no such checkpoint")
    folder, file = (path.parent, path) if path.is_file() else (path, path / "checkpoint_best.pt")
    if not file.is_file():
        raise UserError(f"{previous}: holds no checkpoint_best.pt")
    return folder, file


def plan_iteration(reader: Reader, corpus: str, previous: str) -> Plan:
    folder, checkpoint = previous_checkpoint(previous)
    out = Path(reader.out or folder.parent / next_iteration(folder))
    train_features = _features(reader, "train")
    plan = Plan("iteration", out, inputs={"previous": str(checkpoint), "features": str(train_features)})
    plan.commands["mine"] = [
        sys.executable, str(UTILS / "mine_pairs.py"), "--path_segments", reader.segments,
        "--features", str(train_features), "--path_sse", previous, "--output", str(out / "pairs"),
        "--work_dir", str(out / "mining"), "--device", reader.device, *shlex.split(reader.mine_args)]
    task = ["--task", "sse_pairs", "--features", str(train_features), "--pairs", str(out / "pairs")]
    if reader.augment_share:
        task += ["--augment-share", _shown(reader.augment_share), "--vads", reader.vads,
                 "--max-batch-duration", _shown(reader.max_batch_duration), *effects_args(reader)]
        if reader.frontend == "wav2vec2":
            task += ["--path-ssl", reader.path_ssl]
    if reader.stretch_pairs:
        # The stretched frames depend only on the features and N: one store serves every iteration.
        stretched = Path(f"{train_features}-stretched{reader.stretch_pairs}")
        plan.commands["stretch"] = [
            sys.executable, str(UTILS / "stretch_features.py"), "--features", str(train_features),
            "--path_wavs", corpus, "--versions", str(reader.stretch_pairs), "--output", str(stretched),
            "--device", reader.device, "--num_workers", str(reader.num_workers)]
        if reader.frontend == "wav2vec2":
            plan.commands["stretch"] += ["--path_ssl", reader.path_ssl]
        task += ["--stretched-features", str(stretched)]
    if reader.warm_start:
        task += ["--finetune-from-model", str(checkpoint)]
    plan.commands["train"] = _train_command(reader, corpus, out, task)
    return plan


def plan_gold(reader: Reader, corpus: str) -> Plan:
    out = _output(reader, "gold")
    train_features = _features(reader, "train")
    task = ["--task", "sse_gold", "--features", str(train_features), "--segments", reader.ngrams]
    return Plan("gold", out, inputs={"features": str(train_features)},
                commands={"train": _train_command(reader, corpus, out, task)})


TRAINING = {"init": plan_init, "iteration": plan_iteration, "gold": plan_gold}


# -- running ---------------------------------------------------------------------------------
class Failed(Exception):
    """A step's command failed; it has printed its own error line. ``status`` is its exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Stopped(Exception):
    """SIGTERM or SIGHUP stopped the engine, after what it ran had stopped; exit status 128 + signal."""

    def __init__(self, signum: int, stopped: str = "") -> None:
        super().__init__(signum)
        self.signum, self.stopped, self.status = signum, stopped, 128 + signum

    def __str__(self) -> str:
        also = f"; {self.stopped} stopped with it" if self.stopped else ""
        return f"stopped by {signal.Signals(self.signum).name}{also}; rerun the same command to resume"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- signals: what the engine runs stops with it ----------------------------------------------
#: Signals passed on to the command running (its whole process group: fairseq-train and its
#: data-loader workers); the engine waits for it, then stops with status 128 + signal.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds a command has to stop after a forwarded signal before its process group is killed.
STOP_GRACE = 30.0
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


class _Running:
    """The command running now (one at a time), and the signal that asked the engine to stop."""

    process: subprocess.Popen | None = None
    signal: int | None = None


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` still runs (a zombie, which only waits to be
    reaped by its parent, does not)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _on_signal(signum: int, frame) -> None:
    if _Running.signal is None:
        _Running.signal = signum
    if _Running.process is None:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(signum)
    _signal_group(_Running.process.pid, signum)
    signal.alarm(int(STOP_GRACE))  # then SIGALRM kills whatever of it is left


def _on_alarm(signum: int, frame) -> None:
    if _Running.process is not None:
        _signal_group(_Running.process.pid, signal.SIGKILL)


def stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP reach the running command's whole process group; the engine
    waits for it to end, then stops (a signal the engine was told to ignore, as by nohup, stays
    ignored, and its commands inherit that)."""
    for signum in FORWARDED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)


def _prctl():
    """libc's prctl, or None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


class Runner:
    """Runs a step's commands as subprocesses (tests give a runner that records them instead).

    Each command runs in a process group of its own, so that a signal reaches everything it
    started (fairseq-train's data-loader workers); it is sent SIGTERM if the engine dies, even by
    ``kill -9``, and it inherits the stage folder's lock (``lock_fds``), so the folder stays locked
    while anything of the stage still runs.
    """

    lock_fds: tuple[int, ...] = ()
    threads = 0  # SSE_THREADS: 0 leaves the commands their default

    @property
    def env(self) -> dict:
        env = {**os.environ, "SSE_RECIPE": "1"}  # the scripts give their hints in SSE_* terms
        if self.threads:  # torch, MKL and faiss read these at start
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        return env

    def _start(self, command: list[str], **options) -> subprocess.Popen:
        parent, prctl = os.getpid(), _prctl()

        def in_child() -> None:  # between fork and exec
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            if prctl is not None:
                prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the engine died while this started
                os._exit(128 + signal.SIGTERM)

        # A signal arriving now waits until the command is registered, so it reaches the command too.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        try:
            process = subprocess.Popen(command, env=self.env, process_group=0, preexec_fn=in_child,
                                       pass_fds=self.lock_fds, **options)
            _Running.process = process
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return process

    def _wait(self, process: subprocess.Popen, body: Callable):
        """``body()`` (it reads the command's output and waits for it), then: if a signal asked the
        engine to stop, wait until nothing of the command's process group is left, and stop."""
        try:
            result = body()
        except BaseException:
            if process.poll() is None:  # the engine itself failed: the command must not go on alone
                _signal_group(process.pid, signal.SIGTERM)
            _settle(process)
            raise
        if _Running.signal is None:
            _Running.process = None
            if _Running.signal is None:  # (else it came just now: the command had ended anyway)
                return result
        _settle(process)
        stopping = _Running.signal
        if stopping == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(stopping, f"{Path(process.args[0]).name} (process group {process.pid})")

    def call(self, command: list[str]) -> None:
        process = self._start(command)
        status = self._wait(process, process.wait)
        if status:
            raise Failed(2 if status == 2 else status)

    def output(self, command: list[str]) -> tuple[int, str, str]:
        process = self._start(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = self._wait(process, process.communicate)
        return process.returncode, stdout, stderr

    def train(self, command: list[str], log_file: Path) -> int:
        """fairseq-train, its whole output appended to ``log_file`` and its progress lines shown."""
        if shutil.which(command[0]) is None:
            raise UserError(f"{command[0]}: not found; install fairseq (bash install.sh)")
        shown = re.compile(r"\| (train_inner|train|valid) \||error|Error")
        with open(log_file, "a", encoding="utf-8") as handle:
            process = self._start(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  errors="replace", bufsize=1)

            def relay() -> int:
                assert process.stdout is not None
                for line in process.stdout:
                    handle.write(line)
                    handle.flush()
                    if shown.search(line) and not line.startswith("error: "):
                        print(line, end="", flush=True)
                return process.wait()

            return self._wait(process, relay)


def _settle(process: subprocess.Popen) -> None:
    """Wait until ``process`` and every process of its group have ended, killing them past the grace."""
    try:
        for grace in (STOP_GRACE, 5.0):
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and (process.poll() is None or _group_alive(process.pid)):
                time.sleep(0.05)
            if process.poll() is not None and not _group_alive(process.pid):
                break
            _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        _Running.process = None
        signal.alarm(0)


LOCK = ".lock"
#: Seconds a run waits for the lock when the run holding it was killed: what it started, ending
#: with it, may still hold it a moment (torch's data-loader workers notice within 5 s).
LEFTOVER_GRACE = 15.0


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lock_within(fd: int, seconds: float) -> bool:
    """Whether ``fd`` can be locked within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
    return False


@contextmanager
def stage_lock(folder: Path, runner: Runner) -> Iterator[None]:
    """Hold ``folder/.lock`` while a stage runs there: a second run of the stage is refused.

    The lock is the kernel's (``flock``): it ends with the last process holding it, however that
    process ends, so ``kill -9`` cannot leave it stale. The commands of the stage inherit it
    (``runner.lock_fds``): a stage whose engine was killed stays locked until they have ended too
    (they end with it: a run finding the lock of a killed one waits :data:`LEFTOVER_GRACE` for
    that). A folder made for the lock alone is removed again if the run leaves nothing else in it.
    """
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            gone = holder.isdigit() and _gone(int(holder))
            if not (gone and _lock_within(fd, LEFTOVER_GRACE)):
                os.close(fd)
                if gone:
                    raise UserError(f"{folder}: process {holder}, which ran this stage, is gone, but commands it "
                                    f"started still run and hold {path}; stop them (fuser -k {path}) before running "
                                    "it again") from None
                started, stop = (f" (started by process {holder})", f"kill -TERM {holder}") if holder.isdigit() else \
                    ("", "kill -TERM")
                raise UserError(f"{folder}: this stage is already running there{started}; wait for it to end, or "
                                f"stop it ({stop}), before running it again") from None
        try:  # the run that held it may have removed the file meanwhile: lock the one in place
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
        folder.mkdir(parents=True, exist_ok=True)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    runner.lock_fds = (fd,)
    try:
        yield
    finally:
        runner.lock_fds = ()
        if made and [p.name for p in folder.iterdir()] == [LOCK]:
            path.unlink()
            try:
                folder.rmdir()
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.ENOENT):
                    raise
        os.close(fd)


def check_corpus(corpus: str, settings: Settings) -> None:
    if not Path(corpus).is_dir():
        raise UserError(f"{corpus}: no such corpus folder (the first argument is the corpus root, $LS)")
    if not Path(settings.vads).is_file() or not Path(settings.vads).stat().st_size:
        raise UserError(f"{settings.vads}: no such VAD list (set SSE_VADS; utils/vad.py makes one)")


def check_out(out: Path, stage: str, settings: Settings) -> None:
    """Refuse SSE_OUT pointing at a folder another stage made (one SSE_OUT exported for all stages)."""
    if not settings.out or not (out / STAMP).is_file():
        return
    try:
        made_by = json.loads((out / STAMP).read_text()).get("stage")
    except ValueError:
        made_by = None
    if made_by != stage:
        raise UserError(f"SSE_OUT={settings.out} already holds the output of another stage; SSE_OUT names one "
                        "stage's folder: set it for one run only, or unset it (stages then go to $SSE_EXP/init, "
                        "iterN, gold)")


def check_benchmark(settings: Settings) -> None:
    if settings.benchmark and not Path(settings.benchmark).is_file():
        raise UserError(f"{settings.benchmark}: no such benchmark (set SSE_BENCHMARK, or empty it for loss "
                        "validation)")


def _flag(args: list[str], name: str) -> str | None:
    """The value given to the fairseq flag ``name`` in ``args`` (``--name V`` or ``--name=V``; the last wins)."""
    value = None
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(f"{name}="):
            value = arg[len(name) + 1:]
    return value


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def check_stage1_vads(settings: Settings, stage: str, report: bool = False) -> list[str] | None:
    """Before any work: can stage-1 pairs be drawn from SSE_VADS? They are in stage 1, and in the
    augmentation half of an iteration's batches. The sampler's own rule decides
    (:class:`AugmentationSampler`: a batch takes one speaker's VADs, from speakers with enough long
    ones), over the VADs it will get: stage 1 holds out a share of them when there is no benchmark,
    and SSE_EXTRA_ARGS may change the rule. The speakers that take part (with ``report``, logged
    with their counts), or None if the stage draws no stage-1 pairs."""
    if stage not in ("init", "iteration") or (stage == "iteration" and not settings.augment_share):
        return None
    rule = AugmentationSettings()
    vads = read_vad_list(settings.vads)
    held = ""
    if stage == "init":
        extra = shlex.split(settings.extra_args)
        try:
            rule = replace(rule, min_vads_per_speaker=int(_flag(extra, "--min-vads-per-speaker")
                                                          or rule.min_vads_per_speaker),
                           min_vad_duration=float(_flag(extra, "--min-vad-duration") or rule.min_vad_duration))
            share = float(_flag(extra, "--heldout-fraction") or defaults.HELDOUT_FRACTION)
        except ValueError:
            return None  # fairseq-train names the bad flag itself
        if not settings.benchmark and 0 <= share < 1:
            vads = split_heldout(vads, share, settings.seed)[0]
            held = f" (once {share:.0%} are held out for loss validation: SSE_BENCHMARK is empty)"
    long = Counter(vad.speaker for vad in vads if vad.duration >= rule.min_vad_duration)
    try:
        speakers = AugmentationSampler(vads, ".", rule).speakers
    except UserError:
        who = "stage 1 needs" if stage == "init" else "the iteration's augmentation pairs (SSE_AUGMENT_SHARE) need"
        if long:
            found = (f"no speaker has that many{held}: {', '.join(f'{s} {n}' for s, n in long.most_common(3))}"
                     f"{', ...' if len(long) > 3 else ''}")
        else:
            found = (f"none of its {len(vads)} VADs{held} is that long (the longest: "
                     f"{max((v.duration for v in vads), default=0):.2f} s)")
        fix = ("isolated words: join them into sessions with utils/make_word_corpus.py (docs/recipe.md, \"Your own "
               "corpus\"); speech cut at short pauses: keep them inside VADs (utils/vad.py --min_silence, e.g. "
               "SSE_VAD_ARGS=\"--min_silence 0.5\")")
        if stage == "iteration":
            fix += "; or train on mined pairs alone (SSE_AUGMENT_SHARE=0)"
        raise UserError(f"{settings.vads}: {who} speakers with {rule.min_vads_per_speaker} VADs of at least "
                        f"{rule.min_vad_duration:g} s each (a batch takes one speaker's long VADs), but {found}; "
                        f"{fix}") from None
    left_out = sorted(set(vad.speaker for vad in vads) - set(speakers))
    if report:
        log(f"check: {'stage 1 draws' if stage == 'init' else 'the augmentation pairs are drawn'} from "
            f"{_count(len(speakers), 'speaker')}, with these VADs of >= {rule.min_vad_duration:g} s{held}: "
            f"{', '.join(f'{s} {long[s]}' for s in speakers[:10])}{', ...' if len(speakers) > 10 else ''}")
    if left_out:
        log(f"stage-1 pairs: {_count(len(left_out), 'speaker')} with fewer than {rule.min_vads_per_speaker} VADs of "
            f">= {rule.min_vad_duration:g} s {'is' if len(left_out) == 1 else 'are'} left out: "
            f"{', '.join(left_out[:5])}{', ...' if len(left_out) > 5 else ''}")
    return speakers


def ensure_segments(settings: Settings, runner: Runner) -> None:
    """The training segment list: a list the user gave (no stamp beside it) is an input; one the
    recipe made is checked against what made it, and made when missing."""
    segments = Path(settings.segments)
    stamp_file = Path(f"{segments}.stamp")
    if segments.is_file() and segments.stat().st_size and not stamp_file.is_file():
        log(f"segments: {segments}")
        return
    reader = Reader(settings)
    command = [sys.executable, str(UTILS / "make_segments.py"), reader.vads, str(segments),
               "--max_segments", str(reader.max_segments)]
    claim(stamp_file, Plan("segments", segments).stamp(reader), segments.exists(), str(segments),
          f"delete {segments} to make it again")
    if segments.is_file() and segments.stat().st_size:
        log(f"segments: {segments}")
        return
    log(f"segments: making {segments} from {settings.vads}")
    runner.call(command)


def ensure_labels(settings: Settings, runner: Runner) -> None:
    """SSE_NGRAMS: given, or made from the segments and SSE_ALIGNMENTS (and then stamped)."""
    ngrams = Path(settings.ngrams)
    made = Path(f"{ngrams}.stamp").is_file()
    if ngrams.is_file() and ngrams.stat().st_size and not (made and settings.alignments):
        return
    if not settings.alignments:
        raise UserError(f"{ngrams}: no labelled segment list; set SSE_NGRAMS, or SSE_ALIGNMENTS to make it")
    ensure_segments(settings, runner)
    reader = Reader(settings)
    command = [sys.executable, str(UTILS / "transcribe_timestamps.py"), reader.segments, reader.alignments,
               str(ngrams)]
    claim(f"{ngrams}.stamp", Plan("labels", ngrams).stamp(reader), ngrams.exists(), str(ngrams),
          f"delete {ngrams} to make it again")
    if not (ngrams.is_file() and ngrams.stat().st_size):
        log(f"labels: {settings.segments} + {settings.alignments} -> {ngrams}")
        runner.call(command)


def ensure_features(settings: Settings, corpus: str, runner: Runner, train: bool = True) -> None:
    """The feature stores of the training VADs and of the benchmark (they check their own inputs)."""
    reader = Reader(settings)
    check_benchmark(settings)  # before the training VADs' features, which take long
    if train:
        store = _features(reader, "train")
        log(f"features: {store}")
        runner.call(features_command(reader, corpus, reader.vads, store))
    if settings.benchmark:
        store = _features(reader, "benchmark")
        log(f"features: {store}")
        runner.call(features_command(reader, corpus, settings.benchmark, store))


def train(plan: Plan, settings: Settings, runner: Runner) -> None:
    """fairseq-train unless OUT/training_done exists; an interrupted run resumes from checkpoint_last.pt."""
    out = plan.out
    if (out / "training_done").exists():
        log(f"training: {out} is done")
        return
    out.mkdir(parents=True, exist_ok=True)
    if (out / "checkpoint_last.pt").exists():
        log(f"training: resuming {out} from checkpoint_last.pt")
    log(f"training: {out} (up to {settings.max_epoch} epochs of {settings.epoch_updates} updates, "
        f"{settings.pairs_per_batch} pairs a batch, patience {settings.patience})")
    log(f"training: live log: tail -f {out / 'train.log'} (a line every {settings.log_interval} updates and at "
        "each epoch's end)")
    log_file = out / "train.log"
    start = log_file.stat().st_size if log_file.exists() else 0
    status = runner.train(plan.commands["train"], log_file)
    if status:
        text = log_file.read_bytes()[start:].decode("utf-8", "replace").splitlines()
        # A user error inside fairseq-train (sse/plugin/reporting.py) is its own "error:" line.
        mine = [line for line in text if line.startswith("error: ")]
        if mine:
            raise UserError(mine[-1][len("error: "):])
        parser = [line for line in text if line.startswith("fairseq-train: error: ")]
        reason = f": {parser[-1][len('fairseq-train: error: '):]}" if parser else ""
        raise UserError(f"fairseq-train failed (exit status {status}){reason}; see {log_file}")
    if not (out / "checkpoint_best.pt").is_file():
        raise UserError(f"fairseq-train wrote no {out / 'checkpoint_best.pt'}; see {log_file}")
    (out / "training_done").touch()
    curves = [sys.executable, str(UTILS / "plot_training.py"), "--log", f"{out.name}={log_file}",
              "--output", str(out / "curves.png"), "--quiet", "--overwrite"]  # redrawn on every run
    status, _, _ = runner.output(curves)
    log(f"curves: {out / 'curves.png'}" if status == 0 else f"warning: could not plot {log_file}")


def report_map(settings: Settings, corpus: str, out: Path, runner: Runner) -> None:
    if not settings.benchmark:
        return
    reader = Reader(settings)
    status, output, errors = runner.output([
        sys.executable, str(UTILS / "map_dump.py"), "--path_wavs", corpus, "--path_segments", reader.benchmark,
        "--task=map", "--path_sse", str(out), "--features", str(_features(reader, "benchmark")),
        "--device", reader.device])
    if status:
        lines = [line for line in errors.splitlines() if line.startswith("error:")] or errors.splitlines()[-3:]
        raise UserError(f"scoring {out} failed: {' '.join(lines)}")
    lines = output.strip().splitlines()
    log(f"{out}: {lines[-1] if lines else ''}")


def _device(settings: Settings) -> Settings:
    from sse.core.device import resolve_device  # noqa: PLC0415  (torch: only once a step really runs; --help stays light)

    return replace(settings, device=resolve_device(settings.device or None, "SSE_DEVICE").type)


def run_training(stage: str, corpus: str, previous: str | None = None, env: Mapping[str, str] = os.environ,
                 runner: Runner | None = None) -> Plan:
    """One training stage, start to end: checks, lists, features, stamp, (mining), training, MAP."""
    runner = runner or Runner()
    settings = resolve(stage, env)
    runner.threads = settings.threads
    check_corpus(corpus, settings)
    if stage == "iteration":
        previous_checkpoint(previous)
    settings = _device(settings)
    reader = Reader(settings)
    plan = TRAINING[stage](reader, corpus, *([previous] if stage == "iteration" else []))
    check_out(plan.out, stage, settings)
    check_stage1_vads(settings, stage)
    check_benchmark(settings)
    with stage_lock(plan.out, runner):
        return _run_locked(stage, corpus, previous, settings, reader, plan, runner)


def _run_locked(stage: str, corpus: str, previous: str | None, settings: Settings, reader: Reader, plan: Plan,
                runner: Runner) -> Plan:
    """The work of one training stage, while it holds its folder's lock."""
    if stage == "gold":
        ensure_labels(settings, runner)
    if stage == "iteration":
        ensure_segments(settings, runner)
    ensure_features(settings, corpus, runner, train=stage != "init" or settings.cmvn == "speaker")
    claim(plan.out / STAMP, plan.stamp(reader), folder_has_state(plan.out, STAMP), str(plan.out),
          f"delete {plan.out} to start this stage over, or give it another folder")
    if "mine" in plan.commands:
        pairs = plan.out / "pairs"
        if pairs.is_file() and pairs.stat().st_size:
            log(f"mining: {pairs}")
        else:
            log(f"mining: {previous} -> {pairs}")
            runner.call(plan.commands["mine"])
    if "stretch" in plan.commands:
        stretched = plan.commands["stretch"][plan.commands["stretch"].index("--output") + 1]
        log(f"stretched features: {stretched} ({settings.stretch_pairs} versions of every VAD)")
        runner.call(plan.commands["stretch"])
    train(plan, settings, runner)
    report_map(settings, corpus, plan.out, runner)
    if stage == "init":
        log(f"stage 1 model: {plan.out / 'checkpoint_best.pt'}; next: bash iteration.sh {corpus} "
            f"{plan.out / 'checkpoint_best.pt'}")
    elif stage == "iteration":
        log(f"k-NN model: {plan.out / 'checkpoint_best.pt'}; next: bash iteration.sh {corpus} "
            f"{plan.out / 'checkpoint_best.pt'}")
    else:
        log(f"weakly supervised model: {plan.out / 'checkpoint_best.pt'}")
    return plan


def table(corpus: str, env: Mapping[str, str] = os.environ, title: str | None = None,
          runner: Runner | None = None) -> None:
    """The MAP of mean-pooled frames, an untrained encoder and every model under SSE_EXP, as a table
    and a bar chart, and every stage's loss and validation MAP per epoch in one plot."""
    runner = runner or Runner()
    settings = _device(resolve("table", env))
    runner.threads = settings.threads
    check_benchmark(settings)
    exp = Path(settings.exp)
    iterations = sorted((p for p in exp.glob("iter*") if re.fullmatch(r"iter[0-9]+", p.name)),
                        key=lambda p: int(p.name[4:]))
    stages = [("stage 1 (augmentation)", "stage 1", exp / "init")]
    stages += [(f"k-NN iteration {p.name[4:]}", f"k-NN {p.name[4:]}", p) for p in iterations]
    stages += [("weakly supervised", "weakly supervised", exp / "gold")]
    stages = [(name, short, folder) for name, short, folder in stages if (folder / "checkpoint_best.pt").is_file()]
    if not stages:
        raise UserError(f"{exp}: holds no trained stage (init, iterN, gold) to score")
    if settings.benchmark:
        scoring = [sys.executable, str(UTILS / "map_table.py"), "--path_wavs", corpus, "--path_segments",
                   settings.benchmark, "--baseline", "--untrained", "--output_table", str(exp / "results.md"),
                   "--output_plot", str(exp / "map.png"), "--device", settings.device, "--quiet",
                   "--overwrite"]  # the table of the stages trained so far, made again on every run
        for name, _, folder in stages:
            scoring += ["--model", f"{name}={folder}"]
        runner.call(scoring)
    measure = "validation MAP" if settings.benchmark else "held-out loss"
    curves = [sys.executable, str(UTILS / "plot_training.py"), "--quiet", "--overwrite", "--output",
              str(exp / "curves.png"), "--title", f"{title or Path(corpus).name}: loss and {measure} per epoch"]
    for _, short, folder in stages:
        curves += ["--log", f"{short}={folder / 'train.log'}"]
    runner.call(curves)
    if settings.benchmark:
        log(f"table: {exp / 'results.md'}   plots: {exp / 'map.png'} {exp / 'curves.png'}")
    else:
        log(f"table: no MAP without a benchmark (SSE_BENCHMARK is empty): {exp / 'curves.png'} shows each model's "
            "loss per epoch; a labelled segment list (utils/make_benchmark.py from alignments, or "
            "utils/make_word_corpus.py for isolated words) as SSE_BENCHMARK gives the MAP table")


#: What each step does, for --help; the entry point that runs it.
STEPS = {
    "init": ("launch_init.sh", "$LS", """Stage 1: the initial model, trained on positive pairs from time-stretch augmentation.

Batches hold pairs from one speaker (negatives share the speaker), each VAD stretched twice
(tempo 0.5-1.8, pitch kept), frames computed on the fly by the frozen front-end. Schedule: row
"init" of STAGES in sse/defaults.py. Output: $SSE_EXP/init/checkpoint_best.pt."""),
    "iteration": ("iteration.sh", "$LS <previous checkpoint or its folder>", """Stage 2: one k-NN iteration. The previous model mines pairs among the training segments;
a FRESH model is trained on them, as in the paper. Run it again on its own output for the next:

    bash iteration.sh $LS exp/init/checkpoint_best.pt      # -> exp/iter1
    bash iteration.sh $LS exp/iter1/checkpoint_best.pt     # -> exp/iter2

Unlike the paper (docs/iteration.md measures why): each side of a mined pair is read from one of
SSE_STRETCH_PAIRS time-stretched versions of its VAD, and SSE_AUGMENT_SHARE of every batch are
stage-1 augmentation pairs; SSE_PROFILE=paper is the paper's iteration. Schedule: row
"iteration" of STAGES in sse/defaults.py."""),
    "gold": ("launch_gold.sh", "$LS", """Weakly supervised model: positive pairs are two tokens of the same phone n-gram label.

Labels come from SSE_NGRAMS (a segment list with transcriptions), made from SSE_SEGMENTS and
SSE_ALIGNMENTS by utils/transcribe_timestamps.py when missing. A label is drawn in proportion to
its count among labels with >= 2 tokens. Schedule: row "gold" of STAGES in sse/defaults.py."""),
    "segments": ("python -m sse.pipeline.stages segments", "$LS", "The training segment list SSE_SEGMENTS, made from SSE_VADS."),
    "features": ("python -m sse.pipeline.stages features", "$LS", "The feature stores of SSE_VADS and SSE_BENCHMARK."),
    "labels": ("python -m sse.pipeline.stages labels", "$LS", "SSE_NGRAMS, made from SSE_SEGMENTS and SSE_ALIGNMENTS."),
    "table": ("python -m sse.pipeline.stages table", "$LS [--title TITLE]",
              "The MAP of mean-pooled frames, an untrained encoder and every model in SSE_EXP: results.md, "
              "map.png, curves.png (without a benchmark: curves.png alone, of the held-out loss)."),
    "check": ("python -m sse.pipeline.stages check", "$LS [STEP ...]", """Check, before any work, what the steps named (default: init iteration gold table) will need
that can be checked cheaply: every setting, the device, and the VAD list if it exists: whether
stage 1 can draw its batches from it (speakers with 20 VADs of at least 1.2 s), and how many
each speaker has. recipe.sh runs it before stage 0, and again once stage 0 has made the list."""),
}


def check(corpus: str, steps: list[str], env: Mapping[str, str] = os.environ) -> None:
    """The ``check`` step: see :data:`STEPS`."""
    unknown = [step for step in steps if step not in STEPS or step == "check"]
    if unknown:
        raise UserError(f"check: {unknown[0]} is not a step ({', '.join(s for s in STEPS if s != 'check')})")
    if not Path(corpus).is_dir():
        raise UserError(f"{corpus}: no such corpus folder (the first argument is the corpus root, $LS)")
    resolved = {step: resolve(step, env) for step in steps or [*TRAINING, "table"]}
    _device(next(iter(resolved.values())))
    vads = Path(next(iter(resolved.values())).vads)
    if not (vads.is_file() and vads.stat().st_size):
        log(f"check: settings valid; the VAD list {vads} is not made yet")
        return
    listed = read_vad_list(vads)
    log(f"check: {vads}: {_count(len(listed), 'VAD')} ({sum(v.duration for v in listed) / 3600:.2f} h) of "
        f"{_count(len({v.speaker for v in listed}), 'speaker')}")
    for step in ("init", "iteration"):
        if step in resolved and check_stage1_vads(resolved[step], step, report=True) is not None:
            break  # stage 1's rule, over fewer VADs without a benchmark, is the stricter one


def help_text(step: str) -> str:
    script, arguments, doc = STEPS[step]
    lines = [f"usage: bash {script} {arguments}" if script.endswith(".sh") else f"usage: {script} {arguments}",
             "", doc, "", "Settings (environment variables; default in brackets):"]
    for variable in VARIABLES.values():
        lines.append(f"  {variable.env:<24}{variable.help} ({variable.default})")
    lines += ["", "Each stage leaves OUT/stamp.json (what made it), OUT/train.log and OUT/curves.png; a rerun skips "
              "finished work and refuses outputs made from other inputs or settings."]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in STEPS:
        raise UserError(f"usage: python -m sse.pipeline.stages {{{','.join(STEPS)}}} ARGUMENTS (--help for one)")
    step, args = argv[0], argv[1:]
    if "-h" in args or "--help" in args:
        print(help_text(step))
        return
    script, arguments, _ = STEPS[step]
    if step == "check":
        if not args:
            raise UserError(f"usage: {script} {arguments}")
        check(args[0], args[1:])
        return
    title = None
    if step == "table" and "--title" in args:
        at = args.index("--title")
        if at + 1 >= len(args):
            raise UserError("--title needs a value")
        title, args = args[at + 1], args[:at] + args[at + 2:]
    wanted = 2 if step == "iteration" else 1
    if len(args) != wanted:
        shown = f"bash {script}" if script.endswith(".sh") else script
        raise UserError(f"usage: {shown} {arguments}")
    if step in TRAINING:
        run_training(step, *args)
        return
    settings = resolve(step)
    if step == "table":
        table(args[0], title=title)
        return
    check_corpus(args[0], settings)
    settings = _device(settings)
    runner = Runner()
    runner.threads = settings.threads
    if step == "segments":
        ensure_segments(settings, runner)
    elif step == "labels":
        ensure_labels(settings, runner)
    else:
        ensure_features(settings, args[0], runner)


if __name__ == "__main__":
    try:
        stop_on_signals()
        main(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}" if not str(error).startswith("usage:") else str(error), file=sys.stderr)
        sys.exit(2)
    except Failed as failure:
        sys.exit(failure.status)
    except Stopped as stopped:
        print(stopped, file=sys.stderr)
        sys.exit(stopped.status)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        reader_left()
