"""Exporting a trained encoder so that it runs without the toolkit: TorchScript or ONNX.

Both take ``frames`` (batch, time, input_dim) float32, zero-padded, and ``lengths`` (batch,)
int64, and return the (batch, 512) embeddings, exactly what :meth:`sse.method.model.SSEEncoder.forward`
returns in eval mode. The exported module is :class:`PortableEncoder`: the same submodules and
weights, with a forward that TorchScript and ``torch.export`` accept (the padding mask is always
passed, positions are built without in-place writes, no config object, no dropout).

Frames come from the front-end the model recorded (``describe()`` of :mod:`sse.frames.frontend`): the
export writes that description beside the model (``<output>.json``) so a user knows what to feed it.
The toolkit computes a span's frames with up to 5 s of audio context on each side, then crops
them to the span (:mod:`sse.frames.features`); :func:`span_frames` gives those very frames, so
the exported model embeds a span as ``sse.load(...).embed_file`` does. Frames of the span's audio
alone differ at its edges (a cosine of about 0.97 between the two embeddings on the demo).
"""
from __future__ import annotations

import json
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sse import __version__
from sse.core.errors import UserError
from sse.core.files import atomic_open, atomic_path
from sse.frames.audio import audio_info
from sse.frames.features import CONTEXT
from sse.frames.formats import NO_SPEAKER, Segment
from sse.frames.frontend import Frontend, frontend_from_description
from sse.inference.embed import frames_on_the_fly
from sse.method.model import SSEEncoder

FORMATS = ("compact", "torchscript", "onnx")
ONNX_OPSET = 18


class PortableEncoder(nn.Module):
    """:class:`SSEEncoder` in eval mode, written so that ``torch.jit.script`` and ``torch.export`` work."""

    def __init__(self, encoder: SSEEncoder) -> None:
        super().__init__()
        self.input_norm = encoder.input_norm
        self.conv = encoder.conv
        self.glu = encoder.glu
        self.transformer = encoder.transformer
        self.pad_left = int(encoder.conv_padding[0])
        self.pad_right = int(encoder.conv_padding[1])
        self.model_dim = int(encoder.config.model_dim)
        self.input_dim = int(encoder.config.input_dim)
        self.eval()

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        time = frames.size(1)
        steps = torch.arange(time, device=frames.device)
        padding = steps.unsqueeze(0) >= lengths.unsqueeze(1)
        x = self.input_norm(frames)
        x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        x = nn.functional.pad(x.transpose(1, 2), [self.pad_left, self.pad_right])
        x = self.glu(self.conv(x)).transpose(1, 2)
        # The sinusoidal table of sse.method.model.sinusoidal_positions: sin on even, cos on odd columns.
        inv_freq = torch.exp(torch.arange(0, self.model_dim, 2, device=frames.device, dtype=torch.float32)
                             * (-math.log(10000.0) / self.model_dim))
        angles = steps.to(torch.float32).unsqueeze(1) * inv_freq.unsqueeze(0)
        table = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(time, self.model_dim)
        x = x + table.to(x.dtype)
        x = self.transformer(x, src_key_padding_mask=padding)
        x = x.masked_fill(padding.unsqueeze(-1), float("-inf"))
        return x.max(dim=1).values


def span_frames(frontend: Frontend | dict, path: str | os.PathLike, start: float | None = None,
                end: float | None = None) -> torch.Tensor:
    """The frames (time, input_dim) float32 of the stretch ``[start, end]`` seconds of an audio
    file (None: its start, its end) that an exported model takes: those ``sse.load(...).embed_file``
    embeds, computed with the toolkit's context rule. ``frontend``: the ``frontend`` recorded in
    the export's ``OUTPUT.json``, or a built front-end.

        card = json.load(open("sse.pt.json"))
        frames = span_frames(card["frontend"], "a.wav", 3.02, 3.35)
        embedding = torch.jit.load("sse.pt")(frames[None], torch.tensor([len(frames)]))[0]
    """
    if isinstance(frontend, dict):
        frontend = frontend_from_description(frontend)
    start = 0.0 if start is None else float(start)
    end = audio_info(path).duration if end is None else float(end)
    if not 0 <= start < end:
        raise UserError(f"{path}: [{start}, {end}] is not a valid time span")
    segment = Segment(str(path), NO_SPEAKER, start, end, start, end)  # a span of its own, as embed_file makes it
    (_, frames), = frames_on_the_fly(frontend, "", [segment], progress=False)
    return torch.as_tensor(np.asarray(frames, dtype=np.float32))


def example_inputs(input_dim: int, batch: int = 2, time: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded example frames and lengths (the second row shorter) to trace or export with."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, time, input_dim, generator=generator)
    lengths = torch.full((batch,), time, dtype=torch.long)
    lengths[1:] = max(1, time // 2)
    for row in range(1, batch):
        frames[row, lengths[row]:] = 0
    return frames, lengths


def export_torchscript(encoder: SSEEncoder, path: str | os.PathLike) -> None:
    """A ``torch.jit.script`` of the encoder: ``torch.jit.load(path)(frames, lengths)``."""
    scripted = torch.jit.script(PortableEncoder(encoder.float().eval()))
    with atomic_path(path) as temporary:
        torch.jit.save(scripted, str(temporary))


def export_onnx(encoder: SSEEncoder, path: str | os.PathLike) -> None:
    """An ONNX graph (opset :data:`ONNX_OPSET`) with dynamic batch and time axes.

    Inputs ``frames`` float32 (batch, time, input_dim) and ``lengths`` int64 (batch,); output
    ``embeddings`` float32 (batch, model_dim). Needs the ``onnx`` and ``onnxscript`` packages.
    """
    try:
        import onnx  # noqa: F401, PLC0415
        import onnxscript  # noqa: F401, PLC0415
    except ImportError as error:
        raise UserError(f"--format onnx needs the onnx and onnxscript packages ({error.name} is "
                        "missing): pip install onnx onnxscript") from None
    module = PortableEncoder(encoder.float().eval())
    frames, lengths = example_inputs(module.input_dim)
    batch, time = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=2)
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), atomic_path(path) as temporary:
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, (frames, lengths), dynamo=True, opset_version=ONNX_OPSET,
                input_names=["frames", "lengths"], output_names=["embeddings"],
                dynamic_shapes={"frames": {0: batch, 1: time}, "lengths": {0: batch}},
                verbose=False)
            program.save(str(temporary), external_data=False)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)


def write_model_card(path: str | os.PathLike, fmt: str, encoder: SSEEncoder, frontend: dict, source) -> Path:
    """``<path>.json``: what the exported file expects and where it came from."""
    card = Path(f"{path}.json")
    with atomic_open(card) as out:
        json.dump({"format": fmt, "inputs": {"frames": ["batch", "time", encoder.config.input_dim],
                                             "lengths": ["batch"]},
                   "frames": f"of the front-end below, each span with up to {CONTEXT:g} s of audio context on each "
                             "side, cropped back to it: sse.inference.export.span_frames(frontend, wav, start, end)",
                   "output": {"embeddings": ["batch", encoder.config.model_dim]},
                   "frontend": frontend, "encoder_config": encoder.config.to_dict(),
                   "exported_from": str(source), "toolkit": {"name": "sse", "version": __version__}},
                  out, indent=2)
        out.write("\n")
    return card
