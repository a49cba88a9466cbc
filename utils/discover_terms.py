#!/usr/bin/env python
"""Spoken term discovery: find the stretches of speech that recur, and write them as classes.

    python utils/discover_terms.py --path_wavs training_data/demo --path_vads sse_benchmark/demo-dev-vads \\
        --path_sse demo_run/gold --output classes.txt [--html classes.html --alignments ALIGNMENTS]
    python utils/discover_terms.py ... --baseline mean --frontend mfcc   # mean-pooled frames (per-speaker CMVN)

Every segment of every VAD on the toolkit's grid (0.16 s steps, 0.16 s to 0.96 s; or the
segments of --path_segments) is embedded; each one's nearest neighbours are searched with the
mining k-NN (PCA 128, exact, or approximate with --recall); matches above a similarity
threshold are kept (by default the highest threshold at which --coverage of the candidates
keep a match; --coverage_by duration: one such threshold per segment duration); overlapping matches are resolved so that
each stretch of speech belongs to at most one token; the match graph is clustered by single
linkage under a class-size cap (sse/discovery/terms.py; docs/term_discovery.md says what follows the
paper and what is our choice).

OUTPUT is a ZeroSpeech 2017 class file: ``Class N`` lines, each followed by its tokens
``<file> <onset> <offset>`` (file = the wav path as the VAD list gives it, without extension) and
a blank line; classes largest first. Score it with utils/score_terms.py. ``--html`` also writes a
self-contained page listing the classes with playable snippets (and, with --alignments, the gold
words and phones of each token).
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse import defaults  # noqa: E402
from sse.core import cli  # noqa: E402
from sse.discovery.page import write_page  # noqa: E402
from sse.discovery.scoring import load_gold  # noqa: E402
from sse.discovery.terms import (  # noqa: E402
    COVERAGE,
    MAX_CLASS_SIZE,
    MERGE_OVERLAP,
    DiscoverySettings,
    candidate_segments,
    discover,
    write_class_file,
)
from sse.frames.formats import read_segments, read_vad_list  # noqa: E402
from sse.method import knn  # noqa: E402  (numpy only)


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--path_wavs", required=True, help="corpus root the lists' wav paths are relative to")
    parser.add_argument("--path_vads", aliases=["--vads"], help="VAD list: its segments on the grid are the candidates")
    parser.add_argument("--path_segments", aliases=["--segments"],
                        help="segment list (or <wav> <start> <end> lines): these segments are the candidates")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--path_sse", help="SSE checkpoint file, or a folder holding checkpoint_best.pt")
    model.add_argument("--baseline", choices=("mean",), help="embed by mean-pooling the frames instead")
    parser.add_argument("--output", aliases=["--output_file"], required=True, output="file",
                        help="class file to write (ZeroSpeech 2017 format)")
    cli.add_frontend_arguments(parser, default=None)
    parser.add_argument("--features", help="read frames from this feature store instead of computing them "
                                           "(without --path_vads/--path_segments: its VADs are the candidates' VADs)")
    discovery = parser.add_argument_group("discovery")
    discovery.add_argument("--max_segments", type=cli.integer(2), default=None,
                           help="search a uniform random subset of this many grid segments (default: all)")
    discovery.add_argument("--k", type=cli.integer(2), default=defaults.K, help="neighbours searched per segment")
    discovery.add_argument("--coverage", type=cli.real(0, 1, above=True), default=COVERAGE,
                           help="share of candidate segments that keep a match: sets the similarity threshold(s)")
    discovery.add_argument("--coverage_by", choices=("all", "duration"), default="all",
                           help="all: one threshold for every segment (the mining rule of the paper); "
                                "duration: one threshold per segment duration, each reaching --coverage")
    discovery.add_argument("--threshold", type=cli.real(0, 1), default=None,
                           help="a fixed cosine similarity threshold instead of the --coverage rule")
    discovery.add_argument("--merge_overlap", type=cli.real(0, 1), default=MERGE_OVERLAP,
                           help="a candidate overlapping a kept token by more than this (IoU) joins it; one "
                                "overlapping less is dropped")
    discovery.add_argument("--min_class_size", type=cli.integer(2), default=2, help="smallest class kept")
    discovery.add_argument("--max_class_size", type=cli.integer(0), default=MAX_CLASS_SIZE,
                           help="largest class: matches are joined from the most similar down, skipping those "
                                "that would pass this size; 0: no cap (plain connected components)")
    discovery.add_argument("--pca_dim", type=cli.integer(1), default=defaults.PCA_DIM, help="PCA dimensions")
    discovery.add_argument("--recall", type=cli.real(0, 1, above=True), default=None,
                           help="approximate k-NN tuned until it finds this share of the exact k nearest "
                                f"neighbours on {knn.RECALL_SAMPLE} sampled queries (FAISS HNSW unless --index ivf; "
                                "the recall is logged); much faster than exact search on a CPU for large lists; "
                                "1: exact (default: exact)")
    discovery.add_argument("--index", choices=knn.INDEXES, default=defaults.KNN_INDEX,
                           help="flat: exact k-NN; hnsw, ivf: approximate FAISS HNSW or IVF (rather give --recall)")
    discovery.add_argument("--nlist", type=cli.integer(1), default=None, help="IVF cells (default: about 4 sqrt(N))")
    discovery.add_argument("--nprobe", type=cli.integer(1), default=defaults.NPROBE,
                           help="IVF cells searched per query (with --recall: tuned)")
    discovery.add_argument("--seed", type=int, default=defaults.MINING_SEED,
                           help="seed of --max_segments, the PCA subsample and the IVF training sample")
    page = parser.add_argument_group("html page")
    page.add_argument("--html", output="file", help="also write this self-contained HTML page of the classes")
    page.add_argument("--alignments", help="word/phone alignments (the toolkit's file or a TextGrid folder): "
                                           "the page shows each token's gold words and phones")
    page.add_argument("--html_classes", type=cli.integer(1), default=50, help="classes shown, largest first")
    page.add_argument("--html_tokens", type=cli.integer(1), default=10, help="tokens shown per class")
    page.add_argument("--html_audio", choices=("embed", "link"), default="embed",
                      help="embed: snippets inside the page (self-contained); link: play the corpus files "
                           "by a path relative to the page, from the token's onset to its offset")
    cli.add_batch_size_argument(parser)
    cli.add_device_argument(parser)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    if args.path_vads and args.path_segments:
        parser.error("give --path_vads or --path_segments, not both")
    if not (args.path_vads or args.path_segments or args.features):
        parser.error("give the candidates: --path_vads, --path_segments or --features")
    if args.html:
        cli.require_suffix(args.html, (".html", ".htm"), "--html")

    logger = logging.getLogger("discover_terms")
    if args.path_segments:
        segments = read_segments(args.path_segments)
    else:
        vads = read_vad_list(args.path_vads) if args.path_vads else None
        segments = candidate_segments(vads, args.features, args.max_segments, args.seed)
    gold = None
    if args.html and args.alignments:
        gold = load_gold(args.alignments)

    from sse.core.device import resolve_device  # noqa: PLC0415  (torch: keeps --help and input errors fast)
    from sse.evaluation.scoring import embed_segments, load_embedder  # noqa: PLC0415

    device = resolve_device(args.device)
    embedder, frontend = load_embedder(args.path_sse, device, args.frontend, args.path_ssl, args.layer, args.cmvn)
    logger.info("embedding %d candidate segments", len(segments))
    embeddings = embed_segments(embedder, frontend, segments, args.path_wavs, args.features, args.batch_size, device)
    settings = DiscoverySettings(k=args.k, pca_dim=args.pca_dim, coverage=args.coverage,
                                 coverage_by=args.coverage_by, threshold=args.threshold,
                                 merge_overlap=args.merge_overlap, min_class_size=args.min_class_size,
                                 max_class_size=args.max_class_size or None,
                                 index=args.index, nlist=args.nlist, nprobe=args.nprobe, recall=args.recall,
                                 seed=args.seed)
    found = discover(embeddings, segments, settings, device)
    write_class_file(args.output, found.classes)
    logger.info("wrote %s: %s", args.output, found.summary())
    if args.html:
        write_page(args.html, found, args.path_wavs, gold, args.html_classes, args.html_tokens,
                   embed=args.html_audio == "embed",
                   title=f"{len(found.classes)} discovered classes ({args.path_sse or 'mean-pooled frames'})")
        logger.info("wrote %s", args.html)


if __name__ == "__main__":
    cli.run(main)
