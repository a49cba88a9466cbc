#!/usr/bin/env python
"""Score (exact MAP) or dump the embeddings of a segment list.

Frames are computed on the fly for each segment's VAD, with the same context rule as
``extract_features.py`` (or read from a feature store with ``--features``); each segment is then
embedded by a trained SSE model, or by mean-pooling its frames (``--baseline mean``).

    python utils/map_dump.py --path_wavs training_data/demo \\
        --path_segments sse_benchmark/demo-ngrams-subset --task=map --path_sse pretrained/demo_unsup/
    python utils/map_dump.py ... --task=dump --path_sse run/init --output emb.npy [--normalize]
    python utils/map_dump.py ... --task=map --baseline mean --frontend mfcc   # unnormalised frames

``--task=map`` prints, last, a line ``MAP: 0.xxxx (...)``: the exact MAP of ``sse/evaluation/metrics.py``
(every labelled segment with a same-label partner is a query ranking all other segments).
Before it, when the list names several speakers, one line of speaker diagnostics: the MAP
across speakers (a query ranks only other speakers' segments), within speaker (only its own
speaker's), and the share of each segment's 10 nearest neighbours that share its speaker.
``--task=dump`` writes a float32 ``.npy`` of shape (segments, dim), rows in list order, and
beside it ``<output>.json``: each row's segment, the model and its front-end, the toolkit
version, and whether rows are L2-normalised (``sse/frames/dumps.py``).

The segment list may also hold plain spans, ``<wav> <start> <end>`` (no speaker, no VAD): a
span is embedded with its own times as VAD.
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.frames.dumps import write_dump  # noqa: E402
from sse.frames.formats import format_segment_or_span, read_segments  # noqa: E402
from sse.inference.search import normalize, require_finite  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_wavs", required=True, help="corpus root the segment list's wav paths are relative to")
    parser.add_argument("--path_segments", required=True, aliases=["--segments"],
                        help="segment list (with transcriptions for --task=map), or <wav> <start> <end> lines")
    parser.add_argument("--task", choices=("map", "dump"), required=True, help="score, or write embeddings")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--path_sse", help="SSE checkpoint file, or a folder holding checkpoint_best.pt")
    model.add_argument("--baseline", choices=("mean",), help="embed by mean-pooling the frames instead")
    parser.add_argument("--output", aliases=["--output_file"], output="file", companions=(".json",),
                        help="where --task=dump writes its .npy (and <output>.json)")
    parser.add_argument("--normalize", action="store_true", help="--task=dump: L2-normalise the rows")
    cli.add_frontend_arguments(parser, default=None)
    parser.add_argument("--features", help="read frames from this feature store instead of computing them")
    cli.add_batch_size_argument(parser)
    cli.add_device_argument(parser)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    if args.task == "dump":
        if not args.output:
            parser.error("--task=dump needs --output")
        cli.require_suffix(args.output, (".npy",), "--output")

    from sse.core.device import resolve_device  # noqa: PLC0415
    from sse.evaluation.scoring import (  # noqa: PLC0415
        embed_segments,
        load_embedder,
        score,
        speaker_diagnostics,
        warn_if_pooling_normalised_vads,
    )
    from sse.inference.checkpoint import resolve_checkpoint  # noqa: PLC0415

    logger = logging.getLogger("map_dump")
    device = resolve_device(args.device)
    segments = read_segments(args.path_segments, require_transcriptions=args.task == "map")
    embedder, frontend = load_embedder(args.path_sse, device, args.frontend, args.path_ssl, args.layer, args.cmvn)
    if args.baseline:
        warn_if_pooling_normalised_vads(frontend, segments)
    embeddings = embed_segments(embedder, frontend, segments, args.path_wavs, args.features,
                                args.batch_size, device)
    # Never a poisoned row in a dump or a MAP (a damaged checkpoint: weights of nan).
    require_finite(embeddings, args.path_sse or "the mean-pooled frames", lambda row: format_segment_or_span(segments[row]))

    if args.task == "dump":
        if args.normalize:
            embeddings = normalize(embeddings)
        write_dump(args.output, embeddings, segments,
                   model_path=resolve_checkpoint(args.path_sse) if args.path_sse else None,
                   baseline=args.baseline, frontend=frontend.describe(), segment_list=args.path_segments,
                   corpus=args.path_wavs, features=args.features, normalized=args.normalize)
        logger.info("wrote %s: %d x %d float32%s, described in %s.json", args.output, *embeddings.shape,
                    " (L2-normalised)" if args.normalize else "", args.output)
        return
    result = score(embeddings, segments, device, args.path_segments)
    speakers = speaker_diagnostics(embeddings, segments, device)
    if speakers is not None:
        print(speakers)
    print(result)


if __name__ == "__main__":
    cli.run(main)
