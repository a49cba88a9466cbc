#!/usr/bin/env bash
# Regenerates the lists bundled with the demo corpus, from training_data/demo alone:
#   training_data/demo-vads          VAD of the training voices        (utils/vad.py, silero)
#   training_data/demo-segments      their segments, 20,000 drawn      (utils/make_segments.py)
#   training_data/demo-ngrams        those segments, phone-labelled    (utils/transcribe_timestamps.py)
#   sse_benchmark/demo-dev-vads      VAD of the held-out voices
#   sse_benchmark/demo-ngrams-subset benchmark on the held-out voices  (utils/make_benchmark.py)
#
#   bash utils/demo/prepare_demo_data.sh
#
# The segment list is capped at 20,000 (of ~49,000) so that k-NN mining stays quick on a CPU;
# the benchmark at 2,500 segments, at most 8 per label, so that validating after every epoch does.
set -euo pipefail
case " $* " in *" --help "*|*" -h "*) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
LS=training_data/demo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" utils/vad.py --path_wavs "$LS" --output "$work/vads"
grep '^train/' "$work/vads" > "$work/train-vads"
grep '^dev/' "$work/vads" > "$work/dev-vads"
"$PY" utils/make_segments.py "$work/train-vads" "$work/segments" --max_segments 20000 --seed 0
"$PY" utils/transcribe_timestamps.py "$work/segments" "$LS/alignments.txt" "$work/ngrams" --path_wavs "$LS"
"$PY" utils/make_benchmark.py --alignments "$LS/alignments.txt" --vads "$work/dev-vads" \
  --output "$work/benchmark" --max_per_label 8 --max_segments 2500 --seed 0

mv "$work/train-vads" training_data/demo-vads
mv "$work/segments" training_data/demo-segments
mv "$work/ngrams" training_data/demo-ngrams
mv "$work/dev-vads" sse_benchmark/demo-dev-vads
mv "$work/benchmark" sse_benchmark/demo-ngrams-subset
wc -l training_data/demo-vads training_data/demo-segments training_data/demo-ngrams \
  sse_benchmark/demo-dev-vads sse_benchmark/demo-ngrams-subset
