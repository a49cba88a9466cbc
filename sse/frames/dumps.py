"""Self-describing embedding dumps: ``NAME.npy`` and, beside it, ``NAME.npy.json``.

The ``.npy`` is the (segments, dim) float32 matrix, rows in list order (``map_dump.py
--task=dump``). The ``.json`` says what the rows are::

    {"format": "sse-embeddings", "version": 1,
     "shape": [N, dim], "dtype": "float32", "normalized": false,
     "rows": ["<segment-list line, or wav start end>", ...],
     "segment_list": "/abs/list", "corpus": "/abs/corpus root", "features": null,
     "model": {"path": "/abs/checkpoint_best.pt" or null, "baseline": null or "mean",
               "frontend": {"name": ..., "dim": ..., "frame_rate": ..., ...}},
     "toolkit": {"name": "sse", "version": "0.1.0"}}

Both files are written under temporary names and renamed once complete (the ``.npy`` last, so
a dump whose ``.npy`` exists always has its description).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from sse import __version__
from sse.core.errors import UserError
from sse.core.files import atomic_open
from sse.frames.formats import Segment, format_segment_or_span, parse_segment_or_span

FORMAT = "sse-embeddings"
VERSION = 1


def description_path(path: str | os.PathLike) -> Path:
    """Where the description of the dump ``path`` lives: ``path`` + ``.json``."""
    return Path(f"{path}.json")


def _absolute(path) -> str | None:
    return None if path is None else str(Path(path).resolve())


def write_dump(path: str | os.PathLike, embeddings: np.ndarray, segments: Sequence[Segment], *,
               model_path=None, baseline: str | None = None, frontend: dict | None = None,
               segment_list=None, corpus=None, features=None, normalized: bool = False) -> dict:
    """Write ``path`` (.npy) and its description; returns the description."""
    if len(embeddings) != len(segments):
        raise ValueError(f"{len(embeddings)} embeddings for {len(segments)} segments")
    description = {
        "format": FORMAT, "version": VERSION,
        "shape": list(embeddings.shape), "dtype": str(embeddings.dtype), "normalized": bool(normalized),
        "segment_list": _absolute(segment_list), "corpus": _absolute(corpus), "features": _absolute(features),
        "model": {"path": _absolute(model_path), "baseline": baseline, "frontend": frontend},
        "toolkit": {"name": "sse", "version": __version__},
        "rows": [format_segment_or_span(segment) for segment in segments],
    }
    with atomic_open(description_path(path)) as out:
        json.dump(description, out, indent=1)
        out.write("\n")
    with atomic_open(path, "wb") as out:
        np.save(out, embeddings)
    return description


class Dump(NamedTuple):
    embeddings: np.ndarray
    segments: list[Segment]
    description: dict


def read_dump(path: str | os.PathLike, mmap: bool = True) -> Dump:
    """A dump and its description; the rows' segments are parsed back from the description."""
    path = Path(path)
    meta_path = description_path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such embedding dump")
    if not meta_path.is_file():
        raise UserError(f"{path}: has no description {meta_path.name} beside it (write dumps with "
                        "map_dump.py --task=dump, which records what each row is)")
    try:
        description = json.loads(meta_path.read_text(encoding="utf-8"))
        if description.get("format") != FORMAT:
            raise ValueError("not an embedding-dump description")
        rows = description["rows"]
    except (ValueError, KeyError, AttributeError) as error:
        raise UserError(f"{meta_path}: not a valid dump description ({error})") from None
    if description.get("version", 0) > VERSION:
        raise UserError(f"{meta_path}: written by a newer version of the toolkit")
    try:
        embeddings = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: not a readable .npy ({error})") from None
    if embeddings.ndim != 2 or len(embeddings) != len(rows):
        raise UserError(f"{path}: holds {embeddings.shape} but its description lists {len(rows)} rows")
    segments = [parse_segment_or_span(str(row).split(), meta_path, f"row {number}")
                for number, row in enumerate(rows)]
    return Dump(embeddings, segments, description)
