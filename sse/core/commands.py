"""The installed commands (``sse-vad``, ``sse-map-dump`` ...): each runs one script of ``utils/``.

``pip install`` ships ``utils/`` as the package ``sse_utils``, and ``setup.py`` makes every name
of :data:`COMMANDS` a console entry point of :func:`main`, so ``sse-map-dump ARGS`` and
``python utils/map_dump.py ARGS`` run the very same code, flags and messages (only the program
name in ``--help`` differs). This module imports nothing of ``sse``: ``setup.py`` reads it.
"""
from __future__ import annotations

import os
import runpy
import sys

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
    "sse-discover-terms": "discover_terms",
    "sse-score-terms": "score_terms",
}


def main() -> None:
    """The entry point of every sse-* command: runs the script of ``utils/`` its name maps to.

    ``sys.argv`` is left as the console script set it, so argparse names the command (sse-...).
    """
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]  # sse-vad, or sse-vad.exe on Windows
    if name not in COMMANDS:
        sys.exit(f"error: {name} is not one of the sse commands ({', '.join(COMMANDS)})")
    runpy.run_module(f"sse_utils.{COMMANDS[name]}", run_name="__main__")
