#!/usr/bin/env python
"""Query-by-example: for each query, the k most similar segments, by cosine (exact search).

The searched rows are an embedding dump (``map_dump.py --task=dump``, with its .json), or a
segment list embedded here by a model. Queries are rows of those (``--query_rows``), or a
segment list of their own (``--queries``), embedded with the same model.

    # rows of a dump as queries
    python utils/search.py --embeddings emb.npy --query_rows 0,10-12 --k 5
    # new queries against a dump (embedded with the model the dump records)
    python utils/search.py --embeddings emb.npy --queries my_queries --path_wavs training_data/demo
    # no dump: embed the segment list, then search every row of it, with precision at k
    python utils/search.py --path_sse pretrained/demo_unsup --path_wavs training_data/demo \\
        --path_segments sse_benchmark/demo-ngrams-subset --query_rows all --k 10 --output neighbours.txt

Output: for each query a line ``# query <n> (row <r>): <its segment>`` (no row for --queries),
then its k neighbours, most
similar first, each as its segment-list line (or ``<wav> <start> <end>``) followed by the
cosine similarity. A query never returns itself: its own row, or for a ``--queries`` segment
any searched row of the same file and times. When the queries and the searched rows are
labelled (7th field), the last line is the precision at k: the share of the k neighbours that
carry the query's label, averaged over the labelled queries whose label occurs among the
searched rows. Search is FAISS IndexFlatIP on CPU, or a chunked matrix product on the GPU
(--device cuda, or by default when a model is loaded and CUDA is there). A row that holds inf
or nan (a damaged dump) is refused, naming its segment: it would rank nothing.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

import numpy as np  # noqa: E402

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.core.files import atomic_open  # noqa: E402
from sse.frames.dumps import read_dump  # noqa: E402
from sse.frames.formats import format_segment_or_span, read_segments  # noqa: E402
from sse.inference.search import nearest, parse_rows, precision_at_k, require_finite  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    rows = parser.add_argument_group("what is searched (one of)")
    rows.add_argument("--embeddings", help="an embedding dump (.npy with its .json)")
    rows.add_argument("--path_segments", aliases=["--segments"],
                      help="a segment list (or <wav> <start> <end> lines) to embed with --path_sse")
    queries = parser.add_argument_group("queries (one of)")
    queries.add_argument("--query_rows", help="rows of the searched list: all, or e.g. 0,5,10-19")
    queries.add_argument("--queries", help="a segment list of queries, embedded with the same model")
    parser.add_argument("--path_sse", help="SSE checkpoint (file, or folder with checkpoint_best.pt) that "
                                           "embeds segment lists (default for --queries: the dump's model)")
    parser.add_argument("--path_wavs", help="corpus root of the lists' wav paths (default: the dump's)")
    parser.add_argument("--features", help="feature store to read frames from instead of computing them")
    parser.add_argument("--k", type=cli.integer(1), default=10, help="neighbours per query")
    parser.add_argument("--output", output="file", help="write the neighbours here (default: standard output)")
    cli.add_batch_size_argument(parser)
    cli.add_device_argument(parser)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.embeddings is None) == (args.path_segments is None):
        parser.error("give one of --embeddings and --path_segments")
    if (args.query_rows is None) == (args.queries is None):
        parser.error("give one of --query_rows and --queries")
    if args.path_segments is not None and args.path_sse is None:
        parser.error("--path_segments needs --path_sse, the model that embeds it")
    cli.setup_logging(args)
    logger = logging.getLogger("search")
    # Searching a dump needs no torch: FAISS on CPU unless --device names a GPU.
    device = args.device
    if device is not None:
        from sse.core.device import resolve_device  # noqa: PLC0415

        device = str(resolve_device(device))

    def embedder(recorded: dict | None = None):
        nonlocal device
        from sse.api import load  # noqa: PLC0415
        from sse.core.device import resolve_device  # noqa: PLC0415

        device = device or str(resolve_device(None))
        if args.path_sse is not None:
            return load(args.path_sse, device, batch_size=args.batch_size)
        model = (recorded or {}).get("model") or {}
        if model.get("path"):
            return load(model["path"], device, batch_size=args.batch_size)
        if model.get("baseline") == "mean" and model.get("frontend"):
            frontend = model["frontend"]
            return load(None, device, frontend=frontend["name"], path_ssl=frontend.get("path"),
                        layer=frontend.get("layer"), batch_size=args.batch_size)
        raise UserError(f"{args.embeddings}: its description records no model; give --path_sse to embed --queries")

    description = None
    if args.embeddings is not None:
        database, segments, description = read_dump(args.embeddings)
    else:
        segments = read_segments(args.path_segments)
        model = embedder()
        logger.info("embedding %d segments of %s with %s", len(segments), args.path_segments, model.path)
        database = model.embed_segments(segments, args.path_wavs or ".", args.features, progress=True)
    require_finite(database, args.embeddings or args.path_segments, lambda row: format_segment_or_span(segments[row]),
                   "make the dump again (map_dump.py)" if args.embeddings else "")

    if args.query_rows is not None:
        rows = parse_rows(args.query_rows, len(database))
        query_segments = [segments[row] for row in rows]
        query_vectors = np.asarray(database[rows], dtype=np.float32)
        exclude = [[row] for row in rows]
        labels = [f" (row {row})" for row in rows]
    else:
        query_segments = read_segments(args.queries)
        corpus = args.path_wavs or (description or {}).get("corpus") or "."
        model = embedder(description)
        if description is not None and model.frontend.describe() != description["model"].get("frontend"):
            logger.warning("the queries' front-end %s differs from the one the dump recorded %s",
                           model.frontend.describe(), description["model"].get("frontend"))
        query_vectors = model.embed_segments(query_segments, corpus, args.features, progress=True)
        require_finite(query_vectors, args.queries, lambda row: format_segment_or_span(query_segments[row]))
        where: dict = {}
        for row, segment in enumerate(segments):
            where.setdefault((segment.wav, segment.start, segment.end), []).append(row)
        exclude = [where.get((s.wav, s.start, s.end), []) for s in query_segments]
        labels = [""] * len(query_segments)

    found = nearest(database, query_vectors, args.k, exclude, device or "cpu")
    lines = []
    for number, (segment, scores, ids) in enumerate(zip(query_segments, found.similarities, found.ids)):
        lines.append(f"# query {number}{labels[number]}: {format_segment_or_span(segment)}")
        lines += [f"{format_segment_or_span(segments[i])} {score:.6f}" for score, i in zip(scores, ids) if i >= 0]
    precision = precision_at_k(found.ids, [s.transcription for s in query_segments],
                               [s.transcription for s in segments], exclude)
    if args.output:
        with atomic_open(args.output, encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        logger.info("wrote %s: %d neighbours of each of %d queries, among %d rows", args.output,
                    args.k, len(query_segments), len(database))
    else:
        print("\n".join(lines))
    if precision is not None:
        print(precision)


if __name__ == "__main__":
    cli.run(main)
