"""The installed commands (``sse-vad``, ``sse-map-dump`` ...): each runs one script of ``utils/``.

``pip install`` ships ``utils/`` as the package ``sse_utils`` and ``setup.py`` points every
console entry point here, so ``sse-map-dump ARGS`` and ``python utils/map_dump.py ARGS`` run the
very same code, flags and messages (only the program name in ``--help`` differs).
"""
from __future__ import annotations

import runpy

#: command -> script of utils/ (without .py)
COMMANDS = {
    "sse-vad": "vad",
    "sse-segments": "make_segments",
    "sse-extract": "extract_features",
    "sse-transcribe": "transcribe_timestamps",
    "sse-benchmark": "make_benchmark",
    "sse-mine": "mine_pairs",
    "sse-map-dump": "map_dump",
    "sse-table": "map_table",
    "sse-search": "search",
    "sse-export": "export_model",
    "sse-plot-training": "plot_training",
    "sse-word-corpus": "make_word_corpus",
    "sse-pair-quality": "pair_quality",
}


def _run(script: str) -> None:
    # sys.argv is left as the console script set it, so argparse names the command (sse-...).
    runpy.run_module(f"sse_utils.{script}", run_name="__main__")


def vad() -> None: _run("vad")  # noqa: E704
def segments() -> None: _run("make_segments")  # noqa: E704
def extract() -> None: _run("extract_features")  # noqa: E704
def transcribe() -> None: _run("transcribe_timestamps")  # noqa: E704
def benchmark() -> None: _run("make_benchmark")  # noqa: E704
def mine() -> None: _run("mine_pairs")  # noqa: E704
def map_dump() -> None: _run("map_dump")  # noqa: E704
def table() -> None: _run("map_table")  # noqa: E704
def search() -> None: _run("search")  # noqa: E704
def export() -> None: _run("export_model")  # noqa: E704
def plot_training() -> None: _run("plot_training")  # noqa: E704
def word_corpus() -> None: _run("make_word_corpus")  # noqa: E704
def pair_quality() -> None: _run("pair_quality")  # noqa: E704
