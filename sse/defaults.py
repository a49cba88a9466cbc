"""The toolkit's defaults, each in one place, kept free of heavy imports.

``--help`` of every script reads its defaults from here, and the library modules, the fairseq
configs and the recipe's stage engine (sse/pipeline/stages.py) import them from here. So printing help
never loads torch, and changing a default here changes it everywhere.

    python -m sse.defaults          # the training schedule of each stage, and the profiles
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Frames per second of every front-end.
FRAME_RATE = 50
#: fairseq's wav2vec 2.0 Base checkpoint, where the README says to put it: under the toolkit's
#: own ``pretrained/`` folder, whatever the current folder is.
DEFAULT_WAV2VEC2 = str(Path(__file__).resolve().parents[1] / "pretrained" / "wav2vec_small.pt")
DEFAULT_LAYER = 8
FRONTENDS = ("wav2vec2", "mfcc", "fbank")
CMVN_MODES = ("utterance", "speaker", "none")
#: Stage-1 effects besides the time stretch (sse/method/augment.py), all off by default as in the paper.
EFFECTS = ("pitch", "reverb", "noise", "echo", "bass_treble")
#: Numeric precisions of the frozen front-end (sse/core/precision.py); fp32 is the default.
PRECISIONS = ("fp32", "fp16", "bf16")
# Kaldi features carry the channel and the speaker's level in their means (c0 above all); a
# LayerNorm over each frame cannot remove that, and stage 1 collapses on raw MFCCs. Per-speaker
# CMVN removes them and keeps each word's own mean spectrum, which per-utterance CMVN removes from
# an isolated word (sse/frames/cmvn.py; docs/baselines.md has the measurements). wav2vec 2.0
# frames are used as the paper does, unnormalised.
DEFAULT_CMVN = {"wav2vec2": "none", "mfcc": "speaker", "fbank": "speaker"}

# k-NN pair mining (sse/method/mining.py, sse/pipeline/mining_run.py).
K = 10
PCA_DIM = 128
MAX_PCA_FIT = 1_000_000
NMS_OVERLAP = 0.40
COVERAGE = 0.50
#: k-NN indexes (sse/method/knn.py): exact search, or approximate FAISS IVF.
KNN_INDEXES = ("flat", "ivf")
KNN_INDEX = "flat"
#: IVF cells searched per query.
NPROBE = 32
#: Seed of the PCA's subsample and of the IVF index's training sample.
MINING_SEED = 0

#: Segments embedded per forward pass.
BATCH_SIZE = 256

#: File names of the Free Spoken Digit Dataset, ``{label}_{speaker}_{take}.wav`` (make_word_corpus.py).
FSDD_PATTERN = r"(?P<label>[^/_]+)_(?P<speaker>[^/_]+)_[^/_]+$"


@dataclass(frozen=True)
class Schedule:
    """How long one training stage runs: the fairseq-train settings the recipes give it."""

    max_epoch: int        # --max-epoch
    patience: int         # --patience: epochs without a better validation before stopping
    epoch_updates: int    # --epoch-updates: batches (= updates) per epoch
    pairs_per_batch: int  # --pairs-per-batch


#: The paper's schedule of each stage: stage 1 (launch_init.sh), each k-NN iteration
#: (iteration.sh), the weakly supervised model (launch_gold.sh).
STAGES = {
    "init": Schedule(max_epoch=75, patience=2, epoch_updates=200, pairs_per_batch=250),
    "iteration": Schedule(max_epoch=100, patience=1, epoch_updates=1000, pairs_per_batch=256),
    "gold": Schedule(max_epoch=60, patience=5, epoch_updates=1000, pairs_per_batch=256),
}
#: Profiles: rows of recipe settings under the SSE_* variables (sse/pipeline/stages.py), by field name.
#: "default" is the toolkit's recipe: the paper's, but for how a k-NN iteration trains (below);
#: "paper" is the paper's recipe exactly; "small" the CPU setting of run_demo.sh and
#: bench/real_speech.sh: MFCC (no wav2vec2 weights needed), short epochs of small batches,
#: stage-1 batches of 10 s of speech, at most 20,000 training segments, 2 CPU threads (on a CPU the
#: figures depend on the number of threads, not on the machine's load: fixed, they repeat on any
#: machine with the same kind of CPU and the same torch). Any SSE_* variable overrides its row.
PROFILES = {
    "default": {},
    "paper": {"augment_share": 0, "stretch_pairs": 0, "warm_start": 0},
    "small": {"frontend": "mfcc", "device": "cpu", "pairs_per_batch": 64, "epoch_updates": 40, "max_epoch": 6,
              "patience": 2, "max_batch_duration": 10, "max_segments": 20_000, "log_interval": 20, "threads": 2},
}
#: How a k-NN iteration trains (iteration.sh; docs/iteration.md). As in the paper, a fresh model
#: on the pairs the previous model mines; unlike the paper (profile "paper": 0, 0), each side of
#: a mined pair is read from one of N time-stretched versions of its VAD (SSE_STRETCH_PAIRS=N),
#: as stage 1 stretches its pairs, and half of every batch are stage-1 augmentation pairs
#: (SSE_AUGMENT_SHARE), so an iteration adds to what stage 1 teaches instead of replacing it.
#: SSE_WARM_START=1 starts from the previous model instead of a fresh one.
ITERATION_AUGMENT_SHARE = 0.5
ITERATION_WARM_START = False
ITERATION_STRETCH_PAIRS = 4
#: Adam's learning rate in every stage (betas 0.9, 0.999; no weight decay; fixed schedule).
LEARNING_RATE = 1e-4
#: How long ``bash run_demo.sh`` takes on 2 otherwise idle CPU cores, in minutes (measured;
#: run_demo.sh prints it and the README states it; a test keeps them together).
DEMO_MINUTES = 10
#: Stage 1: a batch takes one speaker's VADs until they pass this many seconds.
MAX_BATCH_DURATION = 20.0
#: Share of the training data (VADs, mined pairs, labels) held out for loss validation when a
#: stage has no benchmark (SSE_BENCHMARK empty; fairseq's --heldout-fraction).
HELDOUT_FRACTION = 0.05


def describe() -> str:
    """The stage schedules and the profiles, as ``python -m sse.defaults`` prints them."""
    lines = ["stage      max_epoch  patience  epoch_updates  pairs_per_batch"]
    lines += [f"{stage:<10} {row.max_epoch:>9}  {row.patience:>8}  {row.epoch_updates:>13}  {row.pairs_per_batch:>15}"
              for stage, row in STAGES.items()]
    lines += ["", f"learning rate {LEARNING_RATE:g}; wav2vec 2.0 layer {DEFAULT_LAYER}; stage-1 batches of "
              f"{MAX_BATCH_DURATION:g} s", "", "profiles (SSE_PROFILE; settings by name, over the rows above):"]
    lines += [f"  {name}: " + (", ".join(f"{key}={value}" for key, value in row.items()) or "the paper's recipe")
              for name, row in PROFILES.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        print(describe(), flush=True)
    except BrokenPipeError:  # `| head`: the reader left; as sse.core.cli.reader_left, without importing it
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        raise SystemExit(1) from None
