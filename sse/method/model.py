"""The SSE encoder of Algayres et al. (2022): frames of a speech segment -> one 512-d vector.

A plain ``torch.nn.Module``; the fairseq plugin wraps it for training, and every other part of
the toolkit (validation MAP, k-NN mining, ``map_dump.py``) embeds through :func:`SSEEncoder.forward`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class EncoderConfig:
    """Architecture of the SSE encoder; the defaults are the paper's."""

    input_dim: int = 768
    conv_channels: int = 1024  # GLU halves this to the model width
    kernel_size: int = 4
    model_dim: int = 512
    num_heads: int = 4
    ffn_dim: int = 2048
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if self.conv_channels != 2 * self.model_dim:
            raise ValueError("conv_channels must be twice model_dim (the GLU halves it)")

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Transformer sinusoidal position table of shape (length, dim)."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                         * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table.to(dtype)


class SSEEncoder(nn.Module):
    """LayerNorm -> Conv1d(k=4, same) -> GLU -> dropout -> +positions -> 1 Transformer layer -> max-pool.

    ``forward(frames, lengths)`` takes zero-padded frames (batch, time, input_dim) and the number
    of real frames of each row; padding is masked in the attention and in the max-pool, so an
    embedding does not depend on how much padding its batch needed.
    """

    def __init__(self, config: EncoderConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or EncoderConfig(**overrides)
        self.config = config
        self.input_norm = nn.LayerNorm(config.input_dim)
        self.conv = nn.Conv1d(config.input_dim, config.conv_channels, config.kernel_size)
        # 'Same' padding; with an even kernel the extra frame goes on the right, as in PyTorch.
        total = config.kernel_size - 1
        self.conv_padding = (total // 2, total - total // 2)
        self.glu = nn.GLU(dim=1)
        self.dropout = nn.Dropout(config.dropout)
        self.transformer = nn.TransformerEncoderLayer(
            d_model=config.model_dim, nhead=config.num_heads, dim_feedforward=config.ffn_dim,
            dropout=config.dropout, activation="relu", batch_first=True, norm_first=False)
        self.reset_parameters()

    @property
    def output_dim(self) -> int:
        return self.config.model_dim

    def reset_parameters(self) -> None:
        """Xavier-uniform weight matrices, zero biases (LayerNorms keep unit gain)."""
        for name, param in self.named_parameters():
            if "norm" in name:
                continue
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
            else:
                nn.init.zeros_(param)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Embed a padded batch: (batch, time, input_dim) -> (batch, model_dim)."""
        if frames.dim() != 3 or frames.size(-1) != self.config.input_dim:
            raise ValueError(f"expected frames of shape (batch, time, {self.config.input_dim}), "
                             f"got {tuple(frames.shape)}")
        batch, time, _ = frames.shape
        if lengths is None:
            lengths = torch.full((batch,), time, dtype=torch.long, device=frames.device)
        padding = torch.arange(time, device=frames.device)[None, :] >= lengths.to(frames.device)[:, None]

        x = self.input_norm(frames)
        # Zero the padded frames so the convolution sees what an unpadded sequence sees at its end.
        x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        x = nn.functional.pad(x.transpose(1, 2), self.conv_padding)
        x = self.glu(self.conv(x)).transpose(1, 2)
        x = self.dropout(x)
        x = x + sinusoidal_positions(time, self.config.model_dim, x.device, x.dtype)
        x = self.transformer(x, src_key_padding_mask=padding if bool(padding.any()) else None)
        x = x.masked_fill(padding.unsqueeze(-1), float("-inf"))
        return x.max(dim=1).values


class ProjectionHead(nn.Module):
    """Linear-ReLU-Linear head on top of the embedding, used only by the training loss."""

    def __init__(self, dim: int = 512) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)


class MeanPooling(nn.Module):
    """The paper's reference point: a segment's embedding is the mean of its frames."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.output_dim = input_dim

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            return frames.mean(dim=1)
        mask = (torch.arange(frames.size(1), device=frames.device)[None, :] < lengths[:, None]).float()
        return (frames * mask.unsqueeze(-1)).sum(1) / lengths.clamp(min=1)[:, None].float()
