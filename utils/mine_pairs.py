#!/usr/bin/env python
"""Mine positive pairs from a model's own embeddings with k-NN.

    python utils/mine_pairs.py --path_segments training_data/demo-segments \\
        --features exp/features/train --path_sse exp/init --output exp/iter1/pairs

Embeds every segment (frames from the feature store, no projection head), PCA to 128 dims,
L2-normalises, runs exact inner-product k-NN (k = 10; FAISS, or torch on a GPU without faiss-gpu;
``--recall 0.95`` for approximate search tuned to find 95 % of the exact neighbours, FAISS HNSW
unless ``--index ivf``, much faster on a CPU beyond a few hundred thousand segments; the recall
measured on sampled queries is logged), then
drops self/same-file-overlap matches, suppresses near-duplicate neighbours (IoU > 40 %) and
keeps the most similar pairs, lowering a global threshold by 0.01 until half the segments are
covered as queries (``sse/method/mining.py``).

Intermediate results go to ``--work_dir`` (default: OUTPUT.work) in ``--nshards`` pieces and are
reused by a rerun, so an interrupted run resumes (``sse/pipeline/mining_run.py``). ``--shard K`` only embeds
shard K, for a cluster array job; a final run without ``--shard`` does the rest.
"""
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse import defaults  # noqa: E402
from sse.core import cli  # noqa: E402
from sse.method import knn  # noqa: E402  (numpy only)


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_segments", required=True, aliases=["--segments"],
                        help="segment list to mine (the training segments)")
    parser.add_argument("--features", required=True, help="feature store holding the segments' VADs")
    parser.add_argument("--path_sse", required=True, help="SSE checkpoint (file, or folder with checkpoint_best.pt)")
    parser.add_argument("--output", required=True, output="file", exists="refuse_final",
                        help="pair list to write (a --shard run writes only its piece of --work_dir)")
    parser.add_argument("--work_dir", default=None, output="dir", exists="resume",
                        help="intermediate results, reused by a rerun (default: OUTPUT.work)")
    cli.add_shard_arguments(parser, "only embed this shard, then stop",
                            "pieces the embedding and k-NN work is split into")
    mine = parser.add_argument_group("mining")
    mine.add_argument("--k", type=cli.integer(2), default=defaults.K,
                      help="neighbours searched per segment (the first is usually the query itself)")
    mine.add_argument("--pca_dim", type=cli.integer(1), default=defaults.PCA_DIM, help="PCA dimensions")
    mine.add_argument("--max_pca_fit", type=cli.integer(2), default=defaults.MAX_PCA_FIT,
                      help="rows the PCA is fitted on")
    mine.add_argument("--nms_overlap", type=cli.real(0, 1), default=defaults.NMS_OVERLAP,
                      help="neighbours overlapping a better one by more than this (IoU) are dropped")
    mine.add_argument("--coverage", type=cli.real(0, 1, above=True), default=defaults.COVERAGE,
                      help="share of segments that must keep a pair as queries")
    mine.add_argument("--score", choices=("cosine", "margin"), default="cosine",
                      help="what the coverage threshold applies to: cosine (the paper), or the margin of a "
                           "neighbour over each segment's usual neighbours (see the README)")
    mine.add_argument("--coverage_by", choices=("all", "duration"), default="all",
                      help="all: one similarity threshold for every segment (the paper); duration: one "
                           "per segment duration, each reaching --coverage (see the README)")
    mine.add_argument("--cross_speaker", action="store_true",
                      help="keep only pairs of two different speakers (not in the paper; see the README)")
    add_index_arguments(mine)
    cli.add_batch_size_argument(parser)
    cli.add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=defaults.MINING_SEED, help="seed of the PCA's subsample")
    return parser


def add_index_arguments(group) -> None:
    """--recall, --index, --nlist, --nprobe (discover_terms.py has the same)."""
    group.add_argument("--recall", type=cli.real(0, 1, above=True), default=None,
                       help="approximate k-NN tuned until it finds this share of the exact k nearest neighbours "
                            f"on {knn.RECALL_SAMPLE} sampled queries (FAISS HNSW unless --index ivf; the recall is "
                            "logged); much faster than exact search on a CPU for large lists; 1: exact "
                            "(default: exact, as in the paper)")
    group.add_argument("--index", choices=knn.INDEXES, default=defaults.KNN_INDEX,
                       help="flat: exact k-NN, as in the paper; hnsw, ivf: approximate FAISS HNSW or IVF "
                            "(rather give --recall), their recall against exact search is logged")
    group.add_argument("--nlist", type=cli.integer(1), default=None, help="IVF cells (default: about 4 sqrt(N))")
    group.add_argument("--nprobe", type=cli.integer(1), default=defaults.NPROBE,
                       help="IVF cells searched per query (with --recall: tuned)")


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    if args.work_dir is None:
        cli.check_output(f"{args.output}.work", "dir", "--work_dir")
    from sse.pipeline.mining_run import MiningSettings, mine_pairs  # noqa: PLC0415  (torch: keeps --help light)

    settings = MiningSettings(**{field.name: getattr(args, field.name) for field in fields(MiningSettings)})
    mine_pairs(args.path_segments, args.features, args.path_sse, args.output, args.work_dir, settings,
               args.device, args.batch_size, args.shard)


if __name__ == "__main__":
    cli.run(main)
