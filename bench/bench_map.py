#!/usr/bin/env python
"""Exact MAP against its floor (the similarity product alone) and against pytorch-metric-learning.

    python bench/bench_map.py                         # N = 20,000 and 100,000 on the CPU
    python bench/bench_map.py --sizes 5000 --device cuda

For each N, three measurements on the same random 512-d embeddings (labels drawn so that a
segment has about 4 same-label partners, like a phone n-gram benchmark), each in a fresh
process so that its peak resident memory is its own:

* floor: the cosine-similarity product of every query with all N segments, in the same chunks
  the toolkit uses, and nothing else; no exact MAP can be faster than this;
* toolkit: ``sse.evaluation.metrics.mean_average_precision`` (exact MAP, all-segment ranking);
* with ``--profile``, the toolkit once more, its similarity products and its counting timed
  apart, to show where the time above the floor goes;
* pytorch-metric-learning: ``AccuracyCalculator``'s ``mean_average_precision``, the authors'
  metric, a top-k variant (``k="max_bin_count"``: the largest label count) over FAISS k-NN
  (its default, k = N - 1, needs N x N memory and did not fit 24 GiB at N = 20,000), so not the same
  number. It is only measured where the package is installed (it is not a dependency:
  ``pip install pytorch-metric-learning``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def data(size: int):
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.normal(size=(size, 512)).astype(np.float32), rng.integers(0, size // 5, size)


def synchronize(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one(method: str, size: int, device: str) -> dict:
    import numpy as np
    import torch

    from sse.evaluation import metrics
    embeddings, labels = data(size)
    value, queries = float("nan"), 0
    if device.startswith("cuda"):  # start CUDA before the clock
        torch.zeros(1, device=device)
    began = time.perf_counter()
    if method == "floor":
        vectors = torch.nn.functional.normalize(torch.as_tensor(embeddings).to(device), dim=1)
        chunk = metrics.chunk_rows(size, int(np.bincount(labels).max()), 1 << 30, size)
        checksum = 0.0
        for begin in range(0, size, chunk):
            checksum += float((vectors[begin:begin + chunk] @ vectors.T)[:, 0].sum())
    elif method in ("toolkit", "profile"):
        parts = profile_hooks(metrics, device) if method == "profile" else {}
        began = time.perf_counter()
        result = metrics.mean_average_precision(embeddings, labels, device)
        value, queries = result.map, result.num_queries
    else:
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
        vectors = torch.nn.functional.normalize(torch.as_tensor(embeddings), dim=1).to(device)
        calculator = AccuracyCalculator(include=("mean_average_precision",), k="max_bin_count",
                                        device=torch.device(device))
        value = float(calculator.get_accuracy(vectors, torch.as_tensor(labels).to(device))["mean_average_precision"])
    synchronize(device)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # GiB (ru_maxrss is KiB)
    gpu = torch.cuda.max_memory_allocated() / 2 ** 30 if device.startswith("cuda") else 0.0
    return {"seconds": seconds, "peak_rss_gib": peak, "gpu_gib": gpu, "map": value, "queries": queries,
            "threads": torch.get_num_threads(), **({"parts": parts} if method == "profile" else {})}


def profile_hooks(metrics, device: str) -> dict:
    """Time the toolkit's similarity products and its counting (``count_at_or_above``) as they
    run; the rest is what the toolkit adds besides them."""
    import torch
    parts = {"product": 0.0, "counting": 0.0}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            result = function(*args, **kwargs)
            synchronize(device)
            parts[name] += time.perf_counter() - began
            return result
        return wrapper

    metrics.count_at_or_above = timed("counting", metrics.count_at_or_above)
    torch.Tensor.__matmul__ = timed("product", torch.Tensor.__matmul__)
    return parts


def measure(method: str, size: int, device: str) -> dict | None:
    result = subprocess.run([sys.executable, __file__, "--one", method, "--sizes", str(size), "--device", device],
                            capture_output=True, text=True)
    if result.returncode != 0:
        if "No module named 'pytorch_metric_learning'" in result.stderr:
            return None
        sys.exit(f"error: {method} at N = {size} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no_peer", action="store_true", help="skip pytorch-metric-learning")
    parser.add_argument("--profile", action="store_true",
                        help="then run the toolkit once more, timing its products and its counting apart")
    parser.add_argument("--one", choices=("floor", "toolkit", "peer", "profile"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.sizes[0], args.device)))
        return
    memory = "GPU peak (GiB)" if args.device.startswith("cuda") else "peak RSS (GiB)"
    print(f"| N | queries | floor (s) | toolkit (s) | toolkit / floor | toolkit {memory} | toolkit MAP "
          f"| pml (s) | pml / floor | pml MAP (top-k) | device | threads | load before/after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|", flush=True)
    profiles = []
    for size in args.sizes:
        load = os.getloadavg()[0]
        floor = measure("floor", size, args.device)
        toolkit = measure("toolkit", size, args.device)
        peer = None if args.no_peer else measure("peer", size, args.device)
        used = toolkit["gpu_gib"] if args.device.startswith("cuda") else toolkit["peak_rss_gib"]
        peer_cells = ("not installed", "-", "-") if peer is None else (
            f"{peer['seconds']:.1f}", f"{peer['seconds'] / floor['seconds']:.2f}x", f"{peer['map']:.4f}")
        print(f"| {size:,} | {toolkit['queries']:,} | {floor['seconds']:.1f} | {toolkit['seconds']:.1f} | "
              f"{toolkit['seconds'] / floor['seconds']:.2f}x | {used:.2f} | {toolkit['map']:.4f} | "
              f"{' | '.join(peer_cells)} | {args.device} | {toolkit['threads']} | "
              f"{load:.1f}/{os.getloadavg()[0]:.1f} |", flush=True)
        if args.profile:
            profiles.append((size, floor, measure("profile", size, args.device)))
    if profiles:
        print("\n| N | floor (s) | toolkit, profiled (s) | of which products (s) | counting (s) | the rest (s) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for size, floor, run in profiles:
            product, counting = run["parts"]["product"], run["parts"]["counting"]
            print(f"| {size:,} | {floor['seconds']:.1f} | {run['seconds']:.1f} | {product:.1f} | {counting:.1f} | "
                  f"{run['seconds'] - product - counting:.1f} |", flush=True)


if __name__ == "__main__":
    main()
