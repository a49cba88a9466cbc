"""``--device``: checked against what this torch build and machine have, before any work."""
from __future__ import annotations

import torch

from sse.core.errors import UserError


def resolve_device(name: str | torch.device | None, what: str = "--device") -> torch.device:
    """The device called ``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``), or the default when None.

    The default is CUDA when there is a GPU, else the CPU. A device this torch cannot use is a
    :class:`UserError`, not a failure deep inside the first tensor operation. ``what`` names the
    setting in the message (``--device`` for the scripts, ``SSE_DEVICE`` for the recipes, ``device`` for
    the Python API).
    """
    if name is None or name == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UserError(f"{what} {name!r} is not a device name (cpu, cuda, cuda:N, mps)") from None
    if what.startswith("--"):  # a script's flag
        shown, fix = f"{what} {device}", f"{what} cpu"
    elif what.isupper():  # a recipe's environment variable
        shown, fix = f"{what}={device}", f"{what}=cpu"
    else:  # a Python argument
        shown, fix = f"{what}={str(device)!r}", f"{what}='cpu'"
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU is visible"
            raise UserError(f"{shown}: this torch ({torch.__version__}) cannot use CUDA "
                            f"({build}); use {fix}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"{shown}: there are only {torch.cuda.device_count()} CUDA device(s)")
        return device
    if device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UserError(f"{shown}: MPS is not available here; use {fix}")
        return device
    raise UserError(f"{shown}: the toolkit runs on cpu, cuda or mps, not {device.type}")

