#!/usr/bin/env python
"""Write a VAD list (<wav> <speaker> <vad start> <vad end>) for every audio file under a folder.

    python utils/vad.py --path_wavs $LS --output vads.txt
    python utils/vad.py --path_wavs $LS --output vads.txt --jobs 8
    # a cluster array job: one shard per task, then join them in shard order
    python utils/vad.py --path_wavs $LS --output vads.$K --nshards 16 --shard $K
    cat vads.{0..15} > vads.txt     # identical to the unsharded run's list

Wav paths are written relative to --path_wavs; the speaker id is the first capture group (or
the group named 'speaker') of --speaker_regex searched in that relative path.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

# Lets the script run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sse.cli import run, setup_logging  # noqa: E402
from sse.errors import UserError  # noqa: E402
from sse.formats import write_vad_list  # noqa: E402
from sse.sharding import check_shard_arguments  # noqa: E402
from sse.vad import BACKENDS, DEFAULT_SPEAKER_REGEX, VadSettings, list_corpus, vad_corpus  # noqa: E402

logger = logging.getLogger("vad")


def parse_args(argv=None) -> argparse.Namespace:
    defaults = VadSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path_wavs", required=True, help="corpus root; every audio file below it is processed")
    parser.add_argument("--output", required=True, help="the VAD list to write (replaced atomically)")
    parser.add_argument("--backend", choices=BACKENDS, default=defaults.backend,
                        help="silero (offline, default) or pyannote (needs pyannote.audio and --pyannote_model)")
    parser.add_argument("--speaker_regex", default=DEFAULT_SPEAKER_REGEX,
                        help="regex searched in each relative path; its group 'speaker' (or else its "
                             "first group) is the speaker id. The default reads LibriSpeech's "
                             "SPEAKER-CHAPTER-UTT.ext file names: %(default)s")
    knobs = parser.add_argument_group("detection (seconds)")
    knobs.add_argument("--threshold", type=float, default=defaults.threshold,
                       help="speech probability that starts a region; lower finds more quiet speech "
                            "and more noise (default %(default)s)")
    knobs.add_argument("--min_speech", type=float, default=defaults.min_speech,
                       help="drop regions shorter than this (default %(default)s)")
    knobs.add_argument("--min_silence", type=float, default=defaults.min_silence,
                       help="pauses shorter than this do not split a region (default %(default)s)")
    knobs.add_argument("--speech_pad", type=float, default=defaults.speech_pad,
                       help="widen each region by this on both sides; silero only (default %(default)s)")
    knobs.add_argument("--max_speech", type=float, default=None,
                       help="split regions longer than this at their longest pause; silero only "
                            "(default: no limit)")
    parser.add_argument("--pyannote_model", default=None,
                        help="local pyannote segmentation checkpoint (e.g. pytorch_model.bin) or "
                             "pipeline config.yaml, for --backend pyannote")
    work = parser.add_argument_group("big corpora")
    work.add_argument("--jobs", type=int, default=1,
                      help="worker processes, one CPU core each (default %(default)s)")
    work.add_argument("--nshards", type=int, default=1,
                      help="split the sorted file list into this many contiguous shards (default %(default)s)")
    work.add_argument("--shard", type=int, default=None,
                      help="which shard to process, 0 .. nshards-1 (default: all of them, so the "
                           "whole corpus)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_logging(args.verbose)
    settings = VadSettings(backend=args.backend, threshold=args.threshold, min_speech=args.min_speech,
                           min_silence=args.min_silence, speech_pad=args.speech_pad,
                           max_speech=args.max_speech, pyannote_model=args.pyannote_model)
    check_shard_arguments(args.shard, args.nshards)
    # Every shard in turn, into one list, is the whole corpus (sse/sharding.py).
    shard, nshards = (0, 1) if args.shard is None else (args.shard, args.nshards)
    wavs, speakers = list_corpus(args.path_wavs, args.speaker_regex, shard, nshards)
    if nshards > 1:
        logger.info("shard %d of %d: files %s .. %s", args.shard, args.nshards, wavs[0], wavs[-1])

    began = time.perf_counter()
    report = vad_corpus(args.path_wavs, wavs, speakers, settings, jobs=args.jobs)
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
    run(main)
