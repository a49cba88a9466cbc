#!/usr/bin/env python
"""Helpers of bench/term_discovery.sh, and the scale bench of spoken term discovery.

    python bench/bench_discovery.py fsdd-alignments CORPUS OUT     # word + phone alignments of FSDD sessions
    python bench/bench_discovery.py table RESULTS_DIR TITLE [MAP_TABLE]   # one markdown table of a corpus
    python bench/bench_discovery.py scale [--sizes 10000,30000,100000] [--model demo_run/gold]

``fsdd-alignments``: the word times of the FSDD sessions are exact (``make_word_corpus.py`` wrote
them, in CORPUS/tokens, labelled with the digit); each word token is force-aligned on its own
span (50 ms of margin) with pocketsphinx's US English model and the CMU dictionary it ships,
through the demo corpus's aligner (utils/demo/forced_alignment.py); its phones are kept inside the
word's exact span (the first starts at the word's start, the last ends at its end). A token the
aligner cannot fit gets its dictionary pronunciation spread evenly over the word (counted).

``scale``: discovery over N candidate segments on the grid of synthetic 3 s VADs, N = 10k ... 100k,
each N in a fresh process (its peak resident memory is the process's): the real SSE encoder
embeds synthetic frames of the right lengths (each VAD one of 20 recurring random patterns plus
its own noise: the cost does not depend on the values, and some segments recur), then the
discovery of sse/discovery/terms.py runs (PCA, exact k-NN, filters and thresholds, overlap resolution,
classes). Prints the time of each stage and the peak memory.

``phases``: discovery over N candidates (up to 1,000,000 and beyond), phase by phase, each with
its time and the process's peak resident memory, with the k-NN of ``--recall`` (default 0.95:
the approximate index of ``discover_terms.py --recall``; 1: exact). The grid segments are those
of synthetic 3 s VADs, as ``scale``; the real SSE encoder embeds ``--embed_sample`` of them (its
time is scaled to N: embedding costs the same per segment), and the discovery phases run on
synthetic clustered 512-d embeddings of all N (those of bench/bench_mining.py: about 20 tokens
per "word" plus noise), since embedding a million candidates with the encoder takes longer
than all the rest on a shared 2-core CPU::

    python bench/bench_discovery.py phases --size 1000000 [--recall 0.95] [--embed_sample 20000]
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "utils"))  # the demo aligner (not part of the installed package)
sys.path.insert(0, str(ROOT / "bench"))  # bench_mining's synthetic embeddings and memory sampler

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MARGIN = 0.05


def fsdd_alignments(corpus: Path, output: Path) -> None:
    from demo.forced_alignment import AlignmentError, ForcedAligner  # noqa: PLC0415

    from sse.core.progress import tqdm  # noqa: PLC0415
    from sse.frames.audio import read_audio  # noqa: PLC0415
    from sse.frames.formats import read_segment_list  # noqa: PLC0415
    from sse.prep.alignments import Alignments, FileAlignment, Interval, write_alignment_file  # noqa: PLC0415

    tokens = read_segment_list(corpus / "tokens", require_transcriptions=True)
    aligner = ForcedAligner()
    files: dict[str, tuple[list, list]] = {}
    fallback = 0
    for token in tqdm(tokens, desc="aligning", unit="word"):
        word = DIGITS[int(token.transcription)] if token.transcription.isdigit() else token.transcription.lower()
        begin = max(token.vad_start, token.start - MARGIN)
        samples = read_audio(corpus / token.wav, begin, min(token.vad_end, token.end + MARGIN))
        try:
            phones = [Interval(begin + p.start, begin + p.end, p.label) for p in aligner.align(samples, word).phones]
            phones = [Interval(max(p.start, token.start), min(p.end, token.end), p.label) for p in phones
                      if min(p.end, token.end) > max(p.start, token.start)]
            if not phones:
                raise AlignmentError("no phone inside the word")
            phones[0] = phones[0]._replace(start=token.start)
            phones[-1] = phones[-1]._replace(end=token.end)
        except AlignmentError:
            fallback += 1
            names = aligner.pronunciation(word)
            step = (token.end - token.start) / len(names)
            phones = [Interval(token.start + i * step, token.start + (i + 1) * step, name) for i, name in enumerate(names)]
        words, all_phones = files.setdefault(token.wav, ([], []))
        words.append(Interval(token.start, token.end, word))
        all_phones.extend(phones)
    write_alignment_file(output, Alignments({wav: FileAlignment(sorted(w), sorted(p)) for wav, (w, p) in files.items()}))
    print(f"{output}: {len(tokens)} words of {len(files)} files; {fallback} spread evenly (aligner failed)")


def read_map_table(path: Path | None) -> dict[str, str]:
    """Model label -> MAP, from an experiment's results.md (recipe.sh's table)."""
    if path is None or not path.is_file():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"0\.\d+", cells[1]):
            found[cells[0]] = cells[1]
    return found


LABELS = {"mean": "mean mfcc frames", "init": "stage 1 (augmentation)", "gold": "weakly supervised"}


def table(results: Path, title: str, map_table: Path | None) -> None:
    maps = read_map_table(map_table)
    print(f"### {title}\n")
    print("| model | MAP | NED | coverage | classes | tokens | grouping F | token F | type F | boundary F | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run in sorted(results.glob("*.json"), key=lambda p: int(p.stem.split("-")[0])):
        scores = json.loads(run.read_text())
        name = run.stem.split("-", 1)[1]
        label = LABELS.get(name) or (f"k-NN iteration {name[4:]}" if name.startswith("iter") else name)
        seconds = int((results / f"{run.stem}.ms").read_text()) / 1000
        print(f"| {label} | {maps.get(label, '-')} | {scores['NED']} | {scores['coverage']} | {scores['classes']} "
              f"| {scores['tokens']} | {scores['grouping F-score']} | {scores['token F-score']} "
              f"| {scores['type F-score']} | {scores['boundary F-score']} | {seconds:.0f} s |")
    print()


def scale_one(size: int, model: str) -> dict:
    """One size, in this process: timings and peak memory as a dict."""
    import numpy as np  # noqa: PLC0415

    from sse.discovery.terms import DiscoverySettings, discover  # noqa: PLC0415
    from sse.frames.formats import Vad  # noqa: PLC0415
    from sse.inference.checkpoint import load_encoder  # noqa: PLC0415
    from sse.inference.embed import embed_frames  # noqa: PLC0415
    from sse.method.segments import count_segments, make_segments  # noqa: PLC0415

    per_vad = count_segments([Vad("x", "s", 0.0, 3.0)])
    vads = [Vad(f"spk{i % 40}/utt{i:06d}.wav", f"spk{i % 40}", 0.0, 3.0) for i in range(-(-size // per_vad))]
    segments = make_segments(vads, max_segments=size)
    loaded = load_encoder(model, "cpu")
    dim = loaded.encoder.config.input_dim
    rng = np.random.default_rng(0)
    # Every VAD its own frames: a few recurring "words" (150-frame patterns) plus noise, so that
    # some segments match across files and most do not, as in speech.
    words = rng.normal(size=(20, 150, dim)).astype(np.float32)

    def frames():
        current, vad_frames = None, None
        for index, segment in enumerate(segments):
            if segment.wav != current:
                current = segment.wav
                vad_frames = words[rng.integers(len(words))] + rng.normal(size=(150, dim)).astype(np.float32)
            first = int(round(segment.start * 50))
            yield index, vad_frames[first:max(first + 1, int(round(segment.end * 50)))]

    started = time.perf_counter()
    embeddings = embed_frames(loaded.encoder, frames(), len(segments), 256, "cpu")
    embedded = time.perf_counter()
    found = discover(embeddings, segments, DiscoverySettings())
    done = time.perf_counter()
    return {"segments": len(segments), "embed_s": embedded - started, "discover_s": done - embedded,
            "classes": len(found.classes), "tokens": found.tokens,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def scale(sizes: list[int], model: str) -> None:
    print("| candidate segments | embedding | discovery (PCA, k-NN, filters, overlaps, classes) | total | "
          "peak memory | classes | tokens |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        result = subprocess.run([sys.executable, __file__, "scale-one", str(size), "--model", model],
                                capture_output=True, text=True, env={"TQDM_DISABLE": "1", **__import__("os").environ})
        if result.returncode != 0:
            sys.exit(result.stderr[-3000:])
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {row['segments']:,} | {row['embed_s']:.0f} s | {row['discover_s']:.0f} s | "
              f"{row['embed_s'] + row['discover_s']:.0f} s | {row['peak_mib']:.0f} MiB | {row['classes']} | "
              f"{row['tokens']} |", flush=True)


def phases(size: int, model: str, target: float, embed_sample: int) -> None:
    """Discovery phase by phase over ``size`` candidates (module docstring, ``phases``)."""
    import os  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from bench_mining import RssPeak, synthetic_inputs  # noqa: PLC0415

    from sse.discovery.terms import DiscoverySettings, connected_classes, resolve_overlaps  # noqa: PLC0415
    from sse.frames.formats import Vad  # noqa: PLC0415
    from sse.inference.checkpoint import load_encoder  # noqa: PLC0415
    from sse.inference.embed import embed_frames  # noqa: PLC0415
    from sse.method import knn, mining  # noqa: PLC0415
    from sse.method.segments import count_segments, make_segments  # noqa: PLC0415

    load = os.getloadavg()[0]
    rows = []

    def phase(name, function, scale=1.0):
        with RssPeak() as memory:
            began = time.perf_counter()
            result = function()
            seconds = (time.perf_counter() - began) * scale
        rows.append((name, seconds, memory.peak / 2 ** 30))
        print(f"  {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
        return result

    per_vad = count_segments([Vad("x", "s", 0.0, 3.0)])
    vads = [Vad(f"spk{i % 40}/utt{i:07d}.wav", f"spk{i % 40}", 0.0, 3.0) for i in range(-(-size // per_vad))]
    segments = phase("candidate segments (grid of 3 s VADs)", lambda: make_segments(vads, max_segments=size))
    size = len(segments)

    # Embedding: the real encoder over synthetic frames of the right lengths, on a sample, scaled.
    loaded = load_encoder(model, "cpu")
    dim = loaded.encoder.config.input_dim
    sample = min(embed_sample, size)
    rng = np.random.default_rng(0)

    def frames():
        for index, segment in enumerate(segments[:sample]):
            count = max(1, int(round((segment.end - segment.start) * 50)))
            yield index, rng.normal(size=(count, dim)).astype(np.float32)

    phase(f"embedding ({sample:,} candidates with {Path(model).name}, x {size / sample:.0f})",
          lambda: embed_frames(loaded.encoder, frames(), sample, 256, "cpu", progress=False), size / sample)
    loaded = None
    embeddings, _ = synthetic_inputs(size)  # what the phases below search (module docstring)
    settings = DiscoverySettings(recall=target)
    pca = phase("PCA fit", lambda: mining.fit_pca(embeddings, settings.pca_dim, settings.max_pca_fit))
    vectors = phase("project + L2 norm", lambda: mining.project(embeddings, pca))
    embeddings = None
    index = knn.resolve_index(settings.index, target)
    searcher = phase(f"k-NN index build ({index})", lambda: knn.Searcher(vectors, index, "cpu"))
    if not searcher.exact:
        phase(f"k-NN tuning to recall@10 >= {target}", lambda: searcher.tune(target, settings.k))
    found = phase(f"k-NN search, all {size:,} ({searcher.describe()})",
                  lambda: searcher.neighbours(slice(None), settings.k))
    measured = 1.0
    if not searcher.exact:
        measured = phase("k-NN recall, 2,000 sampled queries", lambda: knn.recall(searcher, settings.k, seed=1))
    searcher = None
    table = phase("segment table", lambda: mining.SegmentTable.of(segments))
    mined = phase("filters + coverage threshold", lambda: mining.select_pairs(
        table, *found, settings.nms_overlap, settings.coverage, coverage_by=settings.coverage_by))
    representative = phase("overlap resolution", lambda: resolve_overlaps(
        table, mined.first, mined.second, mined.similarity, settings.merge_overlap))
    classes = phase("classes (capped single linkage)", lambda: connected_classes(
        mined.first, mined.second, representative, settings.min_class_size, mined.similarity,
        settings.max_class_size))
    tokens = sum(len(c) for c in classes)
    print(f"{size:,} candidate segments; k-NN recall@10 {measured:.4f}; {len(mined.first):,} matches (threshold "
          f"{mined.threshold:.2f}), {len(classes):,} classes, {tokens:,} tokens; {torch.get_num_threads()} threads; "
          f"load average before/after {load:.1f}/{os.getloadavg()[0]:.1f}\n")
    print("| phase | seconds | peak RSS (GiB) |")
    print("|---|---:|---:|")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {peak:.2f} |")
    total = sum(seconds for _, seconds, _ in rows)
    print(f"| **total** (embedding estimated) | **{total:.1f}** | "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    align = commands.add_parser("fsdd-alignments", allow_abbrev=False)
    align.add_argument("corpus", type=Path)
    align.add_argument("output", type=Path)
    summary = commands.add_parser("table", allow_abbrev=False)
    summary.add_argument("results", type=Path)
    summary.add_argument("title")
    summary.add_argument("map_table", type=Path, nargs="?")
    for name in ("scale", "scale-one"):
        sub = commands.add_parser(name, allow_abbrev=False)
        if name == "scale":
            sub.add_argument("--sizes", default="10000,30000,100000")
        else:
            sub.add_argument("size", type=int)
        sub.add_argument("--model", default=str(ROOT / "demo_run" / "gold"))
    timing = commands.add_parser("phases", allow_abbrev=False)
    timing.add_argument("--size", type=int, default=1_000_000)
    timing.add_argument("--recall", type=float, default=0.95)
    timing.add_argument("--embed_sample", type=int, default=20_000)
    timing.add_argument("--model", default=str(ROOT / "pretrained" / "demo_gold"))
    args = parser.parse_args()
    if args.command == "phases":
        phases(args.size, args.model, args.recall, args.embed_sample)
    elif args.command == "fsdd-alignments":
        fsdd_alignments(args.corpus, args.output)
    elif args.command == "table":
        table(args.results, args.title, args.map_table)
    elif args.command == "scale":
        scale([int(size) for size in args.sizes.split(",")], args.model)
    else:
        print(json.dumps(scale_one(args.size, args.model)))


if __name__ == "__main__":
    main()
