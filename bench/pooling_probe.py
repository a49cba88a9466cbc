#!/usr/bin/env python
"""What the encoder keeps of the frames before any training: MAP of poolings of one benchmark.

    python bench/pooling_probe.py bench_runs/fsdd mfcc        # EXP (of bench/real_speech.sh) and its feature tag

It reads EXP/features/TAG/benchmark and EXP/corpus/benchmark and prints the exact MAP of the
mean of the frames, the mean after the encoder's per-frame LayerNorm, the max of the frames, an
untrained encoder (seed 1, max-pooled as in the paper, then mean-pooled over its Transformer
instead), and the untrained encoder plus a random linear map of the mean of its normalised input
at several scales (a pooling that would start from the mean). docs/baselines.md has its output
on fsdd-dev. It is not a test: it prints.
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sse.evaluation.metrics import mean_average_precision  # noqa: E402
from sse.frames.feature_store import FeatureStore  # noqa: E402
from sse.frames.formats import read_segment_list  # noqa: E402
from sse.inference.embed import embed_frames, frames_from_store  # noqa: E402
from sse.method.model import SSEEncoder, sinusoidal_positions  # noqa: E402


class TransformerMean(torch.nn.Module):
    """The encoder's layers, mean-pooled over the Transformer's outputs instead of max-pooled."""

    def __init__(self, encoder: SSEEncoder) -> None:
        super().__init__()
        self.encoder, self.output_dim = encoder, encoder.output_dim

    def forward(self, frames, lengths):
        e, time = self.encoder, frames.shape[1]
        padding = torch.arange(time)[None] >= lengths[:, None]
        x = e.input_norm(frames).masked_fill(padding[..., None], 0)
        x = e.glu(e.conv(torch.nn.functional.pad(x.transpose(1, 2), e.conv_padding))).transpose(1, 2)
        x = e.transformer(x + sinusoidal_positions(time, e.config.model_dim),
                          src_key_padding_mask=padding if padding.any() else None)
        return x.masked_fill(padding[..., None], 0).sum(1) / lengths[:, None]


class MaxPlusMean(torch.nn.Module):
    """The encoder's embedding + ``scale`` x a random linear map of the mean of its normalised input."""

    def __init__(self, encoder: SSEEncoder, scale: float) -> None:
        super().__init__()
        self.encoder, self.output_dim, self.scale = encoder, encoder.output_dim, scale
        generator = torch.Generator().manual_seed(2)
        self.weight = torch.nn.init.xavier_uniform_(torch.empty(encoder.output_dim, encoder.config.input_dim),
                                                    generator=generator)

    def forward(self, frames, lengths):
        padding = torch.arange(frames.shape[1])[None] >= lengths[:, None]
        mean = self.encoder.input_norm(frames).masked_fill(padding[..., None], 0).sum(1) / lengths[:, None]
        return self.encoder(frames, lengths) + self.scale * mean @ self.weight.T


def main() -> None:
    exp, tag = Path(sys.argv[1]), sys.argv[2]
    store = FeatureStore(exp / "features" / tag / "benchmark")
    benchmark = read_segment_list(exp / "corpus" / "benchmark", require_transcriptions=True)
    frames = [np.asarray(f, dtype=np.float32) for _, f in frames_from_store(store, benchmark)]
    labels = [s.transcription for s in benchmark]

    def show(name, embeddings):
        print(f"{name}: {mean_average_precision(embeddings, labels).map:.4f}", flush=True)

    def encoded(model):
        return embed_frames(model, enumerate(frames), len(frames), progress=False)

    layer_norm = torch.nn.LayerNorm(store.dim, elementwise_affine=False)
    show("mean of the frames", np.stack([f.mean(0) for f in frames]))
    show("mean after a LayerNorm of each frame",
         np.stack([layer_norm(torch.from_numpy(f)).mean(0).numpy() for f in frames]))
    show("max of the frames", np.stack([f.max(0) for f in frames]))
    torch.manual_seed(1)
    encoder = SSEEncoder(input_dim=store.dim).eval()
    show("untrained encoder (max-pool)", encoded(encoder))
    show("untrained encoder, mean-pooled Transformer", encoded(TransformerMean(encoder)))
    for scale in (1, 3, 10, 100):
        show(f"untrained encoder + {scale} x random map of the input mean", encoded(MaxPlusMean(encoder, scale)))


if __name__ == "__main__":
    with torch.no_grad():
        main()
