#!/usr/bin/env bash
# Weakly supervised model: positive pairs are two tokens of the same phone n-gram label.
#
#   bash launch_gold.sh $LS
#
# Labels come from SSE_NGRAMS (a segment list with transcriptions), made from SSE_SEGMENTS and
# SSE_ALIGNMENTS by utils/transcribe_timestamps.py when missing. A label is drawn in proportion
# to its count among labels with >= 2 tokens. Schedule: the paper's, row "gold" of STAGES in
# sse/defaults.py (`python -m sse.defaults`). Settings: see utils/recipe_common.sh.
source "$(dirname "$0")/utils/recipe_common.sh"
[ $# -eq 1 ] || { echo "usage: bash launch_gold.sh \$LS" >&2; exit 2; }
LS=$1
check_corpus "$LS"
OUT=${SSE_OUT:-$EXP/gold}
check_out "$OUT" gold

# Labels this recipe made (a stamp beside them) are checked against what made them.
if [ ! -s "$NGRAMS" ] || { [ -f "$NGRAMS.stamp" ] && [ -n "${SSE_ALIGNMENTS:-}" ]; }; then
  [ -n "${SSE_ALIGNMENTS:-}" ] || die "$NGRAMS: no labelled segment list; set SSE_NGRAMS, or SSE_ALIGNMENTS to make it"
  ensure_segments
  stage_stamp labels --file "$NGRAMS" --input "segments=$SEGMENTS" --input "alignments=$SSE_ALIGNMENTS"
  if [ ! -s "$NGRAMS" ]; then
    log "labels: $SEGMENTS + $SSE_ALIGNMENTS -> $NGRAMS"
    "$PY" "$SSE_ROOT/utils/transcribe_timestamps.py" "$SEGMENTS" "$SSE_ALIGNMENTS" "$NGRAMS"
  fi
fi
ensure_features "$LS" "$VADS" "$TRAIN_FEATURES"
ensure_benchmark_features "$LS"
schedule gold
stage_stamp gold --dir "$OUT" --input "ngrams=$NGRAMS" --input "features=$TRAIN_FEATURES" $(common_settings) \
  $(schedule_settings) --setting "extra_args=${SSE_EXTRA_ARGS:-}"
train "$OUT" "$LS" --task sse_gold --features "$TRAIN_FEATURES" --segments "$NGRAMS"
report_map "$LS" "$OUT"
log "weakly supervised model: $OUT/checkpoint_best.pt"
