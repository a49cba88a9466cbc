#!/usr/bin/env python
"""Exact MAP: time and peak memory against the number of segments (random 512-d embeddings).

    python bench/bench_map.py                 # N = 5,000 and 20,000
    python bench/bench_map.py --sizes 100000  # the 4 GB claim (several minutes on a CPU)

Each size runs in a fresh process so that its peak resident memory is its own. Labels are
drawn so that segments have on average 4 same-label partners, like a phone n-gram benchmark.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one(size: int, device: str) -> dict:
    import numpy as np
    import torch

    from sse.metrics import mean_average_precision
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(size, 512)).astype(np.float32)
    labels = rng.integers(0, size // 5, size)
    began = time.perf_counter()
    result = mean_average_precision(embeddings, labels, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # GiB (ru_maxrss is KiB)
    gpu = torch.cuda.max_memory_allocated() / 2 ** 30 if device.startswith("cuda") else 0.0
    return {"size": size, "seconds": seconds, "peak_rss_gib": peak, "gpu_gib": gpu,
            "queries": result.num_queries, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.device)))
        return
    print("| segments | queries | seconds | peak RSS (GiB) | GPU peak (GiB) | device | threads |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    for size in args.sizes:
        output = subprocess.run([sys.executable, __file__, "--one", str(size), "--device", args.device],
                                capture_output=True, text=True, check=True).stdout
        row = json.loads(output.strip().splitlines()[-1])
        print(f"| {row['size']:,} | {row['queries']:,} | {row['seconds']:.1f} | {row['peak_rss_gib']:.2f} | "
              f"{row['gpu_gib']:.2f} | {args.device} | {row['threads']} |", flush=True)


if __name__ == "__main__":
    main()
