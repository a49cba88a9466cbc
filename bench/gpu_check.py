#!/usr/bin/env python
"""Every CUDA path of the toolkit, timed, in one table (run through ``bench/gpu_check.sh``).

    python bench/gpu_check.py            # on a GPU: the paper's sizes, a few minutes on one H100
    python bench/gpu_check.py --cpu      # small sizes on the CPU, to check the script itself

Rows:
1. wav2vec 2.0 Base-sized extraction (random weights, layer 8) as ``extract_features.py`` does
   it on a GPU: groups of 64 VADs with 5 s of context, equal-length pieces batched; speed in
   times real time, fp32 and fp16 (autocast).
2. Updates per second at the paper's batch sizes: stage 1 (250 pairs from 20 stretched VADs,
   about 42 s of audio, wav2vec2 Base on the fly) and stages 2/3 (256 pairs of stored 768-d
   frames); fp32 and mixed precision (autocast fp16 + loss scaling, what fairseq's ``--amp``
   does; the front-end under autocast too). The stretched audio is synthesised: stretching
   happens in data-loader workers, on the CPU, and is not a GPU path.
3. The mining k-NN (k = 10) of 1,000,000 x 128 vectors (the PCA output of bench/bench_mining.py's
   clustered embeddings), all of them as queries, as ``mine_pairs.py`` runs it: exact search
   (``sse.method.knn``: FAISS on the GPU when faiss-gpu is installed, torch otherwise), then
   ``--recall 0.95`` on this device (on a GPU: exact search, faster than building the chosen
   approximate index), then the chosen index itself, FAISS HNSW on this machine's CPU cores,
   built, tuned to recall@10 >= 0.95 and searched (only where FAISS is installed: a faiss-cpu
   wheel for this Python in .whl/ is installed by gpu_check.sh), with the recall measured on
   2,000 other queries.
4. Exact MAP of 100,000 random 512-d embeddings (``sse.evaluation.metrics``).

The CPU mode runs every row at small sizes (and bf16 instead of fp16, which CPUs lack).
"""
import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

GPU_SIZES = dict(vads=128, extraction_lengths=(2.0, 4.0, 7.0), stage1_vads=20, stage1_seconds=42.0, pairs=250,
                 stored_pairs=256, updates=10, knn=1_000_000, map=100_000)
CPU_SIZES = dict(vads=2, extraction_lengths=(0.5,), stage1_vads=2, stage1_seconds=4.0, pairs=16,
                 stored_pairs=16, updates=1, knn=20_000, map=5_000)


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function, device, repeats: int = 1, warmup: int = 1) -> float:
    """Median seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def extraction(frontend, sizes, rng, device) -> float:
    """Times real time of extracting ``vads`` VADs (lengths cycling through the given ones, each
    with 5 s of context on both sides) in groups of 64, as extract_shard does on a GPU."""
    from sse.frames.feature_store import vad_group
    lengths = [sizes["extraction_lengths"][i % len(sizes["extraction_lengths"])] for i in range(sizes["vads"])]
    waves = [rng.normal(0, 0.1, int((length + 10.0) * 16000)).astype(np.float32) for length in lengths]
    group = max(1, vad_group(frontend))

    def run():
        for begin in range(0, len(waves), group):
            for frames in frontend.batch(waves[begin:begin + group]):
                frames.cpu()

    seconds = timed(run, device, warmup=1)
    return sum(len(w) for w in waves) / 16000 / seconds


def stage1_batch(sizes, rng, frame_rate=50):
    """Waves of 2 x ``stage1_vads`` stretched VADs (``stage1_seconds`` in all) and spans of
    ``pairs`` pairs, each side 8 to 48 frames inside its wave."""
    per_wave = sizes["stage1_seconds"] / (2 * sizes["stage1_vads"])
    factors = rng.uniform(0.5, 1.8, 2 * sizes["stage1_vads"])
    lengths = per_wave * factors / factors.mean()
    waves = [rng.normal(0, 0.1, max(16000, int(seconds * 16000))).astype(np.float32) for seconds in lengths]
    spans = np.zeros((sizes["pairs"], 2, 3), dtype=np.int64)
    for pair in range(sizes["pairs"]):
        vad = rng.integers(sizes["stage1_vads"])
        for side in range(2):
            wave = 2 * vad + side
            frames = len(waves[wave]) * frame_rate // 16000 - 1
            length = int(rng.integers(8, 49))
            first = int(rng.integers(0, max(1, frames - length)))
            spans[pair, side] = (wave, first, min(frames, first + length))
    return waves, torch.from_numpy(spans)


def updates_per_second(model, net_input, precision, device, repeats) -> float:
    """Adam updates per second on one batch, fp32 or mixed (autocast + gradient scaling)."""
    from sse.core.precision import DTYPES, autocast
    from sse.method.loss import nt_xent
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def update():
        with autocast(device, precision):
            z = model(**net_input)
            loss = nt_xent(z[:len(z) // 2].float(), z[len(z) // 2:].float())
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    if model.frontend is not None:
        model.frontend.precision = precision
    assert precision == "fp32" or precision in DTYPES
    return 1.0 / timed(update, device, repeats=repeats, warmup=2 if device.type == "cuda" else 1)


def mining_knn(size: int, device, row) -> None:
    """Row 3: the mining k-NN, exact and with --recall 0.95, on ``size`` clustered vectors."""
    from bench_mining import search_all, synthetic_inputs

    from sse.method import knn, mining
    embeddings, _ = synthetic_inputs(size)
    vectors = mining.project(embeddings, mining.fit_pca(embeddings))
    del embeddings

    def run(index, on, recall=None):
        began = time.perf_counter()
        searcher = knn.build(vectors, index, on, recall)
        search_all(searcher, size, 10)
        synchronize(torch.device(on))
        seconds = time.perf_counter() - began
        measured = 1.0 if searcher.exact else knn.recall(searcher, 10, seed=1)
        return seconds, measured, searcher.describe()

    device = str(device)
    seconds, _, described = run("flat", device)
    row(f"mining k-NN, exact: {described}", f"{size:,} x 128, all as queries", f"{seconds:.1f}", "-", "s")
    seconds, measured, described = run("flat", device, 0.95)
    row(f"mining k-NN, --recall 0.95: {described}, recall@10 {measured:.4f}", f"{size:,} x 128, all as queries",
        f"{seconds:.1f}", "-", "s")
    if device == "cpu":
        return  # the row above ran the chosen index on the CPU already
    try:
        import faiss  # noqa: F401
    except ImportError:
        row("mining k-NN, --recall 0.95 on the CPU (HNSW)", "FAISS not installed: not run", "-", "-", "s")
        return
    seconds, measured, described = run("flat", "cpu", 0.95)
    row(f"mining k-NN, --recall 0.95 on the CPU ({torch.get_num_threads()} threads): {described}, "
        f"recall@10 {measured:.4f}", f"{size:,} x 128, all as queries", f"{seconds:.1f}", "-", "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--cpu", action="store_true", help="small sizes on the CPU")
    args = parser.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        print("error: no CUDA device; run with --cpu for the small CPU check", file=sys.stderr)
        sys.exit(2)
    device = torch.device("cpu" if args.cpu else "cuda")
    sizes = CPU_SIZES if args.cpu else GPU_SIZES
    half = "bf16" if args.cpu else "fp16"
    rng = np.random.default_rng(0)
    began = time.perf_counter()

    import fairseq  # noqa: F401  (the plugin and the wav2vec2 loader need it)

    from sse.core.testing import save_wav2vec2_checkpoint
    from sse.evaluation import metrics
    from sse.frames.frontend import build_frontend
    from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder
    from sse.plugin.model import SSEModel

    name = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"device: {name}; torch {torch.__version__}; fairseq {fairseq.__version__} "
          f"from {Path(fairseq.__file__).parent}; Python {platform.python_version()}; "
          f"{torch.get_num_threads()} CPU threads", flush=True)
    rows = []

    def row(check, size, fp32, mixed, unit):
        rows.append((check, size, fp32, mixed, unit))
        print(f"  {check}: {fp32} / {mixed} {unit} ({time.perf_counter() - began:.0f} s so far)", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = save_wav2vec2_checkpoint(Path(folder) / "wav2vec2_base.pt")
        frontend = build_frontend("wav2vec2", checkpoint, 8, device)
    audio = sum((length + 10) for length in (sizes["extraction_lengths"] * sizes["vads"])[:sizes["vads"]])
    speeds = {}
    for precision in ("fp32", half):
        frontend.precision = precision
        speeds[precision] = extraction(frontend, sizes, rng, device)
    row("wav2vec2 Base extraction (layer 8)", f"{sizes['vads']} VADs, {audio:.0f} s with context",
        f"{speeds['fp32']:.0f}", f"{speeds[half]:.0f}", "x real time")

    encoder = SSEEncoder(EncoderConfig(input_dim=frontend.dim))
    model = SSEModel(encoder, ProjectionHead(512), frontend, length_buckets=4).to(device).train()
    waves, spans = stage1_batch(sizes, rng)
    stage1 = {"waves": waves, "spans": spans}
    rates = {p: updates_per_second(model, stage1, p, device, sizes["updates"]) for p in ("fp32", half)}
    row("stage 1 update (front-end on the fly)",
        f"{sizes['pairs']} pairs, {sum(len(w) for w in waves) / 16000:.0f} s of audio",
        f"{rates['fp32']:.2f}", f"{rates[half]:.2f}", "updates/s")

    model.frontend = None
    lengths = torch.from_numpy(rng.integers(8, 49, 2 * sizes["stored_pairs"])).to(device)
    stored = {"frames": torch.randn(len(lengths), int(lengths.max()), frontend.dim, device=device),
              "lengths": lengths}
    rates = {p: updates_per_second(model, stored, p, device, sizes["updates"]) for p in ("fp32", half)}
    row("stages 2/3 update (stored frames)", f"{sizes['stored_pairs']} pairs of 768-d frames",
        f"{rates['fp32']:.2f}", f"{rates[half]:.2f}", "updates/s")
    del model, frontend
    if device.type == "cuda":
        torch.cuda.empty_cache()

    mining_knn(sizes["knn"], device, row)

    embeddings = rng.normal(size=(sizes["map"], 512)).astype(np.float32)
    labels = rng.integers(0, sizes["map"] // 5, sizes["map"])
    seconds = timed(lambda: metrics.mean_average_precision(embeddings, labels, device), device, warmup=0)
    row("exact MAP", f"N = {sizes['map']:,}, 512-d", f"{seconds:.1f}", "-", "s")

    table = [f"device: {name}; {'CPU mode' if args.cpu else 'GPU mode'}; mixed = {half}; "
             f"total {time.perf_counter() - began:.0f} s", "",
             f"| check | size | fp32 | mixed ({half}) | unit |", "|---|---|---:|---:|---|"]
    table += [f"| {check} | {size} | {fp32} | {mixed} | {unit} |" for check, size, fp32, mixed, unit in rows]
    print("\n" + "\n".join(table))
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / "gpu_check.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
