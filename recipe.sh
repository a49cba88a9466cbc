#!/usr/bin/env bash
# The whole method on one corpus, in numbered stages (each one call of the toolkit):
#
#   bash recipe.sh [--stage N] [--stop-stage M] [--profile default|paper|small] [--iterations K] CORPUS EXP
#
#   0  VAD of the training audio -> SSE_VADS                       utils/vad.py (skipped if the list exists)
#   1  training segments -> SSE_SEGMENTS                           python -m sse.pipeline.stages segments
#   2  benchmark -> SSE_BENCHMARK, from SSE_BENCHMARK_ALIGNMENTS   utils/make_benchmark.py (skipped if it exists)
#   3  phone n-gram labels -> SSE_NGRAMS, from SSE_ALIGNMENTS      python -m sse.pipeline.stages labels
#   4  frame features of the training VADs and of the benchmark   python -m sse.pipeline.stages features
#   5  init: the model of augmentation pairs -> EXP/init           launch_init.sh
#   6  K k-NN iterations (default 2) -> EXP/iter1 ... iterK        iteration.sh
#   7  gold: the weakly supervised model -> EXP/gold               launch_gold.sh
#   8  MAP of mean pooling, an untrained encoder, every model     python -m sse.pipeline.stages table
#      -> EXP/results.md, EXP/map.png, EXP/curves.png
#
# Lists default to files in EXP (SSE_VADS=EXP/vads, SSE_SEGMENTS=EXP/segments, SSE_NGRAMS=EXP/ngrams,
# SSE_BENCHMARK=EXP/benchmark); set them to use lists you have. Stage 0 reads the audio under
# CORPUS/SSE_TRAIN_SUBSET (e.g. train-clean-360); stage 2 reads CORPUS/SSE_DEV_SUBSET (e.g. dev-clean)
# with its alignments SSE_BENCHMARK_ALIGNMENTS (TextGrids or the toolkit's alignment file);
# SSE_VAD_ARGS passes options to utils/vad.py (e.g. "--speakers folder --num_workers 8").
# --profile sets SSE_PROFILE: "default" is the toolkit's recipe, "paper" the paper's exactly (its
# k-NN iteration), "small" the CPU setting of run_demo.sh (rows of PROFILES in sse/defaults.py;
# "small,paper" combines two). Every other setting is an SSE_* variable: see
# `bash launch_init.sh --help`. Finished work is skipped on a rerun.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }
die() { echo "error: $*" >&2; exit 2; }
stage=0 stop_stage=8 iterations=2 title=
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --stage) stage=${2:?--stage needs a number}; shift 2 ;;
    --stop-stage|--stop_stage) stop_stage=${2:?--stop-stage needs a number}; shift 2 ;;
    --profile) export SSE_PROFILE=${2:?--profile needs a name}; shift 2 ;;
    --iterations) iterations=${2:?--iterations needs a number}; shift 2 ;;
    --title) title=${2:?--title needs a text}; shift 2 ;;
    -*) die "unknown option $1 (see bash recipe.sh --help)" ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || die "usage: bash recipe.sh [--stage N] [--stop-stage M] [--profile default|paper|small] [--iterations K] CORPUS EXP"
for number in "$stage" "$stop_stage" "$iterations"; do
  [[ $number =~ ^[0-9]+$ ]] || die "$number is not a whole number"
done
CORPUS=$1
export SSE_EXP=$2
[ -d "$CORPUS" ] || die "$CORPUS: no such corpus folder"
export SSE_VADS=${SSE_VADS:-$SSE_EXP/vads} SSE_SEGMENTS=${SSE_SEGMENTS:-$SSE_EXP/segments}
export SSE_NGRAMS=${SSE_NGRAMS:-$SSE_EXP/ngrams} SSE_BENCHMARK=${SSE_BENCHMARK-$SSE_EXP/benchmark}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
mkdir -p "$SSE_EXP"
log() { echo "[$(date +%H:%M:%S)] $*"; }
run() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# vads FOLDER OUTPUT: the VAD list of the audio under CORPUS/FOLDER, its paths relative to CORPUS.
vads() {
  local part=$2.part
  "$PY" "$ROOT/utils/vad.py" --path_wavs "$CORPUS/$1" --output "$part" ${SSE_VAD_ARGS:-}
  if [ -n "$1" ]; then sed "s|^|$1/|" "$part" > "$2"; rm -f "$part"; else mv "$part" "$2"; fi
}

if run 0; then
  if [ -s "$SSE_VADS" ]; then log "stage 0: VAD list $SSE_VADS"
  else log "stage 0: VAD of $CORPUS/${SSE_TRAIN_SUBSET:-} -> $SSE_VADS"; vads "${SSE_TRAIN_SUBSET:-}" "$SSE_VADS"
  fi
fi
if run 1; then log "stage 1: segments"; "$PY" -m sse.pipeline.stages segments "$CORPUS"; fi
if run 2 && [ -n "$SSE_BENCHMARK" ]; then
  if [ -s "$SSE_BENCHMARK" ]; then log "stage 2: benchmark $SSE_BENCHMARK"
  else
    [ -n "${SSE_BENCHMARK_ALIGNMENTS:-}" ] || die "$SSE_BENCHMARK: no benchmark; set SSE_BENCHMARK_ALIGNMENTS (and SSE_DEV_SUBSET) to make it, SSE_BENCHMARK to a list you have, or SSE_BENCHMARK= to validate by held-out loss"
    log "stage 2: benchmark of $CORPUS/${SSE_DEV_SUBSET:-} -> $SSE_BENCHMARK"
    [ -s "$SSE_EXP/dev-vads" ] || vads "${SSE_DEV_SUBSET:-}" "$SSE_EXP/dev-vads"
    "$PY" "$ROOT/utils/make_benchmark.py" --alignments "$SSE_BENCHMARK_ALIGNMENTS" --path_wavs "$CORPUS" \
      --path_vads "$SSE_EXP/dev-vads" --output "$SSE_BENCHMARK" --max_per_label 20
  fi
fi
if run 3; then log "stage 3: labels"; "$PY" -m sse.pipeline.stages labels "$CORPUS"; fi
if run 4; then log "stage 4: features"; "$PY" -m sse.pipeline.stages features "$CORPUS"; fi
if run 5; then log "stage 5: init (the model of augmentation pairs)"; bash "$ROOT/launch_init.sh" "$CORPUS"; fi
if run 6; then
  previous=$SSE_EXP/init
  for (( i = 1; i <= iterations; i++ )); do
    log "stage 6: k-NN iteration $i"
    bash "$ROOT/iteration.sh" "$CORPUS" "$previous/checkpoint_best.pt"
    previous=$SSE_EXP/iter$i
  done
fi
if run 7; then log "stage 7: gold (the weakly supervised model)"; bash "$ROOT/launch_gold.sh" "$CORPUS"; fi
if run 8; then log "stage 8: table"; "$PY" -m sse.pipeline.stages table "$CORPUS" ${title:+--title "$title"}; fi
