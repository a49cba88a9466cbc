"""Atomic output: a file appears under its final name only once it is complete."""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _temporary_sibling(path: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, single_writer: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    For writers that want a file name (``np.save``, ``torch.save``, matplotlib). On error the
    temporary file is removed and ``path`` is left untouched. A kill leaves the hidden
    temporary behind; with ``single_writer`` (no other process ever writes ``path`` at the same
    time) a successful write also removes those of earlier, killed writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(path)
    try:
        yield temporary
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if single_writer:
        remove_leftover_parts(path.parent, path.name, temporaries_only=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", single_writer: bool = False, **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` that writes to a temporary name and renames when the block ends."""
    if not mode.startswith("w"):
        raise ValueError("atomic_open only writes")
    with atomic_path(path, single_writer) as temporary:
        with open(temporary, mode, **kwargs) as handle:
            yield handle


def remove_leftover_parts(directory: str | os.PathLike, name: str, temporaries_only: bool = False) -> list[Path]:
    """Remove the hidden temporary files that writes of ``name`` killed mid-way left in ``directory``.

    Call it only once ``name`` is complete and no other process is writing it. With
    ``temporaries_only``, only the ``.NAME.XXXXXXXX.part`` files of :func:`atomic_path`.
    """
    removed = []
    pattern = f".{glob.escape(name)}.{'[a-z0-9_]' * 8}.part" if temporaries_only else f".{glob.escape(name)}.*part"
    for leftover in Path(directory).glob(pattern):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed
