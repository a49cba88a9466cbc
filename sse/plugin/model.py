"""The training model: the library's SSE encoder + the projection head (+ a frozen front-end)."""

from dataclasses import dataclass, field

import torch
from fairseq.dataclass import FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model

from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder

_PAPER = EncoderConfig()  # the library's defaults are the flags' defaults


@dataclass
class SSEModelConfig(FairseqDataclass):
    conv_channels: int = field(default=_PAPER.conv_channels, metadata={
        "help": "Conv1d output channels (GLU halves them)"})
    kernel_size: int = field(default=_PAPER.kernel_size, metadata={"help": "Conv1d kernel size"})
    model_dim: int = field(default=_PAPER.model_dim, metadata={"help": "Transformer width = embedding size"})
    num_heads: int = field(default=_PAPER.num_heads, metadata={"help": "attention heads"})
    ffn_dim: int = field(default=_PAPER.ffn_dim, metadata={"help": "Transformer feed-forward size"})
    dropout: float = field(default=_PAPER.dropout, metadata={"help": "dropout after the GLU and in the Transformer"})
    length_buckets: int = field(default=4, metadata={
        "help": "encode a batch in this many groups of similar length: same embeddings, less padding"})


def join_pairs(frames_a, lengths_a, frames_b, lengths_b) -> tuple[torch.Tensor, torch.Tensor]:
    """Two padded batches of pairs (first sides, then second sides) as one, in the same layout."""
    width = max(frames_a.shape[1], frames_b.shape[1])
    frames_a = torch.nn.functional.pad(frames_a.to(frames_b.device), (0, 0, 0, width - frames_a.shape[1]))
    frames_b = torch.nn.functional.pad(frames_b, (0, 0, 0, width - frames_b.shape[1]))
    half_a, half_b = len(frames_a) // 2, len(frames_b) // 2
    lengths_a = lengths_a.to(lengths_b.device)
    return (torch.cat([frames_a[:half_a], frames_b[:half_b], frames_a[half_a:], frames_b[half_b:]]),
            torch.cat([lengths_a[:half_a], lengths_b[:half_b], lengths_a[half_a:], lengths_b[half_b:]]))


@register_model("sse", dataclass=SSEModelConfig)
class SSEModel(BaseFairseqModel):
    """``forward`` takes either padded frames, or (stage 1) waveforms and span indices.

    With waveforms, the frozen front-end computes frames on the fly on the model's device,
    under ``no_grad``. The front-end is a plain attribute, not a submodule: its weights stay
    out of the optimizer and out of the checkpoint, which records only its description.
    """

    def __init__(self, encoder: SSEEncoder, projection: ProjectionHead, frontend=None,
                 length_buckets: int = 1) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = projection
        self.frontend = frontend
        self.length_buckets = max(1, length_buckets)

    @classmethod
    def build_model(cls, cfg: SSEModelConfig, task):
        config = EncoderConfig(input_dim=task.input_dim, conv_channels=cfg.conv_channels,
                               kernel_size=cfg.kernel_size, model_dim=cfg.model_dim,
                               num_heads=cfg.num_heads, ffn_dim=cfg.ffn_dim, dropout=cfg.dropout)
        return cls(SSEEncoder(config), ProjectionHead(cfg.model_dim), getattr(task, "live_frontend", None),
                   cfg.length_buckets)

    def forward(self, frames=None, lengths=None, waves=None, spans=None, speakers=None) -> torch.Tensor:
        """Projections of 2P rows: the first sides of P pairs, then their second sides.

        Pairs come as padded ``frames`` (first sides, then second sides), as ``waves`` and
        ``spans`` (stage 1), or both (an iteration that keeps augmentation pairs): then the rows
        are the frames' first sides, the waves' first sides, the frames' second sides, the waves'.
        ``speakers`` names whose CMVN statistics normalise each wave (per-speaker CMVN).
        """
        if waves is not None:
            wave_frames, wave_lengths = self.span_frames(waves, spans, speakers)
            if frames is None:
                frames, lengths = wave_frames, wave_lengths
            else:
                frames, lengths = join_pairs(frames, lengths, wave_frames, wave_lengths)
        # Under --fp16/--bf16 the weights are half: frames follow them; the loss gets fp32.
        frames = frames.to(self.projection.layers[0].weight.dtype)
        return self.projection(self.encode(frames, lengths)).float()

    def encode(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The encoder over length-sorted groups, each cropped to its longest member.

        Padding is masked, so this gives the embeddings of one padded pass; it only skips the
        compute spent on padding, which dominates when lengths vary (stretched spans run from
        4 to 96 frames).
        """
        if self.length_buckets == 1:
            return self.encoder(frames, lengths)
        order = torch.argsort(lengths)
        embeddings = frames.new_empty(len(frames), self.encoder.output_dim)
        for group in torch.tensor_split(order, min(self.length_buckets, len(order))):
            longest = int(lengths[group].max())
            # under autocast the encoder may return half precision
            embeddings[group] = self.encoder(frames[group, :longest], lengths[group]).to(embeddings.dtype)
        return embeddings

    @torch.no_grad()
    def span_frames(self, waves, spans: torch.Tensor, speakers=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames of both sides of every pair: (2P, time, dim), first sides then second sides."""
        if self.frontend is None:
            raise RuntimeError("this model has no front-end to compute frames from waveforms")
        device = next(self.encoder.parameters()).device
        if self.frontend.device != device:
            self.frontend.to(device)
        speakers = speakers if speakers is not None else [None] * len(waves)
        wave_frames = [self.frontend.normalize(f, speaker)
                       for f, speaker in zip(self.frontend.batch(list(waves)), speakers)]
        pieces = []
        for wave, first, end in torch.cat([spans[:, 0], spans[:, 1]]).tolist():
            frames = wave_frames[wave]
            end = min(end, len(frames))
            pieces.append(frames[min(first, end - 1):end])
        lengths = torch.tensor([len(p) for p in pieces], device=device)
        return torch.nn.utils.rnn.pad_sequence(pieces, batch_first=True).to(device), lengths
