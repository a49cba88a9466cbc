#!/usr/bin/env bash
# The main job, one command: the whole method on the bundled demo corpus, CPU-sized.
#
#   bash run_demo.sh            # results in demo_run/ (results.md, map.png, curves.png, one folder a model)
#
# From the corpus and its VAD list: segments, MFCC features, stage 1 (augmentation), two k-NN
# iterations, the weakly supervised model; then the exact MAP of the mean-pooled frames, of an
# untrained encoder and of every model on the held-out benchmark (sse_benchmark/demo-ngrams-subset),
# as a table and a bar chart. It prints how long it takes first (DEMO_MINUTES in sse/defaults.py,
# measured on 2 idle CPU cores), then each stage's live log. Rerunning skips finished stages; delete demo_run/
# to start over. It is recipe.sh with the small profile (PROFILES in sse/defaults.py).
set -euo pipefail
case " $* " in *" --help "*|*" -h "*) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")"
started=$(date +%s)
minutes=$(python3 -c "from sse.defaults import DEMO_MINUTES; print(DEMO_MINUTES)")
echo "demo: the whole method on the bundled corpus, about $minutes minutes on 2 idle CPU cores; results in ${SSE_EXP:-demo_run}/"
export SSE_VADS=${SSE_VADS:-training_data/demo-vads} SSE_NGRAMS=${SSE_NGRAMS:-training_data/demo-ngrams}
export SSE_BENCHMARK=${SSE_BENCHMARK-sse_benchmark/demo-ngrams-subset}
bash recipe.sh --profile small training_data/demo "${SSE_EXP:-demo_run}"
echo "demo: $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"
