#!/usr/bin/env bash
# Stage 1: the initial model, trained on positive pairs from time-stretch augmentation.
#
#   bash launch_init.sh $LS                 # $LS: corpus root of the VAD list's wav paths
#
# Batches hold pairs from one speaker (negatives share the speaker), each VAD stretched twice
# (tempo 0.5-1.8, pitch kept), frames computed on the fly by the frozen front-end.
# Schedule: the paper's, row "init" of STAGES in sse/defaults.py (`python -m sse.defaults`).
# Output: $SSE_EXP/init/checkpoint_best.pt (settings: see utils/recipe_common.sh).
source "$(dirname "$0")/utils/recipe_common.sh"
[ $# -eq 1 ] || { echo "usage: bash launch_init.sh \$LS" >&2; exit 2; }
LS=$1
check_corpus "$LS"
OUT=${SSE_OUT:-$EXP/init}
check_out "$OUT" init

ensure_benchmark_features "$LS"
schedule init
stage_stamp init --dir "$OUT" --input "vads=$VADS" $(common_settings) $(schedule_settings) \
  --setting "max_batch_duration=$MAX_BATCH_DURATION" --setting "extra_args=${SSE_EXTRA_ARGS:-}"
train "$OUT" "$LS" --task sse_augment --vads "$VADS" \
  --frontend "$FRONTEND" --path-ssl "$PATH_SSL" --layer "$LAYER" --cmvn "$CMVN" \
  --max-batch-duration "$MAX_BATCH_DURATION"
report_map "$LS" "$OUT"
log "stage 1 model: $OUT/checkpoint_best.pt; next: bash iteration.sh $LS $OUT/checkpoint_best.pt"
