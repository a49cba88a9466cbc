"""Saving and loading trained SSE encoders.

Two kinds of file load the same way (:func:`load_encoder`):

* the toolkit's own format — a plain dict of tensors and JSON-like metadata, written by
  :func:`save_encoder` (the ``pretrained/`` models, exports):
  ``{"format": "sse-encoder", "version": 1, "encoder_config": {...}, "frontend": {...},
  "encoder": state_dict, "info": {...}}``;
* a ``checkpoint_*.pt`` written by ``fairseq-train`` with the toolkit's plugin: the encoder
  weights are the ``encoder.*`` entries of its model (the projection head is dropped), the
  architecture is its model config and the front-end is in its task state.

Both record the front-end (name, dimension, frame rate, and for wav2vec2 the checkpoint path and
layer), so a model is usable with nothing else. Files are read with ``weights_only=True``.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import torch

from sse.core.errors import UserError
from sse.core.files import atomic_path
from sse.frames.frontend import canonical_description
from sse.method.model import EncoderConfig, SSEEncoder

FORMAT = "sse-encoder"
VERSION = 1
BEST = "checkpoint_best.pt"


class LoadedEncoder(NamedTuple):
    encoder: SSEEncoder
    frontend: dict
    info: dict
    path: Path
    dtype: torch.dtype = torch.float32  # of the stored weights (the encoder itself is float32)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or ``checkpoint_best.pt`` inside a directory."""
    path = Path(path)
    if path.is_dir():
        if not (path / BEST).is_file():
            raise UserError(f"{path}: directory holds no {BEST}")
        return path / BEST
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file or directory")
    return path


#: How a file that ``torch.save`` wrote begins: a zip archive (torch >= 1.6), or a pickle of
#: protocol 2 or later (the legacy format).
TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")


def _not_a_checkpoint(path: Path) -> str | None:
    """Why ``path`` cannot be a PyTorch checkpoint at all (a text file, an empty file...), or None."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(TORCH_FILE_STARTS):
        return None
    if not head:
        return "the file is empty"
    try:
        head.decode("utf-8")
        return "it is a text file"
    except UnicodeDecodeError:
        return "it is not a file that torch.save wrote"


def _torch_load(path: Path) -> dict:
    reason = _not_a_checkpoint(path)
    if reason:
        raise UserError(f"{path}: not a checkpoint ({reason})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # fairseq-train checkpoints also hold a Namespace and logging meters
    except Exception as error:  # zip/pickle errors of a file that is not a checkpoint at all
        raise UserError(f"{path}: not a checkpoint ({type(error).__name__})") from None
    from sse.frames.frontend import allow_fairseq_checkpoint_classes  # noqa: PLC0415

    allow_fairseq_checkpoint_classes()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message is advice on loading untrusted files
        raise UserError(f"{path}: not a checkpoint (it holds Python objects that no sse or fairseq-train "
                        "checkpoint holds)") from None
    except Exception as error:
        raise UserError(f"{path}: not a checkpoint this toolkit can read ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200]})") from None


def _from_fairseq(path: Path, state: dict) -> tuple[dict, dict, dict, dict]:
    """(encoder state, encoder config, front-end, info) of a fairseq-train checkpoint."""
    model_state = state["model"]
    encoder_state = {k[len("encoder."):]: v for k, v in model_state.items() if k.startswith("encoder.")}
    task_state = state.get("task_state") or {}
    frontend = task_state.get("frontend")
    cfg = state.get("cfg") or {}
    model_cfg = dict(cfg.get("model") or {})
    if not encoder_state or frontend is None:
        raise UserError(f"{path}: a fairseq checkpoint, but not of an SSE model trained with this "
                        f"toolkit's plugin (no encoder weights or no recorded front-end)")
    names = {f.name for f in fields(EncoderConfig)}
    config = {k: v for k, v in model_cfg.items() if k in names}
    config["input_dim"] = int(frontend["dim"])
    extra = state.get("extra_state") or {}
    iterator = extra.get("train_iterator") or {}
    epoch = iterator.get("epoch")
    if epoch is not None and iterator.get("iterations_in_epoch", 0) == 0:
        epoch -= 1  # saved at the end of an epoch, fairseq's iterator already names the next one
    info = {"source": "fairseq-train", "task": (cfg.get("task") or {}).get("_name"), "epoch": epoch,
            "num_updates": (state.get("optimizer_history") or [{}])[-1].get("num_updates"),
            "best": extra.get("best")}
    return encoder_state, config, frontend, info


def load_encoder(path: str | os.PathLike, device="cpu") -> LoadedEncoder:
    """The encoder (eval mode, on ``device``) and recorded front-end of a checkpoint file or dir."""
    path = resolve_checkpoint(path)
    state = _torch_load(path)
    if not isinstance(state, dict):
        raise UserError(f"{path}: not an SSE checkpoint")
    if state.get("format") == FORMAT:
        if state.get("version", 0) > VERSION:
            raise UserError(f"{path}: written by a newer version of the toolkit (format version "
                            f"{state['version']})")
        encoder_state, config, frontend, info = (state["encoder"], state["encoder_config"],
                                                 state["frontend"], state.get("info", {}))
    elif "model" in state and ("cfg" in state or "args" in state):
        encoder_state, config, frontend, info = _from_fairseq(path, state)
    else:
        raise UserError(f"{path}: not an SSE checkpoint (neither the toolkit's format nor fairseq's)")
    try:
        encoder = SSEEncoder(EncoderConfig(**config))
        encoder.load_state_dict({k: v.float() for k, v in encoder_state.items()})
    except (TypeError, ValueError, RuntimeError) as error:
        raise UserError(f"{path}: encoder weights do not match its recorded architecture "
                        f"({str(error).splitlines()[0][:200]})") from None
    stored = {v.dtype for v in encoder_state.values() if v.is_floating_point()}
    dtype = stored.pop() if len(stored) == 1 else torch.float32
    return LoadedEncoder(encoder.to(device).eval(), canonical_description(frontend), dict(info), path, dtype)


def save_encoder(path: str | os.PathLike, encoder: SSEEncoder, frontend: dict, info: dict | None = None,
                 half: bool = False) -> None:
    """Write an encoder in the toolkit's format (``half`` stores float16 weights: half the size)."""
    weights = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
               for k, v in encoder.state_dict().items()}
    state = {"format": FORMAT, "version": VERSION, "encoder_config": encoder.config.to_dict(),
             "frontend": dict(frontend), "encoder": weights, "info": dict(info or {})}
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
