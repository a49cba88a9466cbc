#!/usr/bin/env bash
# One prepared check of every CUDA path (bench/gpu_check.py): `bash bench/gpu_check.sh` on a GPU,
# `bash bench/gpu_check.sh --cpu` for the small CPU mode. Where fairseq is missing (the lent GPU
# machine) it first installs the wheels carried in .whl/ (made by bench/make_wheels.sh).
# The table is printed, and also written to $OUT/gpu_check.md when OUT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if ! python3 -c "import fairseq" 2>/dev/null; then
  if [ ! -d .whl ]; then
    echo "error: fairseq is not installed and there is no .whl/ to install it from (bash bench/make_wheels.sh)" >&2
    exit 2
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/sse_site .whl/*.whl
  export PYTHONPATH=/tmp/sse_site${PYTHONPATH:+:$PYTHONPATH}
fi
exec python3 bench/gpu_check.py "$@"
