#!/usr/bin/env bash
# Installs the toolkit and everything it needs into the current Python environment.
#
#   bash install.sh         torch, fairseq, faiss, the sse package and its dependencies
#   bash install.sh --dev   also the test tools, pocketsphinx, the ZeroSpeech term-discovery scorer,
#                           and the Debian packages that the tests and the demo-corpus generator use
#                           (espeak-ng, flite, festival; chromium for the discovery page's test)
#
# Safe to run again: what is already installed is left alone.
# TORCH_SPEC chooses the torch to install when none is present (default torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")"
dev=0
[ "${1:-}" = "--dev" ] && dev=1
PY=${PYTHON:-python3}
# pip install, quiet. fairseq declares torchaudio, which is left out on purpose (nothing here uses
# it, and the registry's build does not load beside a CPU torch), so pip's resolver ends later
# installs with an "ERROR: ... fairseq-fixed requires torchaudio" block. That block alone is
# dropped; any other conflict is shown as pip wrote it.
pip_install() {
  local log status
  log=$(mktemp)
  "$PY" -m pip install --quiet "$@" 2>"$log" && status=0 || status=$?
  if grep -q "requires torchaudio" "$log" &&
     ! grep -v -e "^ERROR: pip's dependency resolver does not currently take into account" \
               -e "^fairseq[-a-z]* [0-9.]* requires torchaudio" "$log" | grep -q "requires\|ERROR"; then
    grep -v -e "^ERROR: pip's dependency resolver does not currently take into account" \
            -e "^fairseq[-a-z]* [0-9.]* requires torchaudio" "$log" >&2 || true
  else
    cat "$log" >&2
  fi
  rm -f "$log"
  return "$status"
}

if [ "$dev" = 1 ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "== Debian packages (synthesisers for the demo corpus and the tests, real test speech)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
    pocketsphinx-testdata chromium >/dev/null
fi

# torch first: a resolver step that finds no torch would pull the large CUDA build.
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "== ${TORCH_SPEC:-torch==2.13.0}"
  pip_install "${TORCH_SPEC:-torch==2.13.0}"
fi

if ! "$PY" -c "import fairseq" 2>/dev/null; then
  echo "== fairseq (compiles for a few minutes)"
  pip_install numpy cython
  pip_install hydra-core==1.3.2 omegaconf==2.3.0 regex sacrebleu bitarray scikit-learn packaging cffi
  if "$PY" -c "import sys; sys.exit(sys.version_info < (3, 11))"; then
    pip_install --no-build-isolation --no-deps fairseq-fixed==0.12.3.1  # fairseq 0.12.2 for Python 3.11+
  else
    pip_install --no-build-isolation --no-deps fairseq==0.12.2
  fi
fi

if ! "$PY" -c "import faiss" 2>/dev/null; then
  echo "== faiss-cpu (install faiss-gpu yourself on a GPU machine for GPU k-NN)"
  pip_install faiss-cpu
fi

echo "== sse"
if [ "$dev" = 1 ]; then pip_install -e ".[dev,align,tde]"; else pip_install -e .; fi
check='import sse, fairseq, faiss, torch; print("sse", sse.__version__, "| torch", torch.__version__, "| fairseq", fairseq.__version__, "| cuda", torch.cuda.is_available())'
if ! report=$("$PY" -c "$check" 2>/tmp/sse_install_check.$$); then
  cat /tmp/sse_install_check.$$ >&2; rm -f /tmp/sse_install_check.$$; exit 1
fi
rm -f /tmp/sse_install_check.$$
echo "$report"
