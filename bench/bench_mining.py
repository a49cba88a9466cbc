#!/usr/bin/env python
"""k-NN pair mining at scale: exact against approximate search, and mining from embeddings to pairs.

    python bench/bench_mining.py                        # N = 100,000 and 1,000,000 on the CPU
    python bench/bench_mining.py --sizes 1000000 --recall 0.95
    python bench/bench_mining.py --embeddings DUMP.npy --segments LIST   # pairs of real embeddings

**Synthetic sizes.** The encoder is not run: the embeddings are synthetic (512-d, float16 as
``mine_pairs.py`` stores them; clustered, about 20 tokens per "word" plus noise, so that
neighbours mean something and recall is not judged on structureless noise), and so is the
segment list (files of 0.16 s-grid segments of 0.16-0.96 s). Each size runs in a fresh process
and prints:

1. **The index table**, every row measured on the same PCA output (N x 128) in this one run:
   exact search (FAISS flat); IVF-Flat with nprobe swept; IVF with an 8-bit scalar quantizer;
   HNSW with FAISS's default construction beam (40) and with the toolkit's, searched from each
   vector's own node (what mining does) with ``ef_search`` swept, and once descending from the
   entry point as FAISS's ``search`` does. Build times are measured;
   search times of the sweep rows on ``--sweep_sample`` queries, scaled to N (estimates, marked
   so); recall@k on 2,000 sampled queries against exact search; "memory" is the resident memory
   the index added when built.
2. **Mining with the chosen index**, phase by phase: ``--recall`` picks it as
   ``mine_pairs.py --recall`` does (``sse.method.knn.build``: HNSW, ``ef_search`` tuned on 2,000
   sampled queries), then every one of the N vectors is searched, the recall is measured on
   2,000 other sampled queries (as mining logs it), the filters and the coverage threshold
   select the pairs and the pair list is written. "Peak RSS" is the process's highest resident
   memory during a phase (sampled every 10 ms), so it includes what earlier phases still hold.
3. Where exact search ran on every query (by default up to N = 100,000): how many of the pairs exact
   mining selects the approximate search also selects.
4. One line to check again without reading tables::

       RESULT mining n=<N> recall@10=<r> approx_s=<a> exact_s=<e> peak_gib=<m>

   ``approx_s``: the chosen index's build, tuning, search of all N and recall measurement;
   ``exact_s``: FAISS exact search of all N, with a ``~`` where it was timed on
   ``--exact_sample`` queries and scaled to N (exact search costs N^2); ``peak_gib``: the highest
   resident memory during the approximate phases. The exact timing is split into three parts
   spread over the run (start, middle, end), since the load of a shared machine changes.

**Real embeddings** (``--embeddings``, a ``map_dump.py --task=dump`` of ``--segments``): exact
and approximate mining of the same rows, and how many of the exact pairs the approximate
search also mines, with the index, threshold and coverage of each.
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

IVF_NPROBES = (16, 32, 64, 128, 256)
SQ_NPROBES = (64, 256)
HNSW_EF_SEARCHES = (16, 32, 64)
FAISS_EF_CONSTRUCTION = 40  # FAISS's default
SEARCH_CHUNK = 1 << 16
FULL_EXACT, SAMPLED_EXACT = 100_000, 30_000  # the default of --exact_sample


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
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.end = self.rss()
        self.peak = max(self.peak, self.end)


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


def search_all(searcher, count: int, k: int):
    """Every vector's k nearest, by blocks of queries, as mining and discovery ask them."""
    similarities = np.empty((count, k), dtype=np.float32)
    ids = np.empty((count, k), dtype=np.int64)
    for begin in range(0, count, SEARCH_CHUNK):
        found = searcher.neighbours(slice(begin, begin + SEARCH_CHUNK), k)
        similarities[begin:begin + len(found[0])], ids[begin:begin + len(found[0])] = found
    return similarities, ids


def pair_set(mined) -> set:
    return set(zip(mined.first.tolist(), mined.second.tolist()))


def agreement(exact, approximate) -> dict:
    """How many of the exact pairs the approximate search mines too, and the other way round."""
    exact_pairs, approximate_pairs = pair_set(exact), pair_set(approximate)
    shared = len(exact_pairs & approximate_pairs)
    return {"exact_pairs": len(exact_pairs), "approximate_pairs": len(approximate_pairs), "shared": shared,
            "of_exact": shared / max(1, len(exact_pairs)), "of_approximate": shared / max(1, len(approximate_pairs)),
            "exact_threshold": exact.threshold, "approximate_threshold": approximate.threshold,
            "exact_covered": exact.queries_covered, "approximate_covered": approximate.queries_covered}


def one(size: int, device: str, exact_sample: int, sweep_sample: int, target: float, k: int, sweep: bool) -> dict:
    import faiss
    import torch

    from sse.frames.formats import write_pair_list
    from sse.method import knn, mining

    phases, table = [], []

    def phase(name, function, estimate=False, scale=1.0, approximate=False):
        with RssPeak() as memory:
            began = time.perf_counter()
            result = function()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = (time.perf_counter() - began) * scale
        phases.append({"phase": name, "seconds": seconds, "peak_rss_gib": memory.peak / 2 ** 30,
                       "added_gib": (memory.end - memory.start) / 2 ** 30, "estimate": estimate,
                       "approximate": approximate})
        return result

    load = os.getloadavg()  # other work on the machine slows every phase
    embeddings, segments = synthetic_inputs(size)
    pca = phase("PCA fit", lambda: mining.fit_pca(embeddings))
    vectors = phase("project + L2 norm", lambda: mining.project(embeddings, pca))
    embeddings = None  # frees it (the lambdas above have run)
    truth_rows = knn.sample_rows(size, knn.RECALL_SAMPLE, seed=7)  # the table's recall queries
    truth = knn.Searcher(vectors, "flat", device).neighbours(truth_rows, k)[1]

    # Exact search: all queries, or a sample timed in three parts spread over the run.
    full = exact_sample >= size
    exact_rows = np.arange(size) if full else knn.sample_rows(size, exact_sample, seed=1)
    exact_parts, exact_times = np.array_split(exact_rows, 1 if full else 3), []
    exact_found = None

    def time_exact(part: int) -> None:
        nonlocal exact_found
        if part >= len(exact_parts):
            return
        searcher = knn.Searcher(vectors, "flat", device)
        began = time.perf_counter()
        found = searcher.neighbours(exact_parts[part], k)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        exact_times.append(time.perf_counter() - began)
        if full:
            exact_found = found

    def row(name, build_s, rows, searcher=None, search=None, memory=0.0, descend=False):
        search = search or (lambda chosen: searcher.search(vectors[chosen], k) if descend
                            else searcher.neighbours(chosen, k))
        began = time.perf_counter()
        search(rows)
        search_s = (time.perf_counter() - began) * size / len(rows)
        table.append({"index": name, "build_s": build_s, "search_s": search_s, "estimate": len(rows) < size,
                      "recall": knn.overlap(search(truth_rows)[1], truth), "memory_gib": memory})

    sweep_rows = knn.sample_rows(size, min(sweep_sample, size), seed=3)
    time_exact(0)
    if sweep:
        with RssPeak() as memory:
            began = time.perf_counter()
            ivf = knn.Searcher(vectors, "ivf", "cpu")
            build_s = time.perf_counter() - began
        for nprobe in IVF_NPROBES:
            ivf.nprobe = nprobe
            row(f"IVF-Flat, nlist {ivf.nlist}, nprobe {ivf.nprobe}", build_s, sweep_rows, ivf,
                memory=(memory.end - memory.start) / 2 ** 30)
        nlist = ivf.nlist
        ivf = None
        with RssPeak() as memory:
            began = time.perf_counter()
            quantizer = faiss.IndexFlatIP(vectors.shape[1])
            sq = faiss.IndexIVFScalarQuantizer(quantizer, vectors.shape[1], nlist, faiss.ScalarQuantizer.QT_8bit,
                                               faiss.METRIC_INNER_PRODUCT)
            sq.train(vectors[knn.sample_rows(size, 256 * nlist, 0)])
            sq.add(vectors)
            build_s = time.perf_counter() - began
        for nprobe in SQ_NPROBES:
            sq.nprobe = nprobe
            row(f"IVF-SQ8, nlist {nlist}, nprobe {nprobe}", build_s, sweep_rows,
                search=lambda chosen: sq.search(vectors[chosen], k), memory=(memory.end - memory.start) / 2 ** 30)
        sq = quantizer = None
        # FAISS's default construction beam, against the toolkit's (the chosen index below).
        with RssPeak() as memory:
            began = time.perf_counter()
            default = knn.Searcher(vectors, "hnsw", "cpu", ef_construction=FAISS_EF_CONSTRUCTION)
            build_s = time.perf_counter() - began
        for ef in (HNSW_EF_SEARCHES[0], HNSW_EF_SEARCHES[-1]):
            default.ef_search = ef
            row(f"HNSW, m {default.m}, ef_construction {FAISS_EF_CONSTRUCTION}, ef_search {ef}, from own node",
                build_s, sweep_rows, default, memory=(memory.end - memory.start) / 2 ** 30)
        default = None
    time_exact(1)

    # The chosen index, as mine_pairs.py --recall builds it (sse.method.knn.build, split in two).
    kind = knn.resolve_index("flat", target)
    chosen = phase(f"{kind} build", lambda: knn.Searcher(vectors, kind, device), approximate=True)
    reached = phase(f"tune to recall@{k} >= {target} on {min(knn.RECALL_SAMPLE, size):,} queries",
                    lambda: chosen.tune(target, k), approximate=True)
    if sweep and chosen.kind == "hnsw":
        tuned = chosen.ef_search
        build = next(p for p in phases if p["phase"] == f"{kind} build")
        for ef in HNSW_EF_SEARCHES:
            chosen.ef_search = ef
            row(f"HNSW, m {chosen.m}, ef_construction {chosen.ef_construction}, ef_search {ef}, from own node",
                build["seconds"], sweep_rows, chosen, memory=build["added_gib"])
        row(f"HNSW, m {chosen.m}, ef_construction {chosen.ef_construction}, ef_search {HNSW_EF_SEARCHES[-1]}, "
            "descending (FAISS search)", build["seconds"], sweep_rows, chosen, memory=build["added_gib"], descend=True)
        chosen.ef_search = tuned
    similarities, ids = phase(f"search, all {size:,} queries ({chosen.describe()})",
                              lambda: search_all(chosen, size, k), approximate=True)
    measured = phase(f"recall@{k}, {min(knn.RECALL_SAMPLE, size):,} other queries",
                     lambda: knn.recall(chosen, k, seed=1), approximate=True)
    description = chosen.describe()
    chosen = None
    time_exact(2)
    exact_s = sum(exact_times) * size / len(exact_rows)
    table.insert(0, {"index": "exact (FAISS flat)", "build_s": 0.0, "search_s": exact_s, "estimate": not full,
                     "recall": 1.0, "memory_gib": 0.0})
    parts = [t * size / len(part) for t, part in zip(exact_times, exact_parts)]

    segment_table = mining.SegmentTable.of(segments)
    mined = phase("filters + threshold (approximate lists)", lambda: mining.select_pairs(segment_table, similarities, ids))
    pairs = None
    if exact_found is not None:
        pairs = agreement(mining.select_pairs(segment_table, *exact_found), mined)
    with tempfile.TemporaryDirectory() as folder:
        phase("write pair list", lambda: write_pair_list(Path(folder) / "pairs", mining.as_pair_list(segments, mined)))
    approximate = [p for p in phases if p["approximate"]]
    return {"size": size, "phases": phases, "table": table, "load": load, "pairs": len(mined.first),
            "recall": measured, "tuned_recall": reached, "chosen": description, "exact_s": exact_s,
            "exact_parts": parts, "exact_estimate": not full, "exact_queries": len(exact_rows),
            "approx_s": sum(p["seconds"] for p in approximate),
            "approx_peak_gib": max(p["peak_rss_gib"] for p in approximate), "agreement": pairs,
            "threads": torch.get_num_threads(), "max_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def report(row: dict, k: int, device: str, load_after: float) -> None:
    size = row["size"]
    print(f"\nN = {size:,} segments, k = {k}, device {device}, {row['threads']} threads; load average before/after "
          f"{row['load'][0]:.1f}/{load_after:.1f}; process peak RSS {row['max_rss_gib']:.2f} GiB\n")
    print("| index | build (s) | search, all N (s) | total / exact | recall@10 | memory (GiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    exact = row["exact_s"]
    for item in row["table"]:
        mark = " (est.)" if item["estimate"] else ""
        total = item["build_s"] + item["search_s"]
        print(f"| {item['index']} | {item['build_s']:.1f} | {item['search_s']:.1f}{mark} | {total / exact:.3f} | "
              f"{item['recall']:.4f} | {item['memory_gib']:.2f} |")
    spread = ", ".join(f"{part:.0f}" for part in row["exact_parts"])
    what = (f"{row['exact_queries']:,} sampled queries x {size / row['exact_queries']:.0f}, timed in parts scaling to "
            f"{spread} s" if row["exact_estimate"] else "all queries")
    print(f"\nExact search: {what}. Chosen: {row['chosen']}; recall@{k} {row['tuned_recall']:.4f} on the tuning "
          f"queries, {row['recall']:.4f} on other sampled queries; {row['pairs']:,} pairs written.\n")
    print("| phase | seconds | peak RSS (GiB) |")
    print("|---|---:|---:|")
    for item in row["phases"]:
        print(f"| {item['phase']} | {item['seconds']:.1f} | {item['peak_rss_gib']:.2f} |")
    print(f"| **approximate k-NN (build, tuning, search, recall)** | **{row['approx_s']:.1f}** | "
          f"{row['approx_peak_gib']:.2f} |")
    mark = " (estimate)" if row["exact_estimate"] else ""
    print(f"| exact search (FAISS flat){mark} | {exact:.1f} | |")
    if row["agreement"]:
        print_agreement(row["agreement"])


def print_agreement(pairs: dict) -> None:
    print(f"\nMined pairs: exact {pairs['exact_pairs']:,} (threshold {pairs['exact_threshold']:.2f}, "
          f"{pairs['exact_covered']:,} queries covered), approximate {pairs['approximate_pairs']:,} (threshold "
          f"{pairs['approximate_threshold']:.2f}, {pairs['approximate_covered']:,} covered); shared "
          f"{pairs['shared']:,}: {100 * pairs['of_exact']:.1f} % of the exact pairs, "
          f"{100 * pairs['of_approximate']:.1f} % of the approximate ones.")


def real(embeddings_path: Path, segments_path: Path, target: float, k: int, device: str) -> None:
    """Exact and approximate mining of a dump of real embeddings, side by side."""
    from sse.frames.formats import read_segment_list
    from sse.method import knn, mining

    load = os.getloadavg()[0]
    embeddings = np.load(embeddings_path, mmap_mode="r")
    segments = read_segment_list(segments_path)
    if len(embeddings) != len(segments):
        sys.exit(f"error: {embeddings_path} has {len(embeddings)} rows, {segments_path} {len(segments)} segments")
    vectors = mining.project(embeddings, mining.fit_pca(np.asarray(embeddings, dtype=np.float32)))
    table = mining.SegmentTable.of(segments)
    results = {}
    for name, recall_target in (("exact", None), ("approximate", target)):
        began = time.perf_counter()
        searcher = knn.build(vectors, "flat", device, recall_target, k)
        found = search_all(searcher, len(vectors), k)
        seconds = time.perf_counter() - began
        measured = knn.recall(searcher, k, seed=1) if not searcher.exact else 1.0
        results[name] = (mining.select_pairs(table, *found), seconds, measured, searcher.describe(), found[1])
    exact_ids = results["exact"][4]
    print(f"{len(vectors):,} segments of {segments_path} ({embeddings_path}); k = {k}; load average before/after "
          f"{load:.1f}/{os.getloadavg()[0]:.1f}\n")
    print("| search | index | k-NN seconds | recall@10, 2,000 sampled queries | recall@10, all queries | pairs |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (mined, seconds, measured, description, ids) in results.items():
        print(f"| {name} | {description} | {seconds:.1f} | {measured:.4f} | {knn.overlap(ids, exact_ids):.4f} | "
              f"{len(mined.first):,} |")
    print_agreement(agreement(results["exact"][0], results["approximate"][0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100000, 1000000])
    parser.add_argument("--device", default="cpu", help="where exact search and the chosen index run (the sweep "
                                                        "stays on the CPU)")
    parser.add_argument("--recall", type=float, default=0.95, help="recall target of the chosen index (--recall of "
                                                                   "mine_pairs.py)")
    parser.add_argument("--exact_sample", type=int, default=None,
                        help="queries exact search is timed on, then scaled to N (default: all up to "
                             f"{FULL_EXACT:,} segments, {SAMPLED_EXACT:,} above)")
    parser.add_argument("--sweep_sample", type=int, default=20000,
                        help="queries the sweep rows are timed on (then scaled to N)")
    parser.add_argument("--no_sweep", action="store_true", help="only the chosen index and exact search")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--embeddings", type=Path, help="a dump of real embeddings (map_dump.py --task=dump)")
    parser.add_argument("--segments", type=Path, help="the segment list of --embeddings")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 < args.recall <= 1:
        parser.error(f"--recall: {args.recall} is out of range: it must be in (0, 1]")
    if (args.embeddings is None) != (args.segments is None):
        parser.error("--embeddings and --segments go together")
    if args.embeddings:
        real(args.embeddings, args.segments, args.recall, args.k, args.device)
        return
    if args.one:
        print(json.dumps(one(args.sizes[0], args.device, args.exact_sample, args.sweep_sample, args.recall, args.k,
                             not args.no_sweep)))
        return
    results = []
    for size in args.sizes:
        exact_sample = args.exact_sample or (size if size <= FULL_EXACT else SAMPLED_EXACT)
        command = [sys.executable, __file__, "--one", "--sizes", str(size), "--device", args.device,
                   "--exact_sample", str(exact_sample), "--sweep_sample", str(args.sweep_sample),
                   "--recall", str(args.recall), "--k", str(args.k)] + (["--no_sweep"] if args.no_sweep else [])
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"error: N = {size} failed:\n{result.stderr[-2000:]}")
        row = json.loads(result.stdout.strip().splitlines()[-1])
        report(row, args.k, args.device, os.getloadavg()[0])
        results.append(row)
    print()
    for row in results:
        mark = "~" if row["exact_estimate"] else ""
        print(f"RESULT mining n={row['size']} recall@{args.k}={row['recall']:.4f} approx_s={row['approx_s']:.1f} "
              f"exact_s={mark}{row['exact_s']:.1f} peak_gib={row['approx_peak_gib']:.2f}", flush=True)


if __name__ == "__main__":
    main()
