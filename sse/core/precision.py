"""Numeric precision of the frozen front-end and of training: fp32 (the default), fp16, bf16.

Training precision is fairseq's own (``--fp16`` / ``--bf16``: the SSE model's weights and
stored frames in half precision, fp32 master weights in the optimizer). The frozen front-end
is not part of the trained model; it runs in fp32 unless asked, and then under
``torch.autocast`` with the half type, which keeps the numerically delicate operations
(normalisations, softmax) in fp32 and returns fp32 frames.
"""
from __future__ import annotations

import contextlib

import torch

from sse.core.errors import UserError
from sse.defaults import PRECISIONS

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def autocast(device, precision: str = "fp32"):
    """A context running matrix work in ``precision`` on ``device`` (nothing for fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=DTYPES[precision])


def training_precision(fp16: bool = False, bf16: bool = False) -> str:
    """The precision fairseq trains in, from its ``--fp16`` / ``--bf16`` flags."""
    return "fp16" if fp16 else "bf16" if bf16 else "fp32"


def frontend_precision(choice: str, fp16: bool = False, bf16: bool = False) -> str:
    """``choice`` (one of :data:`PRECISIONS`, or ``auto``: as training) as a precision."""
    precision = training_precision(fp16, bf16) if choice == "auto" else choice
    if precision not in PRECISIONS:
        raise UserError(f"unknown front-end precision {choice!r}; choose auto, {', '.join(PRECISIONS)}")
    return precision
