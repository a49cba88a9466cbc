"""Stamps: what made an output, so that a rerun never silently reuses output made from other inputs.

A stamp is a small JSON file written beside (or inside) an output::

    {"stage": "iteration",
     "inputs": {"previous": {"path": ..., "size": ..., "sha256": ...}, ...},
     "settings": {"max_epoch": "100", ...}}

:func:`claim` compares the stamp a run would write with the one already there:

* the same: the run goes on (it resumes or skips finished work);
* different, but the output holds no state yet (a run that failed on bad input, say): the
  stamp is replaced, so a corrected rerun is never refused because of a failed one;
* different, and state exists: a :class:`UserError` naming what changed. The toolkit refuses
  rather than deleting anyone's results; the message says what to delete.

Files are fingerprinted by size and SHA-256 of their content (a copied or touched list with the
same content is the same input); folders (a feature store) by the name, size and modification
time of every file in them.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sse.core.errors import UserError
from sse.core.files import atomic_open

#: Files inside a stage folder that are not results: a stage that wrote only these has no state.
NOT_STATE = ("train.log",)


def fingerprint(path: str | os.PathLike) -> dict:
    """Identifies the content of a file, or the files of a folder."""
    path = Path(path)
    if path.is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        return {"path": str(path.resolve()), "size": path.stat().st_size, "sha256": digest.hexdigest()}
    if path.is_dir():
        listing = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            stat = child.stat()
            listing.update(f"{child.relative_to(path)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        return {"path": str(path.resolve()), "listing": listing.hexdigest()}
    # Recorded, not refused: the step that reads it says best what is missing and why.
    return {"path": str(path.resolve()), "missing": True}


def read_stamp(path: str | os.PathLike) -> dict | None:
    """The stamp at ``path``; None if there is none or it is damaged (it then binds nothing)."""
    try:
        stamp = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def write_stamp(path: str | os.PathLike, stamp: dict) -> None:
    with atomic_open(path, encoding="utf-8") as out:
        json.dump(stamp, out, indent=2, sort_keys=True)
        out.write("\n")


def differences(old: dict, new: dict) -> list[str]:
    """What changed between two stamps, in words: ``input segments``, ``max_epoch 3 -> 4``."""
    changes = []
    for name in sorted(set(old.get("inputs", {})) | set(new.get("inputs", {}))):
        before, after = old.get("inputs", {}).get(name), new.get("inputs", {}).get(name)
        if before != after:
            path = (after or before or {}).get("path", "")
            changes.append(f"input {name} ({path})" if before and after else
                           f"input {name} {'added' if after else 'removed'}")
    for name in sorted(set(old.get("settings", {})) | set(new.get("settings", {}))):
        before, after = old.get("settings", {}).get(name), new.get("settings", {}).get(name)
        if before != after:
            changes.append(f"{name} {before!r} -> {after!r}")
    # Descriptions that serve as stamps (a feature store's frontend.json) have fields of their own.
    for name in sorted((set(old) | set(new)) - {"stage", "inputs", "settings"}):
        changes += _changed_field(name, old.get(name), new.get(name))
    return changes


def _changed_field(name: str, before, after) -> list[str]:
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [change for key in sorted(set(before) | set(after))
                for change in _changed_field(f"{name}.{key}", before.get(key), after.get(key))]
    if any(isinstance(value, str) and len(value) > 40 for value in (before, after)):
        return [f"another {name}"]  # a digest: its value says nothing to a person
    return [f"{name} {before!r} -> {after!r}"]


def folder_has_state(folder: str | os.PathLike, stamp_name: str) -> bool:
    """Whether ``folder`` holds any result: a file other than its stamp, logs and hidden temporaries."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    return any(p.is_file() and p.name not in (stamp_name, *NOT_STATE) and not p.name.startswith(".")
               for p in folder.rglob("*"))


def claim(stamp_path: str | os.PathLike, stamp: dict, has_state: bool, what: str, remedy: str,
          write: bool = True) -> None:
    """Write ``stamp`` at ``stamp_path`` unless a different stamp there binds existing state.

    ``what`` names the output in messages; ``remedy`` says how to start it over. With ``write``
    False it only refuses: for a check made before the inputs are known to be good.
    """
    stamp_path = Path(stamp_path)
    old = read_stamp(stamp_path)
    if old == stamp:
        return
    if has_state:
        if old is None:
            raise UserError(f"{what}: holds results but no readable stamp saying what made them (an "
                            f"older version of the toolkit, or a damaged stamp); {remedy}")
        if old.get("stage") != stamp.get("stage"):
            raise UserError(f"{what}: holds the output of stage '{old.get('stage')}', not "
                            f"'{stamp.get('stage')}'; every stage needs its own folder; {remedy}")
        raise UserError(f"{what}: made from other inputs or settings ({'; '.join(differences(old, stamp))}); "
                        f"{remedy}")
    if write:
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        write_stamp(stamp_path, stamp)
