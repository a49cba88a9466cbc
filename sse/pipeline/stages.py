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

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from sse import defaults
from sse.core.cli import reader_left
from sse.core.errors import UserError
from sse.core.stamps import claim, fingerprint, folder_has_state

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
    "cmvn": Variable("SSE_CMVN", "utterance | none: per-VAD mean/variance normalisation of the frames",
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
    if value is None or (low is not None and value < low) or (high is not None and value >= high):
        bounds = ("" if low is None else f" >= {low:g}") + ("" if high is None else f" and < {high:g}")
        raise UserError(f"{VARIABLES[name].env}={text} is not a {cast.__name__ if cast is not int else 'whole'} "
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
        exp=get("exp", "exp"), out=get("out", ""), device=get("device", ""),
        max_epoch=_number(int, get("max_epoch", schedule.max_epoch), "max_epoch", 1),
        patience=_number(int, get("patience", schedule.patience), "patience", 0),
        epoch_updates=_number(int, get("epoch_updates", schedule.epoch_updates), "epoch_updates", 1),
        pairs_per_batch=_number(int, get("pairs_per_batch", schedule.pairs_per_batch), "pairs_per_batch", 2),
        max_batch_duration=_number(float, get("max_batch_duration", f"{defaults.MAX_BATCH_DURATION:g}"),
                                   "max_batch_duration", 0),
        effects=effects, num_workers=_number(int, get("num_workers", 2), "num_workers", 0),
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


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Runner:
    """Runs a step's commands as subprocesses (tests give a runner that records them instead)."""

    @property
    def env(self) -> dict:
        return {**os.environ, "SSE_RECIPE": "1"}  # the scripts give their hints in SSE_* terms

    def call(self, command: list[str]) -> None:
        status = subprocess.call(command, env=self.env)
        if status:
            raise Failed(2 if status == 2 else status)

    def output(self, command: list[str]) -> tuple[int, str, str]:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True)
        return result.returncode, result.stdout, result.stderr

    def train(self, command: list[str], log_file: Path) -> int:
        """fairseq-train, its whole output appended to ``log_file`` and its progress lines shown."""
        if shutil.which(command[0]) is None:
            raise UserError(f"{command[0]}: not found; install fairseq (bash install.sh)")
        shown = re.compile(r"\| (train_inner|train|valid) \||error|Error")
        with open(log_file, "a", encoding="utf-8") as handle:
            process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, errors="replace", bufsize=1)
            assert process.stdout is not None
            for line in process.stdout:
                handle.write(line)
                handle.flush()
                if shown.search(line) and not line.startswith("error: "):
                    print(line, end="", flush=True)
            return process.wait()


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
    if train:
        store = _features(reader, "train")
        log(f"features: {store}")
        runner.call(features_command(reader, corpus, reader.vads, store))
    if settings.benchmark:
        if not Path(settings.benchmark).is_file():
            raise UserError(f"{settings.benchmark}: no such benchmark (set SSE_BENCHMARK, or empty it for loss "
                            "validation)")
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
              "--output", str(out / "curves.png"), "--quiet"]
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
    check_corpus(corpus, settings)
    if stage == "iteration":
        previous_checkpoint(previous)
    settings = _device(settings)
    reader = Reader(settings)
    plan = TRAINING[stage](reader, corpus, *([previous] if stage == "iteration" else []))
    check_out(plan.out, stage, settings)
    if stage == "gold":
        ensure_labels(settings, runner)
    if stage == "iteration":
        ensure_segments(settings, runner)
    ensure_features(settings, corpus, runner, train=stage != "init")
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
    if not settings.benchmark:
        raise UserError("SSE_BENCHMARK is empty: the table needs a benchmark")
    exp = Path(settings.exp)
    iterations = sorted((p for p in exp.glob("iter*") if re.fullmatch(r"iter[0-9]+", p.name)),
                        key=lambda p: int(p.name[4:]))
    stages = [("stage 1 (augmentation)", "stage 1", exp / "init")]
    stages += [(f"k-NN iteration {p.name[4:]}", f"k-NN {p.name[4:]}", p) for p in iterations]
    stages += [("weakly supervised", "weakly supervised", exp / "gold")]
    stages = [(name, short, folder) for name, short, folder in stages if (folder / "checkpoint_best.pt").is_file()]
    if not stages:
        raise UserError(f"{exp}: holds no trained stage (init, iterN, gold) to score")
    scoring = [sys.executable, str(UTILS / "map_table.py"), "--path_wavs", corpus, "--path_segments",
               settings.benchmark, "--baseline", "--untrained", "--output_table", str(exp / "results.md"),
               "--output_plot", str(exp / "map.png"), "--device", settings.device, "--quiet"]
    for name, _, folder in stages:
        scoring += ["--model", f"{name}={folder}"]
    runner.call(scoring)
    curves = [sys.executable, str(UTILS / "plot_training.py"), "--quiet", "--output", str(exp / "curves.png"),
              "--title", f"{title or Path(corpus).name}: loss and validation MAP per epoch"]
    for _, short, folder in stages:
        curves += ["--log", f"{short}={folder / 'train.log'}"]
    runner.call(curves)
    log(f"table: {exp / 'results.md'}   plots: {exp / 'map.png'} {exp / 'curves.png'}")


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
              "map.png, curves.png."),
}


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
    if step == "segments":
        ensure_segments(settings, Runner())
    elif step == "labels":
        ensure_labels(settings, Runner())
    else:
        ensure_features(settings, args[0], Runner())


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}" if not str(error).startswith("usage:") else str(error), file=sys.stderr)
        sys.exit(2)
    except Failed as failure:
        sys.exit(failure.status)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        reader_left()
