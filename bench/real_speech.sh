#!/usr/bin/env bash
# The method on real recorded speech: spoken digits (FSDD), 8 kHz telephone band.
#
#   bash bench/real_speech.sh [RECORDINGS] [OUTPUT]     # defaults: ../shared/fsdd-dev/recordings, bench_runs/fsdd
#
# utils/make_word_corpus.py joins each speaker's training takes into continuous sessions and
# keeps 20 % of the takes of every (speaker, digit) isolated, as a labelled benchmark. Then the
# recipe runs with the small profile of run_demo.sh (recipe.sh; MFCC front-end), and the exact MAP
# of mean-pooled frames, an untrained encoder and every model is printed as one table
# (OUTPUT/results.md, map.png). To score voices never trained on, make OUTPUT/corpus first with
# make_word_corpus.py --heldout_speakers NAMES: the bench then keeps it.
# Any corpus named {label}_{speaker}_{take}.wav works; SSE_* variables override the settings.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RECORDINGS=${1:-$ROOT/../shared/fsdd-dev/recordings}
OUTPUT=${2:-bench_runs/fsdd}
[ -d "$RECORDINGS" ] || { echo "error: $RECORDINGS: no such folder of word recordings" >&2; exit 2; }
started=$(date +%s)
CORPUS=$OUTPUT/corpus
if [ ! -s "$CORPUS/vads" ]; then
  python3 "$ROOT/utils/make_word_corpus.py" --path_wavs "$RECORDINGS" --output "$CORPUS"
fi
export SSE_VADS=$CORPUS/vads SSE_NGRAMS=$CORPUS/tokens SSE_BENCHMARK=$CORPUS/benchmark
bash "$ROOT/recipe.sh" --profile small --stage 1 --title "real speech: $(basename "$(dirname "$RECORDINGS")")" \
  "$CORPUS" "$OUTPUT"
echo "real-speech bench: $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"
