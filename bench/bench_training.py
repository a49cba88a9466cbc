#!/usr/bin/env python
"""Seconds per training update at the paper's batch sizes, per stage and front-end.

    python bench/bench_training.py               # MFCC and a wav2vec2-Base-sized front-end
    python bench/bench_training.py --device cuda

Stage 1 (250 pairs, one speaker's VADs up to 20 s, each stretched twice, frames computed on
the fly) is timed in two parts: drawing the batch (reading + stretching; done by data-loader
workers in training) and the update (front-end + encoder forward/backward + Adam). Stages 2/3
(256 pairs of stored frames) time the update alone. The wav2vec2 front-end is a randomly
initialised model with the architecture of wav2vec_small.pt (95 M parameters, layer 8), so its
cost is the real one without the real weights. Runs on the bundled demo corpus.
"""
import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def main() -> None:
    import fairseq  # noqa: F401  (registers the plugin on import of sse.plugin)

    from sse.core.testing import save_wav2vec2_checkpoint
    from sse.frames.formats import read_segment_list, read_vad_list
    from sse.frames.frontend import build_frontend
    from sse.method.loss import nt_xent
    from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder
    from sse.method.sampling import AugmentationSampler, AugmentationSettings
    from sse.plugin.model import SSEModel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frontends", nargs="+", default=["mfcc", "wav2vec2"])
    args = parser.parse_args()
    device = torch.device(args.device)
    vads = read_vad_list(REPO / "training_data" / "demo-vads")
    segments = read_segment_list(REPO / "training_data" / "demo-segments")
    rows = []
    for name in args.frontends:
        path = save_wav2vec2_checkpoint("/tmp/bench_wav2vec2_base.pt") if name == "wav2vec2" else None
        frontend = build_frontend(name, path, 8, device)
        encoder = SSEEncoder(EncoderConfig(input_dim=frontend.dim))
        model = SSEModel(encoder, ProjectionHead(512), frontend, length_buckets=4).to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def update(net_input):
            z = model(**net_input)
            loss = nt_xent(z[:len(z) // 2], z[len(z) // 2:])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        sampler = AugmentationSampler(vads, REPO / "training_data" / "demo", AugmentationSettings())
        rng = np.random.default_rng(0)
        batch = sampler.draw(rng)
        draw = timed(lambda: sampler.draw(rng), args.repeats)
        net_input = {"waves": [torch.from_numpy(w).to(device) for w in batch.waves],
                     "spans": torch.from_numpy(batch.spans)}
        stage1 = timed(lambda: update(net_input), args.repeats)
        audio = sum(len(w) for w in batch.waves) / 16000
        rows.append((name, "stage 1: 250 pairs, stretched audio", f"{audio:.0f} s audio", draw, stage1))

        # Stages 2/3: 256 pairs of stored frames (lengths of real segments: 8 to 48 frames).
        lengths = torch.tensor([round((s.end - s.start) * 50) for s in segments[:512]])
        frames = torch.randn(512, int(lengths.max()), frontend.dim, device=device)
        stored = {"frames": frames, "lengths": lengths.to(device)}
        stage2 = timed(lambda: update(stored), args.repeats)
        rows.append((name, "stages 2/3: 256 pairs, stored frames", "", 0.0, stage2))
    print(f"device: {device}, torch threads: {torch.get_num_threads()}\n")
    print("| front-end | batch | | draw (s) | update (s) |")
    print("|---|---|---|---:|---:|")
    for name, what, extra, draw, update_seconds in rows:
        print(f"| {name} | {what} | {extra} | {draw:.2f} | {update_seconds:.2f} |")


if __name__ == "__main__":
    main()
