#!/usr/bin/env bash
# Stage 1: the initial model, trained on positive pairs from time-stretch augmentation.
#
#   bash launch_init.sh $LS          # $LS: corpus root of the VAD list's wav paths -> $SSE_EXP/init
#
# Settings are SSE_* environment variables (`bash launch_init.sh --help` lists them); the stage
# is defined once, in sse/pipeline/stages.py.
ROOT=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m sse.pipeline.stages init "$@"
