#!/usr/bin/env bash
# Stage 2: one k-NN iteration. The previous model mines pairs among the training segments; a
# FRESH model is trained on them (the paper). Run it again on its own output for the next iteration.
#
# Not in the paper, off by default: SSE_STRETCH_PAIRS=N reads both sides of every mined pair
# from N time-stretched versions of their VADs (computed once, utils/stretch_features.py), as
# stage 1 stretches its pairs; SSE_WARM_START=1 starts from the previous model;
# SSE_AUGMENT_SHARE=0.5 makes half of every batch stage-1 augmentation pairs; SSE_MINE_ARGS
# passes mining options (e.g. "--score margin"). docs/iteration.md measures them.
#
#   bash iteration.sh $LS exp/init/checkpoint_best.pt      # -> exp/iter1
#   bash iteration.sh $LS exp/iter1/checkpoint_best.pt     # -> exp/iter2
#
# Schedule: the paper's, row "iteration" of STAGES in sse/defaults.py (`python -m sse.defaults`).
# Settings: see utils/recipe_common.sh.
source "$(dirname "$0")/utils/recipe_common.sh"
[ $# -eq 2 ] || { echo "usage: bash iteration.sh \$LS <previous checkpoint or its folder>" >&2; exit 2; }
LS=$1 PREVIOUS=$2
check_corpus "$LS"
[ -e "$PREVIOUS" ] || die "$PREVIOUS: no such checkpoint"
previous_dir=$PREVIOUS
[ -f "$PREVIOUS" ] && previous_dir=$(dirname "$PREVIOUS")
name=$(basename "$previous_dir")
if [ "$name" = init ]; then next=iter1
elif [[ $name =~ ^iter([0-9]+)$ ]]; then next=iter$(( BASH_REMATCH[1] + 1 ))
else next=${name}_iter1
fi
OUT=${SSE_OUT:-$(dirname "$previous_dir")/$next}
check_out "$OUT" iteration
previous_file=$PREVIOUS
[ -d "$PREVIOUS" ] && previous_file=$PREVIOUS/checkpoint_best.pt
[ -f "$previous_file" ] || die "$PREVIOUS: holds no checkpoint_best.pt"
AUGMENT_SHARE=${SSE_AUGMENT_SHARE:-$SSE_DEFAULT_AUGMENT_SHARE}
WARM_START=${SSE_WARM_START:-$SSE_DEFAULT_WARM_START}
STRETCH_PAIRS=${SSE_STRETCH_PAIRS:-$SSE_DEFAULT_STRETCH_PAIRS}
case $WARM_START in 0|1) ;; *) die "SSE_WARM_START=$WARM_START is not 0 or 1" ;; esac
[[ $STRETCH_PAIRS =~ ^[0-9]{1,3}$ ]] || die "SSE_STRETCH_PAIRS=$STRETCH_PAIRS is not a number of stretched versions (0: off)"
STRETCH_PAIRS=$(( 10#$STRETCH_PAIRS ))

ensure_segments
ensure_features "$LS" "$VADS" "$TRAIN_FEATURES"
ensure_benchmark_features "$LS"
schedule iteration
iteration_args=()
if [ "$AUGMENT_SHARE" != 0 ]; then
  iteration_args+=(--augment-share "$AUGMENT_SHARE" --vads "$VADS" --max-batch-duration "$MAX_BATCH_DURATION")
  [ "$FRONTEND" = wav2vec2 ] && iteration_args+=(--path-ssl "$PATH_SSL")
fi
# The stretched frames depend only on the features and N: one store serves every iteration.
STRETCHED=$TRAIN_FEATURES-stretched$STRETCH_PAIRS
[ "$STRETCH_PAIRS" = 0 ] || iteration_args+=(--stretched-features "$STRETCHED")
[ "$WARM_START" = 1 ] && iteration_args+=(--finetune-from-model "$previous_file")
stage_stamp iteration --dir "$OUT" --input "previous=$previous_file" --input "segments=$SEGMENTS" \
  --input "features=$TRAIN_FEATURES" --input "vads=$VADS" $(common_settings) $(schedule_settings) \
  --setting "augment_share=$AUGMENT_SHARE" --setting "warm_start=$WARM_START" --setting "stretch_pairs=$STRETCH_PAIRS" \
  --setting "max_batch_duration=$MAX_BATCH_DURATION" \
  --setting "mine_args=${SSE_MINE_ARGS:-}" --setting "extra_args=${SSE_EXTRA_ARGS:-}"
if [ -s "$OUT/pairs" ]; then
  log "mining: $OUT/pairs"
else
  log "mining: $PREVIOUS -> $OUT/pairs"
  "$PY" "$SSE_ROOT/utils/mine_pairs.py" --path_segments "$SEGMENTS" --features "$TRAIN_FEATURES" \
    --path_sse "$PREVIOUS" --output "$OUT/pairs" --work_dir "$OUT/mining" --device "$DEVICE" ${SSE_MINE_ARGS:-}
fi
if [ "$STRETCH_PAIRS" != 0 ]; then
  log "stretched features: $STRETCHED ($STRETCH_PAIRS versions of every VAD)"
  stretch_args=()
  [ "$FRONTEND" = wav2vec2 ] && stretch_args+=(--path_ssl "$PATH_SSL")
  "$PY" "$SSE_ROOT/utils/stretch_features.py" --features "$TRAIN_FEATURES" --path_wavs "$LS" \
    --versions "$STRETCH_PAIRS" --output "$STRETCHED" --device "$DEVICE" --num_workers "$NUM_WORKERS" \
    "${stretch_args[@]}"
fi
train "$OUT" "$LS" --task sse_pairs --features "$TRAIN_FEATURES" --pairs "$OUT/pairs" "${iteration_args[@]}"
report_map "$LS" "$OUT"
log "k-NN model: $OUT/checkpoint_best.pt; next: bash iteration.sh $LS $OUT/checkpoint_best.pt"
