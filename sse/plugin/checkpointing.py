"""Checkpoints that survive ``kill -9`` at any moment, and a clean resume when one did not.

fairseq writes its first checkpoint of a save atomically (``.tmp``, then rename) but *copies*
it to the others (``checkpoint_best.pt`` -> ``checkpoint_last.pt``) in place: a kill during that
copy leaves a truncated ``checkpoint_last.pt`` from which the stage can never resume. Importing
the plugin makes that copy atomic too (:class:`AtomicCopyPathManager`), and wraps fairseq's
``load_checkpoint`` so that an unreadable ``checkpoint_last.pt`` (left by an older version, a
full disk, a hand-edit) is set aside and training resumes from ``checkpoint_best.pt`` when
that one is readable, else from scratch. After a successful load, the hidden temporaries of
killed saves are removed.

In distributed training, rank 0 alone reads the checkpoint and sends it to the other ranks as
a ``torch.save`` message, which they read with ``torch.load``, weights-only by default since
torch 2.6. The wrapper allow-lists that message's few extra classes while it loads: without
them every other rank fails to resume (and rank 0 then dies with gloo's "Connection closed by
peer").
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import typing
import zipfile
from collections import defaultdict
from pathlib import Path

import torch
from fairseq import checkpoint_utils
from fairseq.distributed import utils as distributed_utils
from fairseq.file_io import PathManager
from omegaconf import DictConfig, ListConfig
from omegaconf.base import ContainerMetadata, Metadata
from omegaconf.nodes import AnyNode

logger = logging.getLogger(__name__)

LAST, BEST = "checkpoint_last.pt", "checkpoint_best.pt"

# What rank 0's broadcast of a loaded checkpoint holds beyond a checkpoint file: the config as
# the DictConfig that load_checkpoint_to_cpu makes of it (its nodes, their metadata and the
# types that metadata names), and the placeholders that broadcast_object puts for the tensors
# (sent apart as tensors).
BROADCAST_CLASSES = [DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, (typing.Any, "typing.Any"),
                     dict, list, int, defaultdict, distributed_utils._TensorPlaceholder]


def _broadcast_classes_allowed():
    """A context allow-listing BROADCAST_CLASSES (torch < 2.5 has no allow-list, and before 2.6
    ``torch.load`` is not weights-only by default, so nothing is needed there)."""
    if not hasattr(torch.serialization, "safe_globals"):
        return contextlib.nullcontext()
    return torch.serialization.safe_globals(BROADCAST_CLASSES)


class AtomicCopyPathManager(PathManager):
    """fairseq's PathManager, whose ``copy`` of a local file lands under the target name only whole."""

    @staticmethod
    def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if "://" in str(src_path) or "://" in str(dst_path):
            return PathManager.copy(src_path, dst_path, overwrite)
        atomic_copy(src_path, dst_path)
        return True


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy ``source`` to a hidden temporary beside ``target``, flush it to disk, rename it."""
    target = Path(target)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, name)
        with open(name, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def is_readable_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a whole ``torch.save`` archive: its zip directory and every CRC check out."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def repair_last_checkpoint(save_dir: str | os.PathLike) -> str:
    """Make ``save_dir/checkpoint_last.pt`` loadable or absent; say what was done (for the log)."""
    save_dir = Path(save_dir)
    last, best = save_dir / LAST, save_dir / BEST
    if not last.exists() or is_readable_checkpoint(last):
        return ""
    if best.exists() and is_readable_checkpoint(best):
        # Replaced in one rename: killed here, the next run finds the damaged file and repairs again.
        atomic_copy(best, last)
        return f"{last} was damaged; resuming from {best.name}"
    damaged = save_dir / f"{LAST}.damaged"
    os.replace(last, damaged)
    return f"{last} was damaged (kept as {damaged.name}) and there is no readable {best.name}: starting over"


def remove_save_leftovers(save_dir: str | os.PathLike) -> None:
    """Remove the temporaries of saves that were killed: ``*.pt.tmp`` and hidden ``.part`` copies."""
    save_dir = Path(save_dir)
    for leftover in [*save_dir.glob("checkpoint*.pt.tmp"), *save_dir.glob(".checkpoint*.part")]:
        leftover.unlink(missing_ok=True)


def _resilient_load_checkpoint(load_checkpoint):
    @functools.wraps(load_checkpoint)
    def wrapper(cfg, trainer, **passthrough_args):
        if cfg.restore_file == LAST and trainer.checkpoint_suffix == "" and trainer.is_data_parallel_master:
            note = repair_last_checkpoint(cfg.save_dir)
            if note:
                logger.warning(note)
        with _broadcast_classes_allowed():
            result = load_checkpoint(cfg, trainer, **passthrough_args)
        if trainer.is_data_parallel_master:
            remove_save_leftovers(cfg.save_dir)
        return result

    wrapper.sse_resilient = True
    return wrapper


def install() -> None:
    """Patch fairseq's checkpoint module (once): atomic copies, resume fallback, resume on every rank."""
    checkpoint_utils.PathManager = AtomicCopyPathManager
    if not getattr(checkpoint_utils.load_checkpoint, "sse_resilient", False):
        checkpoint_utils.load_checkpoint = _resilient_load_checkpoint(checkpoint_utils.load_checkpoint)
