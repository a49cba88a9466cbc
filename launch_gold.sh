#!/usr/bin/env bash
# The weakly supervised model: positive pairs are two tokens of the same phone n-gram label.
#
#   bash launch_gold.sh $LS          # -> $SSE_EXP/gold
#
# Settings are SSE_* environment variables (`bash launch_gold.sh --help` lists them); the stage
# is defined once, in sse/pipeline/stages.py.
ROOT=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m sse.pipeline.stages gold "$@"
