#!/usr/bin/env bash
# The main job, one command: the whole method on the bundled demo corpus, CPU-sized.
#
#   bash run_demo.sh            # results in demo_run/ (results.md, map.png, curves.png, one folder a model)
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
case " $* " in *" --help "*|*" -h "*) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
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
  --path_sse "stage 1 (augmentation)=$SSE_EXP/init" --path_sse "k-NN iteration 1=$SSE_EXP/iter1" \
  --path_sse "k-NN iteration 2=$SSE_EXP/iter2" --path_sse "weakly supervised=$SSE_EXP/gold" \
  --output_table "$SSE_EXP/results.md" --output_plot "$SSE_EXP/map.png" --device "$SSE_DEVICE" 2>/dev/null
python3 utils/plot_training.py --quiet --output "$SSE_EXP/curves.png" --title "demo: loss and validation MAP per epoch" \
  --log "stage 1=$SSE_EXP/init/train.log" --log "k-NN 1=$SSE_EXP/iter1/train.log" \
  --log "k-NN 2=$SSE_EXP/iter2/train.log" --log "weakly supervised=$SSE_EXP/gold/train.log"
echo "table: $SSE_EXP/results.md   plots: $SSE_EXP/map.png $SSE_EXP/curves.png   ($(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s)"
