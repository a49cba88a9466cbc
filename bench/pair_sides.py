#!/usr/bin/env python
"""What a miner picks: the durations, speech shares and content agreement of mined pairs,
against the segment list they were mined from (``sse/evaluation/pair_quality.py``).

    python bench/pair_sides.py --segments EXP/segments --units EXP/corpus/tokens --pairs EXP/iter1/pairs
    python bench/pair_sides.py --segments training_data/demo-segments \\
        --alignments training_data/demo/alignments.txt --tier phone --pairs demo_run/iter1/pairs

Units are what is spoken where: a labelled segment list (word tokens) or a tier of an alignment
file. For every pair (not only those whose sides cover one unit), each side's unit sequence
follows the ZeroSpeech 2017 rule (a unit counts when at least half of it or 30 ms of it lies in
the side), and NED is their normalised edit distance. Rows by similarity show how precision
moves with the mining threshold.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sse.evaluation.pair_quality import Units, pair_quality, side_report  # noqa: E402
from sse.frames.formats import Pair, read_pair_list, read_segment_list  # noqa: E402

GRID = 0.16


def describe(name: str, durations: np.ndarray, speech: np.ndarray) -> str:
    steps = np.rint(durations / GRID).astype(int)
    lengths = " ".join(f"{100 * np.mean(steps == k):4.0f}" for k in range(1, 7))
    return (f"| {name} | {len(durations)} | {np.median(durations):.2f} | {lengths} | "
            f"{100 * np.mean(speech < 0.5):.0f} % | {100 * np.mean(speech < 0.2):.0f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--segments", required=True, help="the segment list that was mined")
    parser.add_argument("--pairs", required=True, action="append", help="pair list (NAME=PATH or PATH), repeatable")
    units = parser.add_mutually_exclusive_group(required=True)
    units.add_argument("--units", help="labelled segment list of the spoken units (e.g. word tokens)")
    units.add_argument("--alignments", help="alignment file (toolkit format or TextGrid folder)")
    parser.add_argument("--tier", default="phone", choices=("word", "phone"))
    parser.add_argument("--sample", type=int, default=20000, help="segments sampled for the list's row")
    args = parser.parse_args()

    segments = read_segment_list(args.segments)
    if args.units:
        references = read_segment_list(args.units, require_transcriptions=True)
        units = Units.from_segments(references)
    else:
        from sse.prep.labels import load_alignments  # noqa: PLC0415
        units = Units.from_alignments(load_alignments(args.alignments), args.tier)
        references = None
    rng = np.random.default_rng(0)
    sample = [segments[i] for i in rng.choice(len(segments), min(args.sample, len(segments)), replace=False)]
    print("| what | sides | median s | share of 1..6 grid steps (%) | sides < 50 % speech | < 20 % speech |")
    print("|---|---:|---:|---|---:|---:|")
    durations = np.array([s.end - s.start for s in sample])
    speech = np.array([units.speech_share(s.wav, s.start, s.end) for s in sample])
    print(describe("segment list", durations, speech))
    reports = []
    for item in args.pairs:
        name, _, path = item.rpartition("=")
        pairs: list[Pair] = [p for p in read_pair_list(path) if p.wav1 != p.wav2]  # what stage 2 trains on
        report = side_report(pairs, units)
        reports.append((name or path, pairs, report))
        print(describe(f"pairs: {name or path}", report.duration.ravel(), report.speech.ravel()))

    print("\n| pairs | pairs | same speaker | precision, sides covering a unit (IoU >= 0.5) | same main unit | "
          "NED = 0 | mean NED | a side < 50 % speech | both sides >= 0.48 s and >= 70 % speech |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, pairs, report in reports:
        quality = pair_quality(pairs, references) if references is not None else None
        finite = report.ned[np.isfinite(report.ned)]
        long_speech = ((report.duration >= 0.48 - 1e-6) & (report.speech >= 0.7)).all(axis=1)
        print(f"| {name} | {len(pairs)} | {100 * np.mean([p.speaker1 == p.speaker2 for p in pairs]):.0f} % | "
              f"{'-' if quality is None else f'{100 * quality.precision:.1f} % of {quality.labelled}'} | "
              f"{100 * report.same_main_unit.mean():.1f} % | {100 * np.mean(finite == 0):.1f} % | "
              f"{finite.mean():.3f} | {100 * (report.speech < 0.5).any(axis=1).mean():.0f} % | "
              f"{100 * long_speech.mean():.0f} % |")

    for name, pairs, report in reports:
        similarity = np.array([p.similarity for p in pairs])
        print(f"\n{name}: by similarity (most similar first), as a lower mining threshold would add them")
        print("| similarity from | pairs | same main unit | mean NED | a side < 50 % speech | median side s |")
        print("|---:|---:|---:|---:|---:|---:|")
        order = np.argsort(-similarity)
        for block in np.array_split(order, 5):
            finite = report.ned[block][np.isfinite(report.ned[block])]
            print(f"| {similarity[block].min():.3f} | {len(block)} | {100 * report.same_main_unit[block].mean():.1f} % | "
                  f"{finite.mean():.3f} | {100 * (report.speech[block] < 0.5).any(axis=1).mean():.0f} % | "
                  f"{np.median(report.duration[block]):.2f} |")


if __name__ == "__main__":
    main()
