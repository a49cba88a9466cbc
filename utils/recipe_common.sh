# Sourced by launch_init.sh, iteration.sh and launch_gold.sh: settings and the steps they share.
#
# Every setting is an environment variable with a default; the defaults are the paper's recipe
# (wav2vec2 layer 8 features) on the lists bundled in training_data/ and sse_benchmark/. The
# paper's numbers (front-end layer, learning rate, each stage's schedule) are read from the one
# table in sse/defaults.py (`python -m sse.defaults` prints them).
#   SSE_FRONTEND      wav2vec2 | mfcc | fbank                      (wav2vec2)
#   SSE_PATH_SSL      fairseq wav2vec 2.0 checkpoint               (pretrained/wav2vec_small.pt)
#   SSE_LAYER         wav2vec 2.0 layer                            (8)
#   SSE_CMVN          utterance | none: per-VAD mean/variance normalisation of the frames
#                                                                  (utterance for mfcc/fbank, none for wav2vec2)
#   SSE_VADS          training VAD list                            (training_data/demo-vads)
#   SSE_SEGMENTS      training segment list, made from SSE_VADS if missing   (training_data/demo-segments)
#   SSE_MAX_SEGMENTS  cap when making SSE_SEGMENTS                 (4000000)
#   SSE_NGRAMS        labelled segments for launch_gold.sh         (training_data/demo-ngrams)
#   SSE_ALIGNMENTS    alignments to make SSE_NGRAMS from SSE_SEGMENTS if it is missing
#   SSE_BENCHMARK     validation benchmark; set it empty to select by held-out loss instead
#                                                                  (sse_benchmark/demo-ngrams-subset)
#   SSE_EXP           experiment folder                            (exp)
#   SSE_OUT           this stage's output folder                   (exp/init, exp/iterN, exp/gold)
#   SSE_DEVICE        cuda | cpu                                   (cuda if available)
#   SSE_MAX_EPOCH SSE_PATIENCE SSE_EPOCH_UPDATES SSE_PAIRS_PER_BATCH   (per stage: STAGES in sse/defaults.py)
#   SSE_MAX_BATCH_DURATION  stage 1: seconds of VADs per batch     (20)
#   SSE_NUM_WORKERS   data-loading processes                       (2)
#   SSE_SEED          training seed                                (1)
#   SSE_TENSORBOARD   1: log training scalars to OUT/tensorboard (tensorboard --logdir $SSE_EXP); 0: off  (1)
#   SSE_EXTRA_ARGS    anything else for fairseq-train, e.g. "--max-update 3000 --fp16"
#   SSE_MINE_ARGS     anything else for utils/mine_pairs.py, e.g. "--score margin --coverage 0.3"
#   SSE_AUGMENT_SHARE iteration.sh: share of each batch's pairs from stage-1 augmentation  (0, the paper)
#   SSE_WARM_START    iteration.sh: 1 starts from the previous model, 0 from scratch      (0, the paper)
#   SSE_STRETCH_PAIRS iteration.sh: N > 0 reads both sides of each mined pair from N time-stretched
#                     versions of their VADs, computed once in FEATURES-stretchedN      (0, the paper)
#
# After training, each stage leaves OUT/curves.png: loss and validation MAP per epoch.
set -euo pipefail

# `bash RECIPE --help` prints the recipe's header comment and this list, and does nothing else.
for arg in "$@"; do
  case $arg in
    -h|--help)
      sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
      echo; sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0 ;;
  esac
done

SSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
# The scripts a recipe runs give their hints in its terms (SSE_PATH_SSL, not --path_ssl).
export SSE_RECIPE=1
# SSE_DEFAULT_* and STAGE_<STAGE>_<SETTING>: the library's defaults, from their one place.
library_defaults=$(cd "$SSE_ROOT" && "$PY" -m sse.defaults) || exit 2
eval "$library_defaults"
FRONTEND=${SSE_FRONTEND:-wav2vec2}
PATH_SSL=${SSE_PATH_SSL:-$SSE_DEFAULT_WAV2VEC2}
LAYER=${SSE_LAYER:-$SSE_DEFAULT_LAYER}
MAX_BATCH_DURATION=${SSE_MAX_BATCH_DURATION:-$SSE_DEFAULT_MAX_BATCH_DURATION}
CMVN=${SSE_CMVN:-}
VADS=${SSE_VADS:-$SSE_ROOT/training_data/demo-vads}
SEGMENTS=${SSE_SEGMENTS:-$SSE_ROOT/training_data/demo-segments}
MAX_SEGMENTS=${SSE_MAX_SEGMENTS:-4000000}
NGRAMS=${SSE_NGRAMS:-$SSE_ROOT/training_data/demo-ngrams}
BENCHMARK=${SSE_BENCHMARK-$SSE_ROOT/sse_benchmark/demo-ngrams-subset}
EXP=${SSE_EXP:-exp}
NUM_WORKERS=${SSE_NUM_WORKERS:-2}
SEED=${SSE_SEED:-1}
# SSE_DEVICE is checked against what torch has (sse/device.py): a CUDA request on a CPU-only
# torch is one error line here, not a failure inside fairseq-train.
DEVICE=$(cd "$SSE_ROOT" && "$PY" -m sse.device ${SSE_DEVICE:+"$SSE_DEVICE"}) || exit 2
case $FRONTEND in
  wav2vec2) FEATURE_TAG=wav2vec2-layer$LAYER ;;
  mfcc|fbank) FEATURE_TAG=$FRONTEND ;;
  *) echo "error: SSE_FRONTEND=$FRONTEND is not one of wav2vec2, mfcc, fbank" >&2; exit 2 ;;
esac
case $CMVN in
  "") ;;
  utterance|none) FEATURE_TAG=$FEATURE_TAG-cmvn-$CMVN ;;
  *) echo "error: SSE_CMVN=$CMVN is not one of utterance, none" >&2; exit 2 ;;
esac
TRAIN_FEATURES=$EXP/features/$FEATURE_TAG/train
BENCHMARK_FEATURES=$EXP/features/$FEATURE_TAG/benchmark

log() { echo "[$(date +%H:%M:%S)] $*"; }
die() { echo "error: $*" >&2; exit 2; }

check_corpus() {  # LS
  [ -d "$1" ] || die "$1: no such corpus folder (the first argument is the corpus root, \$LS)"
  [ -s "$VADS" ] || die "$VADS: no such VAD list (set SSE_VADS; utils/vad.py makes one)"
}

frontend_args() {
  echo "--frontend $FRONTEND"
  [ "$FRONTEND" = wav2vec2 ] && echo "--path_ssl $PATH_SSL --layer $LAYER"
  [ -n "$CMVN" ] && echo "--cmvn $CMVN"
  return 0
}

# stage_stamp STAGE (--dir OUT | --file OUT) [--input NAME=PATH]... [--setting NAME=VALUE]...
# Records what makes a stage's output, and refuses (one error line, exit 2) to go on with an
# output that holds results made from other inputs or settings, or by another stage.
stage_stamp() {
  local stage=$1; shift
  "$PY" "$SSE_ROOT/utils/stage_stamp.py" --stage "$stage" "$@" || exit 2
}

# schedule STAGE (init | iteration | gold): sets MAX_EPOCH PATIENCE EPOCH_UPDATES PAIRS_PER_BATCH
# to the stage's row of STAGES in sse/defaults.py, each overridden by its SSE_* variable.
schedule() {
  local row=STAGE_${1^^}
  local max_epoch=${row}_MAX_EPOCH patience=${row}_PATIENCE updates=${row}_EPOCH_UPDATES pairs=${row}_PAIRS_PER_BATCH
  [ -n "${!max_epoch:-}" ] || die "no stage $1 in sse/defaults.py"
  MAX_EPOCH=${SSE_MAX_EPOCH:-${!max_epoch}} PATIENCE=${SSE_PATIENCE:-${!patience}}
  EPOCH_UPDATES=${SSE_EPOCH_UPDATES:-${!updates}} PAIRS_PER_BATCH=${SSE_PAIRS_PER_BATCH:-${!pairs}}
}

# The training schedule (after `schedule STAGE`) as stamp settings.
schedule_settings() {
  echo "--setting max_epoch=$MAX_EPOCH --setting patience=$PATIENCE"
  echo "--setting epoch_updates=$EPOCH_UPDATES --setting pairs_per_batch=$PAIRS_PER_BATCH"
}

# What every training stage depends on besides its own lists.
common_settings() {
  echo --setting "frontend=$FRONTEND" --setting "cmvn=$CMVN" --setting "seed=$SEED" --input "benchmark=$BENCHMARK"
  [ "$FRONTEND" = wav2vec2 ] && echo --setting "layer=$LAYER" --input "path_ssl=$PATH_SSL"
  return 0
}

# Refuse SSE_OUT pointing at a folder another stage made (one SSE_OUT exported for all stages).
check_out() {  # OUT STAGE
  if [ -n "${SSE_OUT:-}" ] && [ -f "$1/stamp.json" ] && ! grep -q "\"stage\": \"$2\"" "$1/stamp.json"; then
    die "SSE_OUT=$SSE_OUT already holds the output of another stage; SSE_OUT names one stage's folder: set it for one run only, or unset it (stages then go to \$SSE_EXP/init, iterN, gold)"
  fi
}

ensure_segments() {
  # A list the user gave (no stamp beside it) is an input; one this recipe made is checked
  # against what made it.
  if [ -s "$SEGMENTS" ] && [ ! -f "$SEGMENTS.stamp" ]; then log "segments: $SEGMENTS"; return; fi
  stage_stamp segments --file "$SEGMENTS" --input "vads=$VADS" --setting "max_segments=$MAX_SEGMENTS"
  if [ -s "$SEGMENTS" ]; then log "segments: $SEGMENTS"; return; fi
  log "segments: making $SEGMENTS from $VADS"
  "$PY" "$SSE_ROOT/utils/make_segments.py" "$VADS" "$SEGMENTS" --max_segments "$MAX_SEGMENTS"
}

ensure_features() {  # LS LIST STORE
  log "features: $3"
  "$PY" "$SSE_ROOT/utils/extract_features.py" --path_wavs "$1" --path_vads "$2" --output_dir "$3" \
    $(frontend_args) --device "$DEVICE" --num_workers "$NUM_WORKERS"
}

ensure_benchmark_features() {  # LS
  [ -n "$BENCHMARK" ] || return 0
  [ -s "$BENCHMARK" ] || die "$BENCHMARK: no such benchmark (set SSE_BENCHMARK, or empty it for loss validation)"
  ensure_features "$1" "$BENCHMARK" "$BENCHMARK_FEATURES"
}

# train OUT LS TASK_ARGS...   (after `schedule STAGE`)
# Runs fairseq-train unless OUT/training_done exists; an interrupted run resumes from
# OUT/checkpoint_last.pt. Logs to OUT/train.log.
train() {
  local out=$1 ls=$2 max_epoch=$MAX_EPOCH patience=$PATIENCE epoch_updates=$EPOCH_UPDATES pairs=$PAIRS_PER_BATCH
  shift 2
  if [ -f "$out/training_done" ]; then log "training: $out is done"; return; fi
  local validation=(--valid-batches 20)
  if [ -n "$BENCHMARK" ]; then
    validation=(--valid-segments "$BENCHMARK" --valid-features "$BENCHMARK_FEATURES"
                --best-checkpoint-metric map --maximize-best-checkpoint-metric)
  fi
  local device=()
  [ "$DEVICE" = cpu ] && device=(--cpu)
  local tensorboard=()
  [ "${SSE_TENSORBOARD:-1}" = 0 ] || tensorboard=(--tensorboard-logdir "$out/tensorboard")
  mkdir -p "$out"
  [ -f "$out/checkpoint_last.pt" ] && log "training: resuming $out from checkpoint_last.pt"
  log "training: $out (up to $max_epoch epochs of $epoch_updates updates, $pairs pairs a batch, patience $patience)"
  log "training: live log: tail -f $out/train.log (a line every ${SSE_LOG_INTERVAL:-50} updates and at each epoch's end)"
  local status log_start
  log_start=1  # this run's lines of train.log start here
  if [ -f "$out/train.log" ]; then log_start=$(( $(wc -l < "$out/train.log") + 1 )); fi
  set +e  # keep fairseq-train's own exit status, whatever the log filter finds
  fairseq-train "$ls" --user-dir "$SSE_ROOT/sse" "$@" "${validation[@]}" \
    --arch sse --criterion nt_xent --optimizer adam --lr "$SSE_DEFAULT_LR" --adam-betas "(0.9, 0.999)" --weight-decay 0 \
    --lr-scheduler fixed --batch-size 1 --max-epoch "$max_epoch" --patience "$patience" \
    --epoch-updates "$epoch_updates" --pairs-per-batch "$pairs" --save-dir "$out" --no-epoch-checkpoints \
    --log-format simple --log-interval "${SSE_LOG_INTERVAL:-50}" --num-workers "$NUM_WORKERS" --seed "$SEED" \
    "${device[@]}" "${tensorboard[@]}" ${SSE_EXTRA_ARGS:-} 2>&1 | tee -a "$out/train.log" \
    | grep --line-buffered -E "\| (train_inner|train|valid) \||error|Error" | grep --line-buffered -v "^error: "
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" != 0 ]; then
    # A user error inside fairseq-train (sse/plugin/reporting.py) is its own "error:" line.
    local reason
    reason=$(tail -n "+$log_start" "$out/train.log" | grep -a "^error: " | tail -n 1 || true)
    [ -z "$reason" ] || { echo "$reason" >&2; exit 2; }
    reason=$(tail -n "+$log_start" "$out/train.log" | grep -a "^fairseq-train: error: " | tail -n 1 || true)
    die "fairseq-train failed (exit status $status)${reason:+: ${reason#fairseq-train: error: }}; see $out/train.log"
  fi
  [ -f "$out/checkpoint_best.pt" ] || die "fairseq-train wrote no $out/checkpoint_best.pt; see $out/train.log"
  touch "$out/training_done"
  plot_curves "$out"
}

plot_curves() {  # OUT: loss and validation MAP per epoch, from OUT/train.log
  if "$PY" "$SSE_ROOT/utils/plot_training.py" --log "$(basename "$1")=$1/train.log" --output "$1/curves.png" --quiet; then
    log "curves: $1/curves.png"
  else
    log "warning: could not plot $1/train.log"
  fi
}

report_map() {  # LS OUT
  [ -n "$BENCHMARK" ] || return 0
  local output errors
  errors=$(mktemp)
  if output=$("$PY" "$SSE_ROOT/utils/map_dump.py" --path_wavs "$1" --path_segments "$BENCHMARK" --task=map \
              --path_sse "$2" --features "$BENCHMARK_FEATURES" --device "$DEVICE" 2>"$errors"); then
    rm -f "$errors"
    log "$2: $(tail -n 1 <<< "$output")"
  else
    local message
    message=$(grep '^error:' "$errors" || tail -n 3 "$errors")
    rm -f "$errors"
    die "scoring $2 failed: $message"
  fi
}
