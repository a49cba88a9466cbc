"""Training curves: per-epoch loss and validation MAP read from a recipe's ``train.log``, and plotted.

``fairseq-train --log-format simple`` writes one line per epoch for each subset::

    ... | INFO | train | epoch 003 | loss 3.9512 | accuracy 0.21 | ... | num_updates 120 | ...
    ... | INFO | valid | epoch 003 | valid on 'valid' subset | map 0.1987 | loss -1 | ... | num_updates 120

With a benchmark, the model is selected by ``map`` and the validation ``loss`` is a placeholder
(-1); without one, the validation loss is real and there is no ``map``. A resumed run appends to
the same log and may repeat an epoch: the last line of each epoch wins.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple, Sequence

from sse.core.errors import UserError
from sse.core.files import atomic_path

_LINE = re.compile(r"\|\s*(train|valid)\s*\|\s*epoch\s+(\d+)\s*\|(.*)$")
PLOT_FORMATS = (".png", ".pdf", ".svg")


class Epoch(NamedTuple):
    epoch: int
    num_updates: int | None
    train_loss: float | None
    valid_loss: float | None  # None when the log holds the -1 placeholder
    valid_map: float | None


def _fields(text: str) -> dict[str, float]:
    values = {}
    for part in text.split("|"):
        words = part.split()
        if len(words) == 2:
            try:
                values[words[0]] = float(words[1])
            except ValueError:
                pass
    return values


def read_training_log(path: str | os.PathLike) -> list[Epoch]:
    """Per-epoch numbers of a ``train.log``, in epoch order."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such training log")
    train: dict[int, dict] = {}
    valid: dict[int, dict] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _LINE.search(line)
            if match:
                (train if match.group(1) == "train" else valid)[int(match.group(2))] = _fields(match.group(3))
    epochs = []
    for epoch in sorted(set(train) | set(valid)):
        t, v = train.get(epoch, {}), valid.get(epoch, {})
        valid_loss = v.get("loss")
        updates = t.get("num_updates", v.get("num_updates"))
        epochs.append(Epoch(epoch, None if updates is None else int(updates), t.get("loss"),
                            None if valid_loss is None or valid_loss == -1 else valid_loss, v.get("map")))
    return epochs


def plot_curves(runs: Sequence[tuple[str, Sequence[Epoch]]], path: str | os.PathLike, title: str = "") -> None:
    """One figure: loss per epoch (train solid, validation dashed) and validation MAP, one colour a run."""
    if Path(path).suffix.lower() not in PLOT_FORMATS:
        raise UserError(f"{path}: the plot must end in {', '.join(PLOT_FORMATS)}")
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    has_map = any(e.valid_map is not None for _, epochs in runs for e in epochs)
    figure, axes = plt.subplots(1, 2 if has_map else 1, figsize=(10 if has_map else 5.5, 3.8), squeeze=False)
    loss_axes = axes[0][0]
    for number, (name, epochs) in enumerate(runs):
        colour = f"C{number % 10}"
        points = [(e.epoch, e.train_loss) for e in epochs if e.train_loss is not None]
        if points:
            loss_axes.plot(*zip(*points), "-o", color=colour, markersize=3, label=f"{name} (train)")
        points = [(e.epoch, e.valid_loss) for e in epochs if e.valid_loss is not None]
        if points:
            loss_axes.plot(*zip(*points), "--s", color=colour, markersize=3, label=f"{name} (valid)")
        if has_map:
            points = [(e.epoch, e.valid_map) for e in epochs if e.valid_map is not None]
            if points:
                axes[0][1].plot(*zip(*points), "-o", color=colour, markersize=3, label=name)
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    for axis in axes[0]:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("NT-Xent loss")
    loss_axes.legend(fontsize=7)
    if has_map:
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_ylabel("validation MAP")
        axes[0][1].legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format=Path(path).suffix.lstrip(".").lower())
    plt.close(figure)
