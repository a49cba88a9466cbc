#!/usr/bin/env bash
# Wheels for bench/gpu_check.sh on the lent GPU machine (Python 3.12, torch 2.11 + CUDA 13, no
# network, no fairseq, faiss, soundfile, kaldi-native-fbank or pedalboard): writes .whl/ (ignored
# by git, about 3.5 MB). Run here, in the repository root, on a machine that has fairseq-fixed
# installed (bash install.sh) and a network.
#
# - fairseq-fixed ships C extensions built for this Python only. The toolkit needs none of them
#   (its datasets batch themselves), so its Python source is repackaged as a pure wheel, without
#   examples/ (17 MB, never imported by the library).
# - hydra-core, omegaconf, antlr4 (fairseq's config stack), bitarray, soundfile (sse.frames.audio
#   imports it), cffi and pycparser are downloaded for CPython 3.12 / manylinux x86-64.
# - faiss, kaldi-native-fbank and pedalboard are not needed: the check runs exact k-NN through
#   torch, uses the wav2vec2 front-end, and synthesises stretched audio instead of stretching.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=.whl
mkdir -p "$out"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d "$out" hydra-core==1.3.2 omegaconf==2.3.0 bitarray==3.12.3 soundfile==0.14.0 cffi==2.0.0 pycparser==3.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps --no-binary=:all: -d "$work" antlr4-python3-runtime==4.9.3
"$PY" -m pip wheel -q --no-deps --no-build-isolation "$work"/antlr4-python3-runtime-4.9.3.tar.gz -w "$out"

site=$("$PY" -c "import fairseq, os; print(os.path.dirname(os.path.dirname(fairseq.__file__)))")
mkdir -p "$work/fairseq"
cp -r "$site/fairseq" "$site/fairseq_cli" "$work/fairseq/"
(cd "$work/fairseq" && find . -name '*.so' -delete && find . -name __pycache__ -type d -prune -exec rm -rf {} + \
  && rm -rf fairseq/examples && mkdir fairseq/examples && touch fairseq/examples/__init__.py)
cat > "$work/fairseq/setup.py" <<'SETUP'
from setuptools import find_packages, setup

setup(name="fairseq-fixed", version="0.12.3.1+purepython",
      packages=find_packages(include=["fairseq", "fairseq.*", "fairseq_cli", "fairseq_cli.*"]),
      package_data={"": ["*.yaml"]},
      entry_points={"console_scripts": ["fairseq-train = fairseq_cli.train:cli_main"]})
SETUP
"$PY" -m pip wheel -q --no-deps --no-build-isolation "$work/fairseq" -w "$out"
ls -l "$out"
