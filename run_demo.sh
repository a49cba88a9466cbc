#!/usr/bin/env bash
# The main job, one command: the whole method on the bundled demo corpus, CPU-sized.
#
#   bash run_demo.sh            # results in demo_run/ (results.md, map.png, one folder a model)
#
# From the corpus and its VAD list: segments, MFCC features, stage 1 (augmentation), two k-NN
# iterations, the weakly supervised model; then the exact MAP of the mean-pooled frames and of
# every model on the held-out benchmark (sse_benchmark/demo-ngrams-subset), as a table and a
# bar chart. Takes about 15 minutes on 2 CPU cores. Rerunning skips finished stages; delete
# demo_run/ to start over.
#
# The "small" setting (the scripts' defaults are the paper's):
#   front-end MFCC (no wav2vec2 weights needed); 64 pairs a batch instead of 250/256;
#   40 updates an epoch instead of 200/1000; at most 6 epochs (patience 2) per model;
#   stage-1 batches of 10 s of speech instead of 20 s; 20,000 training segments.
set -euo pipefail
cd "$(dirname "$0")"
started=$(date +%s)
export SSE_FRONTEND=mfcc SSE_EXP=${SSE_EXP:-demo_run} SSE_DEVICE=${SSE_DEVICE:-cpu}
export SSE_SEGMENTS=${SSE_SEGMENTS:-$SSE_EXP/segments}
export SSE_PAIRS_PER_BATCH=${SSE_PAIRS_PER_BATCH:-64} SSE_EPOCH_UPDATES=${SSE_EPOCH_UPDATES:-40}
export SSE_MAX_EPOCH=${SSE_MAX_EPOCH:-6} SSE_PATIENCE=${SSE_PATIENCE:-2}
export SSE_MAX_BATCH_DURATION=${SSE_MAX_BATCH_DURATION:-10} SSE_MAX_SEGMENTS=${SSE_MAX_SEGMENTS:-20000}
export SSE_LOG_INTERVAL=${SSE_LOG_INTERVAL:-20}
LS=training_data/demo
mkdir -p "$SSE_EXP"

bash launch_init.sh "$LS"
bash iteration.sh "$LS" "$SSE_EXP/init/checkpoint_best.pt"
bash iteration.sh "$LS" "$SSE_EXP/iter1/checkpoint_best.pt"
bash launch_gold.sh "$LS"

python3 utils/map_table.py --path_wavs "$LS" --path_segments sse_benchmark/demo-ngrams-subset \
  --features "$SSE_EXP/features/mfcc/benchmark" --baseline \
  --model "stage 1 (augmentation)=$SSE_EXP/init" --model "k-NN iteration 1=$SSE_EXP/iter1" \
  --model "k-NN iteration 2=$SSE_EXP/iter2" --model "weakly supervised=$SSE_EXP/gold" \
  --output_table "$SSE_EXP/results.md" --output_plot "$SSE_EXP/map.png" --device "$SSE_DEVICE" 2>/dev/null
echo "table: $SSE_EXP/results.md   plot: $SSE_EXP/map.png   ($(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s)"
