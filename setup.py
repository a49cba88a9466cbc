"""Install the ``sse`` package: ``pip install -e .`` (``bash install.sh`` does everything, fairseq included).

fairseq is not listed here: 0.12.2 does not build on Python >= 3.11, where the drop-in
``fairseq-fixed==0.12.3.1`` provides the same ``fairseq`` module, and both must be installed
with ``--no-build-isolation --no-deps`` after torch; ``install.sh`` does that. FAISS is not
listed either, because ``faiss-cpu`` and ``faiss-gpu`` provide the same module and a GPU user
must not be handed the CPU build; ``install.sh`` installs ``faiss-cpu`` unless one is present.
"""
import runpy
from pathlib import Path

from setuptools import find_packages, setup

# The sse-* commands and the scripts they run: one table, in sse/core/commands.py (no imports of sse).
COMMANDS = runpy.run_path(str(Path(__file__).resolve().parent / "sse" / "core" / "commands.py"))["COMMANDS"]

setup(
    name="sse",
    version="0.1.0",
    description="Speech sequence embeddings trained with nearest-neighbour contrastive learning "
                "(Algayres et al., Interspeech 2022), on fairseq",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # utils/ ships as sse_utils: the sse-* commands run its scripts (sse/core/commands.py).
    packages=find_packages(include=["sse", "sse.*"]) + ["sse_utils"],
    package_dir={"sse_utils": "utils"},
    entry_points={"console_scripts": [f"{command}=sse.core.commands:main" for command in COMMANDS]},
    python_requires=">=3.9",
    install_requires=[
        "torch>=2.1",
        "numpy",
        "soundfile",
        "soxr",
        "pedalboard",
        "kaldi-native-fbank",
        "silero-vad",
        "tqdm",
        "matplotlib",
        "tensorboardX",
    ],
    extras_require={
        "dev": ["pytest", "scikit-learn", "onnx", "onnxscript", "ruff"],
        "export": ["onnx", "onnxscript"],
        "align": ["pocketsphinx>=5"],
        # Spoken term discovery scoring (utils/score_terms.py): the ZeroSpeech 2017 tool imports
        # pandas without declaring it (docs/term_discovery.md).
        "tde": ["zerospeech-tde==2.0.3", "pandas"],
        "pyannote": ["pyannote.audio"],
    },
)
