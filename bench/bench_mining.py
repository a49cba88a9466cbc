#!/usr/bin/env python
"""k-NN pair mining at scale, from embeddings to the written pair list: time and memory per phase.

    python bench/bench_mining.py                        # N = 100,000 and 1,000,000 on the CPU
    python bench/bench_mining.py --sizes 100000 --device cuda

The encoder is not run: the embeddings are synthetic (512-d, float16 as ``mine_pairs.py``
stores them; clustered, about 20 tokens per "word" plus noise, so that neighbours mean
something and IVF recall is not judged on structureless noise), and so is the segment list
(files of 0.16 s-grid segments of 0.16-0.96 s). The phases are those of ``mine_pairs.py``
after embedding: PCA fit (on at most 1 M rows), projection + L2 norm, index build, k-NN
search (k = 10), the filters and the coverage threshold (``select_pairs``), and writing the
pair list. Each size runs in a fresh process; "peak RSS" is the process's highest resident
memory during the phase (sampled every 10 ms), so it includes what earlier phases still hold.

Exact search costs N^2: where ``--exact_sample`` is smaller than N, exact search is timed on
that many queries and scaled to N (an estimate, marked so). The approximate IVF index
(``--index ivf``) is measured on all N queries, with its recall against exact search on
2,000 sampled queries; where exact search was only sampled, the filters run on the IVF lists,
which have the same shape.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


class RssPeak:
    """Highest resident memory of this process while a ``with`` block runs, sampled."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def synthetic_inputs(size: int, seed: int = 0):
    from sse.frames.formats import Segment
    rng = np.random.default_rng(seed)
    words = max(1, size // 20)
    centres = rng.normal(size=(words, 512)).astype(np.float32)
    embeddings = np.empty((size, 512), dtype=np.float16)
    for begin in range(0, size, 1 << 16):
        count = min(1 << 16, size - begin)
        block = centres[rng.integers(0, words, count)] + 0.8 * rng.normal(size=(count, 512)).astype(np.float32)
        embeddings[begin:begin + count] = block
    # Files of 10 s, segments on the 0.16 s grid, 1 to 6 steps long.
    files = max(1, size // 60)
    file = rng.integers(0, files, size)
    first = rng.integers(0, 56, size)
    steps = rng.integers(1, 7, size)
    segments = [Segment(f"train/{f:07d}.flac", f"spk{f % 1000}", 0.0, 10.0, round(a * 0.16, 2), round((a + s) * 0.16, 2))
                for f, a, s in zip(file.tolist(), first.tolist(), steps.tolist())]
    return embeddings, segments


def one(size: int, device: str, exact_sample: int, nprobe: int, k: int) -> dict:
    import torch

    from sse.frames.formats import write_pair_list
    from sse.method import knn, mining

    phases = []

    def phase(name, function, estimate=False, scale=1.0):
        with RssPeak() as memory:
            began = time.perf_counter()
            result = function()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = (time.perf_counter() - began) * scale
        phases.append({"phase": name, "seconds": seconds, "peak_rss_gib": memory.peak / 2 ** 30,
                       "estimate": estimate})
        return result

    load = os.getloadavg()  # other work on the machine slows every phase
    embeddings, segments = synthetic_inputs(size)
    pca = phase("PCA fit", lambda: mining.fit_pca(embeddings))
    vectors = phase("project + L2 norm", lambda: mining.project(embeddings, pca))
    embeddings = None  # frees it (the lambdas above have run)
    exact = phase("exact index build", lambda: knn.Searcher(vectors, "flat", device))
    sample = min(exact_sample, size)
    if sample == size:
        similarities, ids = phase(f"exact search ({exact.backend})", lambda: exact.search(vectors, k))
    else:
        rows = np.sort(np.random.default_rng(1).choice(size, sample, replace=False))
        phase(f"exact search ({exact.backend}), {sample:,} queries x {size / sample:.0f}",
              lambda: exact.search(vectors[rows], k), estimate=True, scale=size / sample)
    exact = None
    ivf = phase("IVF train + add", lambda: knn.Searcher(vectors, "ivf", "cpu", nprobe=nprobe))
    ivf_found = phase(f"IVF search (nlist {ivf.nlist}, nprobe {ivf.nprobe})", lambda: ivf.search(vectors, k))
    ivf_recall = knn.recall(ivf, k)
    if sample != size:
        similarities, ids = ivf_found
    ivf = None
    table = mining.SegmentTable.of(segments)
    mined = phase("filters + threshold" + (" (on IVF lists)" if sample != size else ""),
                  lambda: mining.select_pairs(table, similarities, ids))
    with tempfile.TemporaryDirectory() as folder:
        phase("write pair list", lambda: write_pair_list(Path(folder) / "pairs", mining.as_pair_list(segments, mined)))
    return {"size": size, "phases": phases, "load": load, "pairs": len(mined.first), "ivf_recall": ivf_recall,
            "threads": torch.get_num_threads(),
            "max_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100000, 1000000])
    parser.add_argument("--device", default="cpu", help="where exact search runs (IVF stays on the CPU)")
    parser.add_argument("--exact_sample", type=int, default=100000,
                        help="largest number of queries exact search is timed on (then scaled to N)")
    parser.add_argument("--nprobe", type=int, default=None, help="IVF cells searched (default: sse.method.knn's)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from sse.method import knn
    nprobe = args.nprobe or knn.DEFAULT_NPROBE
    if args.one:
        print(json.dumps(one(args.sizes[0], args.device, args.exact_sample, nprobe, args.k)))
        return
    for size in args.sizes:
        result = subprocess.run([sys.executable, __file__, "--one", "--sizes", str(size), "--device", args.device,
                                 "--exact_sample", str(args.exact_sample), "--nprobe", str(nprobe),
                                 "--k", str(args.k)], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"error: N = {size} failed:\n{result.stderr[-2000:]}")
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"\nN = {size:,} segments, k = {args.k}, device {args.device}, {row['threads']} threads: "
              f"{row['pairs']:,} pairs written; IVF recall@{args.k} against exact: {row['ivf_recall']:.4f}; "
              f"process peak RSS {row['max_rss_gib']:.2f} GiB; load average before/after "
              f"{row['load'][0]:.1f}/{os.getloadavg()[0]:.1f}\n")
        print("| phase | seconds | peak RSS (GiB) |")
        print("|---|---:|---:|")
        for item in row["phases"]:
            mark = " (estimate)" if item["estimate"] else ""
            print(f"| {item['phase']} | {item['seconds']:.1f}{mark} | {item['peak_rss_gib']:.2f} |")
        exact_total = sum(p["seconds"] for p in row["phases"] if not p["phase"].startswith("IVF"))
        print(f"| **exact mining, embeddings to pair list** | **{exact_total:.1f}** | |", flush=True)


if __name__ == "__main__":
    main()
