#!/usr/bin/env bash
# The whole method in the small CPU setting, on any corpus: what run_demo.sh and
# bench/real_speech.sh share.
#
#   SSE_VADS=... SSE_NGRAMS=... SSE_BENCHMARK=... bash utils/small_run.sh CORPUS_ROOT EXP_DIR
#
# Segments of the training VADs, features, stage 1, two k-NN iterations, the weakly supervised
# model, then the exact MAP of mean-pooled frames and of every model on SSE_BENCHMARK, as a
# table (EXP_DIR/results.md) and a bar chart (EXP_DIR/map.png). Finished stages are skipped.
#
# The small setting (the recipes' defaults are the paper's): MFCC front-end (no wav2vec2
# weights needed), 64 pairs a batch instead of 250/256, 40 updates an epoch instead of
# 200/1000, at most 6 epochs (patience 2) per model, stage-1 batches of 10 s of speech
# instead of 20 s, at most 20,000 training segments. Every SSE_* variable overrides.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash utils/small_run.sh CORPUS_ROOT EXP_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LS=$1
export SSE_EXP=$2
export SSE_FRONTEND=${SSE_FRONTEND:-mfcc} SSE_DEVICE=${SSE_DEVICE:-cpu}
export SSE_SEGMENTS=${SSE_SEGMENTS:-$SSE_EXP/segments}
export SSE_PAIRS_PER_BATCH=${SSE_PAIRS_PER_BATCH:-64} SSE_EPOCH_UPDATES=${SSE_EPOCH_UPDATES:-40}
export SSE_MAX_EPOCH=${SSE_MAX_EPOCH:-6} SSE_PATIENCE=${SSE_PATIENCE:-2}
export SSE_MAX_BATCH_DURATION=${SSE_MAX_BATCH_DURATION:-10} SSE_MAX_SEGMENTS=${SSE_MAX_SEGMENTS:-20000}
export SSE_LOG_INTERVAL=${SSE_LOG_INTERVAL:-20}
mkdir -p "$SSE_EXP"

bash "$ROOT/launch_init.sh" "$LS"
bash "$ROOT/iteration.sh" "$LS" "$SSE_EXP/init/checkpoint_best.pt"
bash "$ROOT/iteration.sh" "$LS" "$SSE_EXP/iter1/checkpoint_best.pt"
bash "$ROOT/launch_gold.sh" "$LS"

python3 "$ROOT/utils/map_table.py" --path_wavs "$LS" --path_segments "$SSE_BENCHMARK" --baseline \
  --model "stage 1 (augmentation)=$SSE_EXP/init" --model "k-NN iteration 1=$SSE_EXP/iter1" \
  --model "k-NN iteration 2=$SSE_EXP/iter2" --model "weakly supervised=$SSE_EXP/gold" \
  --output_table "$SSE_EXP/results.md" --output_plot "$SSE_EXP/map.png" --device "$SSE_DEVICE" 2>/dev/null
python3 "$ROOT/utils/plot_training.py" --quiet --output "$SSE_EXP/curves.png" \
  --title "${SSE_TITLE:-$(basename "$LS")}: loss and validation MAP per epoch" \
  --log "stage 1=$SSE_EXP/init/train.log" --log "k-NN 1=$SSE_EXP/iter1/train.log" \
  --log "k-NN 2=$SSE_EXP/iter2/train.log" --log "weakly supervised=$SSE_EXP/gold/train.log"
echo "table: $SSE_EXP/results.md   plots: $SSE_EXP/map.png $SSE_EXP/curves.png"
