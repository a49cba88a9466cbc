#!/usr/bin/env python
"""Export a trained SSE model: the toolkit's compact format, TorchScript, or ONNX.

    python utils/export_model.py demo_run/iter2 pretrained/demo_unsup --half      # compact, float16
    python utils/export_model.py --path_sse pretrained/demo_unsup --format torchscript --output sse.pt
    python utils/export_model.py --path_sse pretrained/demo_unsup --format onnx --output sse.onnx

compact (default): OUTPUT is a folder; OUTPUT/checkpoint_best.pt holds the encoder weights (no
optimizer, no head), the architecture and the front-end description, and ``map_dump.py
--path_sse OUTPUT`` reads it like any checkpoint. The weights keep the dtype they are stored in
(a float16 model stays float16) unless --dtype says otherwise.

torchscript / onnx: OUTPUT is a file (.pt / .onnx) holding an encoder that runs without the
toolkit: frames (batch, time, input_dim) float32 zero-padded, lengths (batch,) int64 ->
embeddings (batch, 512) float32. It expects the frames of the front-end the model was trained
on, recorded in OUTPUT.json beside it, computed as the toolkit computes them: a span with up to
5 s of the audio around it, cropped back to the span. ``sse.inference.export.span_frames`` gives
those frames, and with them the export embeds a span as ``sse.load(...).embed_file`` does.

    import json, torch
    from sse.inference.export import span_frames
    frames = span_frames(json.load(open("sse.pt.json"))["frontend"], "a.wav", 3.02, 3.35)
    embedding = torch.jit.load("sse.pt")(frames[None], torch.tensor([len(frames)]))[0]

An existing OUTPUT (for the compact format, OUTPUT/checkpoint_best.pt, which in an experiment
folder is the training checkpoint; otherwise OUTPUT or OUTPUT.json) is replaced only with
--overwrite.
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402

FORMATS = ("compact", "torchscript", "onnx")
SUFFIXES = {"torchscript": (".pt", ".ts"), "onnx": (".onnx",)}


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("checkpoint", nargs="?", metavar="CHECKPOINT",
                        help="checkpoint file, or a folder holding checkpoint_best.pt")
    parser.add_argument("output_positional", nargs="?", metavar="OUTPUT", help="where to write")
    parser.add_argument("--path_sse", help="CHECKPOINT, by name")
    parser.add_argument("--output", aliases=["--output_dir"], help="OUTPUT, by name")
    parser.add_argument("--format", choices=FORMATS, default="compact", help="what to write")
    parser.add_argument("--dtype", choices=("keep", "float32", "float16"), default="keep",
                        help="compact format: weights' dtype (keep: as stored in CHECKPOINT)")
    parser.add_argument("--half", action="store_true", help="the same as --dtype float16")
    parser.add_overwrite()  # OUTPUT/checkpoint_best.pt, or OUTPUT and OUTPUT.json: checked in main
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.merge_positional(parser, args, "path_sse", "checkpoint", "--path_sse", "CHECKPOINT")
    cli.merge_positional(parser, args, "output", "output_positional", "--output", "OUTPUT")
    if args.half:
        if args.dtype not in ("keep", "float16"):
            parser.error(f"--half contradicts --dtype {args.dtype}")
        args.dtype = "float16"
    if args.format != "compact":
        if args.dtype == "float16":
            parser.error(f"--format {args.format} writes float32 graphs; leave out --dtype/--half")
        cli.require_suffix(args.output, SUFFIXES[args.format], "--output")
        cli.check_output(args.output, "file", "--output")
    else:
        cli.check_output(args.output, "dir", "--output")
    cli.setup_logging(args)
    import torch  # noqa: PLC0415

    from sse.inference.checkpoint import BEST, load_encoder, save_encoder  # noqa: PLC0415

    # An experiment folder's checkpoint_best.pt (a training checkpoint) or an earlier export is
    # replaced only on request.
    written = [Path(args.output) / BEST] if args.format == "compact" else [args.output, f"{args.output}.json"]
    cli.refuse_existing(written, "--output", args.overwrite)
    logger = logging.getLogger("export_model")
    loaded = load_encoder(args.path_sse)
    if args.format == "compact":
        half = loaded.dtype == torch.float16 if args.dtype == "keep" else args.dtype == "float16"
        info = {**loaded.info, "exported_from": str(loaded.path)}
        target = Path(args.output) / BEST
        save_encoder(target, loaded.encoder, loaded.frontend, info, half=half)
        logger.info("wrote %s (%s, %.1f MB, front-end %s)", target, "float16" if half else "float32",
                    target.stat().st_size / 2 ** 20, loaded.frontend)
        return
    from sse.inference.export import export_onnx, export_torchscript, write_model_card  # noqa: PLC0415

    (export_torchscript if args.format == "torchscript" else export_onnx)(loaded.encoder, args.output)
    card = write_model_card(args.output, args.format, loaded.encoder, loaded.frontend, loaded.path)
    logger.info("wrote %s (%s, %.1f MB) and %s", args.output, args.format,
                Path(args.output).stat().st_size / 2 ** 20, card)


if __name__ == "__main__":
    cli.run(main)
