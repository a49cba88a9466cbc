#!/usr/bin/env bash
# Stage 2: one k-NN iteration. The previous model mines pairs among the training segments; a
# fresh model is trained on them, each side read at a random tempo, half of every batch stage-1
# augmentation pairs (SSE_PROFILE=paper: the paper's iteration, mined pairs alone). Run it again
# on its own output for the next one.
#
#   bash iteration.sh $LS exp/init/checkpoint_best.pt      # -> exp/iter1
#   bash iteration.sh $LS exp/iter1/checkpoint_best.pt     # -> exp/iter2
#
# Settings are SSE_* environment variables (`bash iteration.sh --help` lists them); the stage
# is defined once, in sse/pipeline/stages.py.
ROOT=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m sse.pipeline.stages iteration "$@"
