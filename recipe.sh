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
# with its alignments SSE_BENCHMARK_ALIGNMENTS (TextGrids or the toolkit's alignment file).
# SSE_SPEAKER_REGEX is utils/vad.py's --speaker_regex (a regex whose first group, or group
# 'speaker', is the speaker id in each file's path; LibriSpeech's file names by default);
# SSE_VAD_ARGS passes other options to utils/vad.py, split as a shell splits words (quotes group,
# e.g. "--speakers folder --num_workers 8").
# --profile sets SSE_PROFILE: "default" is the toolkit's recipe, "paper" the paper's exactly (its
# k-NN iteration), "small" the CPU setting of run_demo.sh (rows of PROFILES in sse/defaults.py;
# "small,paper" combines two). Every other setting is an SSE_* variable: see
# `bash launch_init.sh --help`. Every setting, and the VAD list once it exists, is checked before
# any work (python -m sse.pipeline.stages check). Finished work is skipped on a rerun.
#
# Without a benchmark (no SSE_BENCHMARK_ALIGNMENTS) stage 2 stops, and without labels (no
# SSE_ALIGNMENTS) stage 3: continue with --stage 4 to train the unsupervised models only. A run
# that starts past stage 2 without the benchmark EXP/benchmark selects its models by held-out loss
# (stage 8 then draws the curves, with no MAP table); one that starts past stage 3 without labels
# skips stage 7.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }
die() { echo "error: $*" >&2; exit 2; }
LAST=8
stage=0 stop_stage=$LAST iterations=2 title=
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;  # --stage=5 is --stage 5
    --stage|--stop-stage|--stop_stage|--profile|--iterations|--title)
      [ $# -ge 2 ] || die "$1 needs a value"
      case $1 in
        --stage) stage=$2 ;;
        --stop-stage|--stop_stage) stop_stage=$2 ;;
        --profile) export SSE_PROFILE=$2 ;;
        --iterations) iterations=$2 ;;
        --title) title=$2 ;;
      esac
      shift 2 ;;
    -*) die "unknown option $1 (see bash recipe.sh --help)" ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || die "usage: bash recipe.sh [--stage N] [--stop-stage M] [--profile default|paper|small] [--iterations K] CORPUS EXP"
for number in "$stage" "$stop_stage" "$iterations"; do
  [[ $number =~ ^[0-9]+$ ]] || die "$number is not a whole number"
done
[ "$stage" -le $LAST ] || die "--stage $stage: there is no such stage (they are 0 to $LAST)"
[ "$stop_stage" -le $LAST ] || die "--stop-stage $stop_stage: there is no such stage (they are 0 to $LAST)"
[ "$stage" -le "$stop_stage" ] || die "--stage $stage comes after --stop-stage $stop_stage: no stage to run"
CORPUS=$1
export SSE_EXP=$2
[ -d "$CORPUS" ] || die "$CORPUS: no such corpus folder"
PY=${PYTHON:-python3}
# utils/vad.py's options: SSE_SPEAKER_REGEX, then SSE_VAD_ARGS split as a shell would (no expansion).
vad_args=()
[ -z "${SSE_SPEAKER_REGEX:-}" ] || vad_args+=(--speaker_regex "$SSE_SPEAKER_REGEX")
if [ -n "${SSE_VAD_ARGS:-}" ]; then
  quoted=$("$PY" -c '
import shlex, sys
try:
    print(" ".join(map(shlex.quote, shlex.split(sys.argv[1]))))
except ValueError as error:
    sys.exit(f"error: SSE_VAD_ARGS={sys.argv[1]}: {error} (it is split into words as a shell would)")
' "$SSE_VAD_ARGS") || exit 2
  eval "vad_args+=($quoted)"  # safe: every word is single-quoted by shlex.quote
fi
export SSE_VADS=${SSE_VADS:-$SSE_EXP/vads} SSE_SEGMENTS=${SSE_SEGMENTS:-$SSE_EXP/segments}
export SSE_NGRAMS=${SSE_NGRAMS:-$SSE_EXP/ngrams}
benchmark_given=${SSE_BENCHMARK+1}
export SSE_BENCHMARK=${SSE_BENCHMARK-$SSE_EXP/benchmark}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
log() { echo "[$(date +%H:%M:%S)] $*"; }
run() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# Past stage 2 the benchmark can no longer be made: without it, the models are selected by held-out loss.
if [ "$stage" -ge 3 ] && [ -z "$benchmark_given" ] && [ ! -s "$SSE_BENCHMARK" ] && [ "$stop_stage" -ge 4 ]; then
  log "no benchmark ($SSE_BENCHMARK): the models are selected by held-out loss, and stage 8 has no MAP to table"
  SSE_BENCHMARK=
fi
skip_gold=
if [ "$stage" -ge 4 ] && [ "$stage" -lt 7 ] && run 7 && [ ! -s "$SSE_NGRAMS" ] && [ -z "${SSE_ALIGNMENTS:-}" ]; then
  skip_gold=1
  log "no labels ($SSE_NGRAMS, no SSE_ALIGNMENTS): stage 7, the weakly supervised model, is skipped"
fi
# What the engine can check before any work: every setting, the device, the VAD list once it exists.
steps=()
run 1 && steps+=(segments)
run 3 && steps+=(labels)
run 4 && steps+=(features)
run 5 && steps+=(init)
run 6 && steps+=(iteration)
run 7 && [ -z "$skip_gold" ] && steps+=(gold)
run 8 && steps+=(table)
check() { [ ${#steps[@]} -eq 0 ] || "$PY" -m sse.pipeline.stages check "$CORPUS" "${steps[@]}"; }
check
mkdir -p "$SSE_EXP"

# vads FOLDER OUTPUT: the VAD list of the audio under CORPUS/FOLDER, its paths relative to CORPUS.
vads() {
  local part=$2.part
  # --overwrite: a .part left by a run killed here is only a temporary of this step
  "$PY" "$ROOT/utils/vad.py" --path_wavs "$CORPUS/$1" --output "$part" --overwrite "${vad_args[@]}"
  if [ -n "$1" ]; then sed "s|^|$1/|" "$part" > "$2"; rm -f "$part"; else mv "$part" "$2"; fi
}

if run 0; then
  if [ -s "$SSE_VADS" ]; then log "stage 0: VAD list $SSE_VADS"
  else
    log "stage 0: VAD of $CORPUS/${SSE_TRAIN_SUBSET:-} -> $SSE_VADS"
    vads "${SSE_TRAIN_SUBSET:-}" "$SSE_VADS"
    check  # the new list: can stage 1 draw its batches from it?
  fi
fi
if run 1; then log "stage 1: segments"; "$PY" -m sse.pipeline.stages segments "$CORPUS"; fi
if run 2; then
  if [ -z "$SSE_BENCHMARK" ]; then log "stage 2: no benchmark (SSE_BENCHMARK is empty): models are selected by held-out loss"
  elif [ -s "$SSE_BENCHMARK" ]; then log "stage 2: benchmark $SSE_BENCHMARK"
  else
    [ -n "${SSE_BENCHMARK_ALIGNMENTS:-}" ] || die "$SSE_BENCHMARK: no benchmark to score the models on; set SSE_BENCHMARK_ALIGNMENTS (and SSE_DEV_SUBSET) to make it, or SSE_BENCHMARK to a list you have; without one, continue with --stage 4 to train the unsupervised models only (selected by held-out loss; no MAP table)"
    log "stage 2: benchmark of $CORPUS/${SSE_DEV_SUBSET:-} -> $SSE_BENCHMARK"
    [ -s "$SSE_EXP/dev-vads" ] || vads "${SSE_DEV_SUBSET:-}" "$SSE_EXP/dev-vads"
    "$PY" "$ROOT/utils/make_benchmark.py" --alignments "$SSE_BENCHMARK_ALIGNMENTS" --path_wavs "$CORPUS" \
      --path_vads "$SSE_EXP/dev-vads" --output "$SSE_BENCHMARK" --max_per_label 20
  fi
fi
if run 3; then
  [ -s "$SSE_NGRAMS" ] || [ -n "${SSE_ALIGNMENTS:-}" ] || die "$SSE_NGRAMS: no labels for the weakly supervised model (stage 7); set SSE_ALIGNMENTS to make them from forced alignments, or SSE_NGRAMS to a list you have; without them, continue with --stage 4 to train the unsupervised models only (stage 7 is then skipped)"
  log "stage 3: labels"; "$PY" -m sse.pipeline.stages labels "$CORPUS"
fi
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
if run 7; then
  if [ -n "$skip_gold" ]; then log "stage 7: skipped (no labels)"
  else log "stage 7: gold (the weakly supervised model)"; bash "$ROOT/launch_gold.sh" "$CORPUS"
  fi
fi
if run 8; then log "stage 8: table"; "$PY" -m sse.pipeline.stages table "$CORPUS" ${title:+--title "$title"}; fi
