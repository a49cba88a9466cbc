"""Defaults that command-line help needs, kept free of heavy imports.

``--help`` of every script reads its defaults from here (and the library modules that use them
import them from here), so printing help never loads torch and each default lives in one place.
"""
from __future__ import annotations

from pathlib import Path

#: Frames per second of every front-end.
FRAME_RATE = 50
#: fairseq's wav2vec 2.0 Base checkpoint, where the README says to put it: under the toolkit's
#: own ``pretrained/`` folder, whatever the current folder is.
DEFAULT_WAV2VEC2 = str(Path(__file__).resolve().parents[1] / "pretrained" / "wav2vec_small.pt")
DEFAULT_LAYER = 8
FRONTENDS = ("wav2vec2", "mfcc", "fbank")
CMVN_MODES = ("utterance", "none")
# Kaldi features carry the channel and the speaker's level in their means (c0 above all); a
# LayerNorm over each frame cannot remove that, and stage 1 collapses on raw MFCCs. wav2vec 2.0
# frames are used as the paper does, unnormalised.
DEFAULT_CMVN = {"wav2vec2": "none", "mfcc": "utterance", "fbank": "utterance"}

# k-NN pair mining (sse/mining.py, sse/mine.py).
K = 10
PCA_DIM = 128
MAX_PCA_FIT = 1_000_000
NMS_OVERLAP = 0.40
COVERAGE = 0.50
#: k-NN indexes (sse/knn.py): exact search, or approximate FAISS IVF.
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
