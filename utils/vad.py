#!/usr/bin/env python
"""Write a VAD list (<wav> <speaker> <vad start> <vad end>) for every audio file under a folder.

    python utils/vad.py --path_wavs $LS --output vads.txt
    python utils/vad.py --path_wavs $LS --output vads.txt --jobs 8
    # a cluster array job: one shard per task, then join them in shard order
    python utils/vad.py --path_wavs $LS --output vads.$K --nshards 16 --shard $K
    cat vads.{0..15} > vads.txt     # identical to the unsharded run's list

Wav paths are written relative to --path_wavs. The speaker id of a file comes from
--speakers: ``regex`` (default) takes the group named 'speaker' (or else the first group) of
--speaker_regex searched in the relative path; ``folder`` takes the name of the folder holding
the file (corpora laid out as SPEAKER/file.wav); ``file`` gives every file its own speaker (its
relative path without extension, or with it where two files differ only by their extension),
when nothing is known about who speaks.

    python utils/vad.py --path_wavs my_corpus --output vads.txt --speakers folder
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

# Lets the script run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sse.core import cli  # noqa: E402
from sse.core.errors import UserError  # noqa: E402
from sse.frames.formats import write_vad_list  # noqa: E402
from sse.prep.speakers import DEFAULT_SPEAKER_REGEX, SPEAKER_SOURCES  # noqa: E402
from sse.prep.vad import BACKENDS, VadSettings, list_corpus, vad_corpus  # noqa: E402


def build_parser() -> cli.Parser:
    defaults = VadSettings()
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_wavs", required=True, help="corpus root; every audio file below it is processed")
    parser.add_argument("--output", required=True, output="file", help="the VAD list to write (replaced atomically)")
    parser.add_argument("--backend", choices=BACKENDS, default=defaults.backend,
                        help="silero (offline) or pyannote (needs pyannote.audio and --pyannote_model)")
    speakers = parser.add_argument_group("speaker ids")
    speakers.add_argument("--speakers", choices=SPEAKER_SOURCES, default="regex",
                          help="regex: from --speaker_regex; folder: the folder holding the file; "
                               "file: one speaker per file")
    speakers.add_argument("--speaker_regex", default=DEFAULT_SPEAKER_REGEX,
                          help="with --speakers regex: regex searched in each relative path; its group "
                               "'speaker' (or else its first group) is the speaker id. The default reads "
                               "LibriSpeech's SPEAKER-CHAPTER-UTT.ext file names")
    knobs = parser.add_argument_group("detection (seconds)")
    knobs.add_argument("--threshold", type=cli.real(0, 1, above=True, below=True), default=defaults.threshold,
                       help="speech probability that starts a region; lower finds more quiet speech "
                            "and more noise")
    knobs.add_argument("--min_speech", type=cli.real(0), default=defaults.min_speech,
                       help="drop regions shorter than this")
    knobs.add_argument("--min_silence", type=cli.real(0), default=defaults.min_silence,
                       help="pauses shorter than this do not split a region")
    knobs.add_argument("--speech_pad", type=cli.real(0), default=defaults.speech_pad,
                       help="widen each region by this on both sides; silero only")
    knobs.add_argument("--max_speech", type=cli.real(0, above=True), default=None,
                       help="split regions longer than this at their longest pause; silero only "
                            "(default: no limit)")
    parser.add_argument("--pyannote_model", default=None,
                        help="local pyannote segmentation checkpoint (e.g. pytorch_model.bin) or "
                             "pipeline config.yaml, for --backend pyannote")
    work = parser.add_argument_group("big corpora")
    work.add_argument("--num_workers", type=cli.integer(1), default=1, aliases=["--jobs"],
                      help="worker processes, one CPU core each")
    work.add_argument("--nshards", type=cli.integer(1), default=1,
                      help="split the sorted file list into this many contiguous shards")
    work.add_argument("--shard", type=cli.integer(0), default=None,
                      help="which shard to process, 0 .. nshards-1 (default: all of them, so the whole corpus)")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cli.setup_logging(args)
    logger = logging.getLogger("vad")
    settings = VadSettings(backend=args.backend, threshold=args.threshold, min_speech=args.min_speech,
                           min_silence=args.min_silence, speech_pad=args.speech_pad,
                           max_speech=args.max_speech, pyannote_model=args.pyannote_model)
    # Every shard in turn, into one list, is the whole corpus (sse/core/sharding.py).
    shard, nshards = (0, 1) if args.shard is None else (args.shard, args.nshards)
    wavs, speakers = list_corpus(args.path_wavs, args.speaker_regex, shard, nshards, args.speakers)
    if nshards > 1:
        logger.info("shard %d of %d: files %s .. %s", args.shard, args.nshards, wavs[0], wavs[-1])

    began = time.perf_counter()
    report = vad_corpus(args.path_wavs, wavs, speakers, settings, jobs=args.num_workers)
    elapsed = time.perf_counter() - began
    if not report.vads:
        raise UserError(f"{args.path_wavs}: no speech found in any of the {report.files} files; "
                        "check that they hold speech, or lower --threshold")
    write_vad_list(args.output, report.vads)

    if report.files_without_speech:
        logger.warning("%d of %d files have no speech region (none in the list), e.g. %s",
                       len(report.files_without_speech), report.files,
                       ", ".join(report.files_without_speech[:3]))
    logger.info("wrote %s: %d VADs from %d files, %.2f h of speech (%.0f%% of %.2f h of audio), "
                "%.0fx real time", args.output, len(report.vads), report.files,
                report.speech_seconds / 3600, 100 * report.speech_seconds / max(report.audio_seconds, 1e-9),
                report.audio_seconds / 3600, report.audio_seconds / max(elapsed, 1e-9))


if __name__ == "__main__":
    cli.run(main)
