#!/usr/bin/env python
"""Compute frame features of every VAD of a list and store them (docs/method.md, step 3).

Each VAD is encoded with up to 5 s of context on each side, cut into 20 s pieces when longer,
cropped back to the VAD; VADs under 40 ms are dropped. Features are stored as float16 ``.npy``
shards with a plain-text index (see ``sse/frames/feature_store.py``); finished shards are skipped, so an
interrupted run resumes, and ``--shard/--nshards`` split the work over a cluster array job.

    python utils/extract_features.py --path_wavs $LS --path_vads vads --output feats \\
        --frontend wav2vec2 --path_ssl pretrained/wav2vec_small.pt --layer 8 --nshards 8
    python utils/extract_features.py ... --frontend mfcc          # no weights needed
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.core.sharding import requested_shards  # noqa: E402
from sse.defaults import PRECISIONS  # noqa: E402
from sse.frames.formats import read_vads_of  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_wavs", required=True, help="corpus root the list's wav paths are relative to")
    parser.add_argument("--path_vads", required=True, aliases=["--vads"],
                        help="VAD list (or a segment list: its distinct VADs are used)")
    parser.add_argument("--output", required=True, aliases=["--output_dir"], output="dir", exists="resume",
                        help="feature store folder")
    cli.add_frontend_arguments(parser)
    cli.add_shard_arguments(parser, "only this shard (default: all, in turn)",
                            "number of shards the list is split into")
    cli.add_device_argument(parser)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="run the front-end under autocast in fp16 or bf16 (frames are stored in float16 "
                             "either way; recorded in the store's frontend.json)")
    parser.add_argument("--num_workers", type=cli.integer(0), default=2, aliases=["--jobs"],
                        help="audio-reading processes (0: read in the main process)")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.precision != "fp32" and args.frontend != "wav2vec2":
        parser.error(f"--precision {args.precision} applies to wav2vec2; {args.frontend} features are computed in fp32")
    cli.setup_logging(args)
    from sse.core.device import resolve_device  # noqa: PLC0415
    from sse.frames.feature_store import check_requested_store, check_vads_against_audio, extract_shard, shard_problem  # noqa: PLC0415
    from sse.frames.features import MIN_VAD  # noqa: PLC0415
    from sse.frames.frontend import build_frontend  # noqa: PLC0415

    if not Path(args.path_wavs).is_dir():
        raise UserError(f"{args.path_wavs}: no such corpus folder")

    device = resolve_device(args.device)
    vads = read_vads_of(args.path_vads)
    check_requested_store(args.output, args.frontend, args.nshards, args.path_ssl, args.layer, args.cmvn,
                          vads=vads, precision=args.precision)
    shards = requested_shards(args.shard, args.nshards)
    todo = [s for s in shards if shard_problem(args.output, s, args.nshards) is not None]
    if not todo:
        logging.getLogger("extract_features").info("%s: every requested shard is already finished", args.output)
        return
    # Every file and VAD of the list is checked before the store is touched: a bad line found
    # in a later shard must not leave earlier shards made from a list the user then corrects.
    check_vads_against_audio(args.path_wavs, [vad for vad in vads if vad.duration >= MIN_VAD])
    frontend = build_frontend(args.frontend, args.path_ssl, args.layer, device, args.cmvn)
    frontend.precision = args.precision
    for shard in todo:
        extract_shard(frontend, args.path_wavs, vads, args.output, shard, args.nshards, args.num_workers)


if __name__ == "__main__":
    cli.run(main)
