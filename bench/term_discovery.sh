#!/usr/bin/env bash
# Spoken term discovery on the demo corpus and on real speech, scored by the ZeroSpeech 2017 tool.
#
#   bash bench/term_discovery.sh [DEMO_EXP] [REAL_EXP] [OUTPUT]
#        defaults: demo_run  bench_runs/fsdd2  bench_runs/term_discovery
#
# DEMO_EXP is a run_demo.sh folder, REAL_EXP a bench/real_speech.sh folder (its corpus/ inside).
# For each, utils/discover_terms.py runs with mean-pooled frames (MFCC, per-speaker CMVN), the stage-1
# model, the last k-NN iteration and the weakly supervised model, with the default discovery
# settings; utils/score_terms.py scores each class file; one table per corpus is printed with the
# models' MAP (from the folder's results.md) and the time each discovery + scoring took.
#   demo: the held-out dev VADs (sse_benchmark/demo-dev-vads), gold alignments of the corpus.
#   real speech: the training sessions (discovery is unsupervised, as in ZeroSpeech); word times
#     from the corpus, phones force-aligned inside each word (bench/bench_discovery.py).
# Classes, scores (JSON) and a page of the weakly supervised model's classes go to OUTPUT/<corpus>/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO_EXP=${1:-demo_run}
REAL_EXP=${2:-bench_runs/fsdd2}
OUTPUT=${3:-bench_runs/term_discovery}
PY=${PYTHON:-python3}
export TQDM_DISABLE=1

last_iteration() {  # the k-NN iteration folder with the highest number that holds a model
  local exp=$1 best="" n=0 dir
  for dir in "$exp"/iter*; do
    [ -f "$dir/checkpoint_best.pt" ] || continue
    [ "${dir##*iter}" -gt "$n" ] && { n=${dir##*iter}; best=$(basename "$dir"); }
  done
  echo "$best"
}

run_corpus() {  # name title corpus_root vads alignments features exp
  local name=$1 title=$2 corpus=$3 vads=$4 alignments=$5 features=$6 exp=$7
  local out=$OUTPUT/$name number=0 model started
  mkdir -p "$out"
  rm -f "$out"/*.json "$out"/*.ms
  local started_corpus=$(date +%s) load_before
  load_before=$(cut -d" " -f1 /proc/loadavg 2>/dev/null || echo "?")
  for model in mean init "$(last_iteration "$exp")" gold; do
    [ -n "$model" ] || continue
    number=$((number + 1))
    local stem=$out/$number-$model
    local source=(--baseline mean --frontend mfcc)   # per-speaker CMVN, the strongest simple baseline
    [ "$model" = mean ] || source=(--path_sse "$exp/$model" --features "$features")
    local page=()
    [ "$model" = gold ] && page=(--html "$out/gold.html" --alignments "$alignments")
    started=$(date +%s%N)
    "$PY" "$ROOT/utils/discover_terms.py" --quiet --path_wavs "$corpus" --path_vads "$vads" "${source[@]}" \
      --output "$stem.txt" "${page[@]}" --overwrite   # a rerun of the bench replaces its classes
    "$PY" "$ROOT/utils/score_terms.py" --quiet --classes "$stem.txt" --alignments "$alignments" \
      --path_vads "$vads" --output "$stem.json" >/dev/null
    echo $(( ($(date +%s%N) - started) / 1000000 )) > "$stem.ms"
  done
  "$PY" "$ROOT/bench/bench_discovery.py" table "$out" "$title" "$exp/results.md" | tee "$out/results.md"
  echo "$name: $(( $(date +%s) - started_corpus )) s in all; load average $load_before before," \
    "$(cut -d" " -f1 /proc/loadavg 2>/dev/null || echo "?") after (2 CPU cores shared with other runs)"
  echo
}

[ -d "$DEMO_EXP/gold" ] || { echo "error: $DEMO_EXP: no run_demo.sh output (gold/ missing)" >&2; exit 2; }
[ -d "$REAL_EXP/corpus" ] || { echo "error: $REAL_EXP: no bench/real_speech.sh output (corpus/ missing)" >&2; exit 2; }

run_corpus demo "demo corpus: held-out dev VADs ($(wc -l < "$ROOT/sse_benchmark/demo-dev-vads") VADs)" \
  "$ROOT/training_data/demo" "$ROOT/sse_benchmark/demo-dev-vads" "$ROOT/training_data/demo/alignments.txt" \
  "$DEMO_EXP/features/mfcc/benchmark" "$DEMO_EXP"

mkdir -p "$OUTPUT/fsdd"
if [ ! -s "$OUTPUT/fsdd/alignments.txt" ]; then
  "$PY" "$ROOT/bench/bench_discovery.py" fsdd-alignments "$REAL_EXP/corpus" "$OUTPUT/fsdd/alignments.txt"
fi
run_corpus fsdd "real speech (FSDD sessions): training VADs ($(wc -l < "$REAL_EXP/corpus/vads") VADs)" \
  "$REAL_EXP/corpus" "$REAL_EXP/corpus/vads" "$OUTPUT/fsdd/alignments.txt" \
  "$REAL_EXP/features/mfcc/train" "$REAL_EXP"
