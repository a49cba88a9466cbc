#!/usr/bin/env python
"""Score several models (and the mean-pooling baseline) on one benchmark: a table and a plot.

    python utils/map_table.py --path_wavs training_data/demo --path_segments sse_benchmark/demo-ngrams-subset \\
        --baseline --path_sse "stage 1=exp/init" --path_sse "k-NN 1=exp/iter1" --path_sse "gold=exp/gold" \\
        --output_table exp/results.md --output_plot exp/map.png

Every MAP is the exact MAP of ``map_dump.py --task=map`` (same code), and so are the speaker
diagnostics that follow it when the benchmark names several speakers. ``--baseline`` mean-pools
the frames of the front-end the models were trained on (or of ``--frontend``) under each CMVN
mode (none, utterance, speaker; ``--baseline_cmvn`` picks some) and marks the strongest: that is
the figure a trained model has to beat.
``--untrained`` adds the first model's architecture with fresh weights (seed 1): what training
has to beat, since a random encoder over good frames already ranks words far above chance.
"""
import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.core.files import atomic_open, atomic_path  # noqa: E402
from sse.frames.formats import read_segment_list  # noqa: E402

logger = logging.getLogger("map_table")
PLOT_FORMATS = (".png", ".pdf", ".svg")
UNTRAINED_SEED = 1  # fairseq-train's default --seed
BASELINE_CMVN = ("none", "utterance", "speaker")
STRONGEST = " (strongest baseline)"


def cmvn_modes(text: str) -> tuple[str, ...]:
    modes = tuple(mode for mode in text.split(",") if mode)
    unknown = [mode for mode in modes if mode not in BASELINE_CMVN]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"expected CMVN modes among {','.join(BASELINE_CMVN)}, got {text!r}")
    return modes


def parse_model(text: str) -> tuple[str, str]:
    """``NAME=CHECKPOINT``, or a bare checkpoint named after itself."""
    name, sep, path = text.partition("=")
    if not sep:
        return text, text
    if not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=CHECKPOINT or CHECKPOINT, got {text!r}")
    return name, path


#: The bar chart's key: (label, colour) of the reference points, then of the trained models.
KEY = (("reference points: mean-pooled frames, untrained encoder", "#999999"), ("trained models", "#3b75af"))


def plot(rows, path: str, title: str) -> None:
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    names, values = [name for name, _ in rows], [result.map for _, result in rows]
    untrained = [name.startswith(("mean", "untrained")) for name in names]
    figure, axes = plt.subplots(figsize=(1.4 * len(rows) + 2, 3.6))
    bars = axes.bar(range(len(rows)), values, color=[KEY[not plain][1] for plain in untrained])
    axes.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2)
    shown = sorted(set(untrained), reverse=True)  # the key of the colours drawn, reference points first
    axes.legend(handles=[Patch(color=KEY[not plain][1], label=KEY[not plain][0]) for plain in shown],
                loc="upper left", fontsize=8, frameon=False)
    axes.set_xticks(range(len(rows)), names, rotation=15)
    axes.set_ylabel("MAP")
    axes.set_ylim(0, max(values) * 1.2)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format=Path(path).suffix.lstrip(".").lower())
    plt.close(figure)


def mark_strongest_baseline(rows: list, baselines: int) -> list:
    """``rows`` with the name of the best of the first ``baselines`` rows (mean pooling) marked."""
    if baselines < 2:
        return rows
    best = max(range(baselines), key=lambda row: rows[row][1].map)
    return [(name + STRONGEST if row == best else name, *rest) for row, (name, *rest) in enumerate(rows)]


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_wavs", required=True, help="corpus root of the benchmark's wav paths")
    parser.add_argument("--path_segments", required=True, aliases=["--segments"],
                        help="benchmark segment list with transcriptions")
    parser.add_argument("--path_sse", action="append", type=parse_model, default=[], aliases=["--model"],
                        metavar="[NAME=]CHECKPOINT",
                        help="a model to score (file or folder with checkpoint_best.pt), named NAME in the "
                             "table; repeat, in stage order")
    parser.add_argument("--baseline", action="store_true",
                        help="also score mean-pooled frames, under each mode of --baseline_cmvn")
    parser.add_argument("--baseline_cmvn", type=cmvn_modes, default=BASELINE_CMVN,
                        help=f"CMVN modes of the mean-pooling rows, comma-separated (default: {','.join(BASELINE_CMVN)})")
    parser.add_argument("--untrained", action="store_true",
                        help="also score an untrained encoder (the first model's architecture, seed 1)")
    cli.add_frontend_arguments(parser, default=None)
    parser.add_argument("--features", help="feature store of the benchmark (else frames are computed)")
    parser.add_argument("--output_table", output="file", help="write the table (markdown) here too")
    parser.add_argument("--output_plot", output="file",
                        help=f"write a bar chart of MAP per model here ({', '.join(PLOT_FORMATS)})")
    cli.add_device_argument(parser)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    if not args.path_sse and not args.baseline:
        parser.error("nothing to score: give --path_sse and/or --baseline")
    if args.untrained and not args.path_sse:
        parser.error("--untrained takes its architecture from the first --path_sse")
    if args.output_plot:
        cli.require_suffix(args.output_plot, PLOT_FORMATS, "--output_plot")
    from sse.core.device import resolve_device  # noqa: PLC0415
    from sse.evaluation.metrics import NAME  # noqa: PLC0415
    from sse.evaluation.scoring import embed_segments, load_embedder, score, speaker_diagnostics  # noqa: PLC0415
    from sse.frames.feature_store import read_store_description  # noqa: PLC0415
    from sse.frames.frontend import canonical_description  # noqa: PLC0415
    from sse.inference.checkpoint import load_encoder  # noqa: PLC0415

    args.model = args.path_sse
    device = resolve_device(args.device)
    segments = read_segment_list(args.path_segments, require_transcriptions=True)

    candidates = []
    if args.baseline:
        # The first model's front-end; the feature store only for the mode it was made with.
        frontend = args.frontend or (load_encoder(args.model[0][1]).frontend["name"] if args.model else None)
        stored = read_store_description(args.features) if args.features else None
        stored_cmvn = canonical_description(stored["frontend"])["cmvn"] if stored else None
        for mode in args.baseline_cmvn:
            candidates.append((f"mean {frontend or 'wav2vec2'} frames, {mode} CMVN", None, frontend, mode, None,
                               args.features if mode == stored_cmvn else None))
    if args.untrained:
        candidates.append(("untrained encoder", args.model[0][1], args.frontend, args.cmvn, UNTRAINED_SEED,
                           args.features))
    candidates += [(name, path, args.frontend, args.cmvn, None, args.features) for name, path in args.model]
    rows = []
    for name, path, frontend, cmvn, seed, features in candidates:
        embedder, built = load_embedder(path, device, frontend, args.path_ssl, args.layer, cmvn, untrained_seed=seed)
        embeddings = embed_segments(embedder, built, segments, args.path_wavs, features, device=device)
        rows.append((name, score(embeddings, segments, device, args.path_segments),
                     speaker_diagnostics(embeddings, segments, device)))
        logger.info("%s: MAP %.4f", name, rows[-1][1].map)
    rows = mark_strongest_baseline(rows, len(args.baseline_cmvn) if args.baseline else 0)

    queries = rows[0][1]
    header = (f"{NAME} on {args.path_segments}: {queries.num_segments} segments, "
              f"{queries.num_queries} queries, {queries.num_labels} labels")
    if all(speakers is not None for _, _, speakers in rows):
        lines = ["| model | MAP | MAP across speakers | MAP within speaker | same-speaker share of 10-NN |",
                 "|---|---|---|---|---|"]
        lines += [f"| {name} | {result.map:.4f} | {speakers.map_across:.4f} | {speakers.map_within:.4f} | "
                  f"{speakers.neighbours:.3f} |" for name, result, speakers in rows]
        lines += ["", f"Random neighbours would share the query's speaker {rows[0][2].chance:.3f} of the time."]
    else:
        lines = ["| model | MAP |", "|---|---|"] + [f"| {name} | {result.map:.4f} |" for name, result, _ in rows]
    print(header)
    print("\n".join(lines))
    if args.output_table:
        with atomic_open(args.output_table) as out:
            out.write(header + "\n\n" + "\n".join(lines) + "\n")
    if args.output_plot:
        if not rows:
            raise UserError("nothing to plot")
        plot([(name.removesuffix(STRONGEST), result) for name, result, _ in rows], args.output_plot, f"{NAME}\n{Path(args.path_segments).name}, {queries.num_queries} queries")
        logger.info("wrote %s", args.output_plot)


if __name__ == "__main__":
    cli.run(main)
