"""Voice activity detection: the speech regions of every audio file of a corpus, as a VAD list.

Two back-ends:

* ``silero`` (default): silero-vad, whose weights ship inside the ``silero-vad`` wheel, so it
  runs offline on CPU. The model scores 32 ms windows of 16 kHz audio; silero's
  ``get_speech_timestamps`` turns the scores into regions with the knobs of
  :class:`VadSettings`.
* ``pyannote``: a pyannote.audio segmentation model or pipeline loaded from a LOCAL path (the
  authors of the paper used pyannote). Needs ``pyannote.audio``, which is not a dependency of
  the toolkit; this path is not exercised by the test suite.

The speaker of a file comes from a regular expression on its path relative to the corpus root
(by default LibriSpeech's ``SPEAKER-CHAPTER-UTTERANCE.ext`` file names).
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from sse.core.errors import UserError
from sse.core.progress import tqdm
from sse.core.sharding import shard_slice
from sse.frames.audio import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    AudioInfo,
    audio_info,
    find_audio_files,
    read_audio,
)
from sse.frames.formats import Vad
from sse.prep.speakers import DEFAULT_SPEAKER_REGEX, compile_speaker_regex, speakers_by

logger = logging.getLogger(__name__)

BACKENDS = ("silero", "pyannote")

#: Times in the VAD list are rounded to this many decimals (milliseconds): the frame features
#: downstream have a 20 ms hop, so finer times carry no information.
TIME_DECIMALS = 3


@dataclass(frozen=True)
class VadSettings:
    """What decides a speech region. Durations are in seconds, as everywhere in the toolkit.

    threshold:   silero speech probability above which a 32 ms window starts speech (speech
                 ends when it drops below ``threshold - 0.15``). Lower finds more (quiet or
                 noisy) speech and more false alarms. Also pyannote's onset/offset for models
                 that have them.
    min_speech:  regions shorter than this are dropped.
    min_silence: a pause must last this long to split two regions; shorter pauses stay inside
                 one region.
    speech_pad:  each region is widened by this much on both sides (silero only), so word
                 onsets and releases that score low are not clipped; two regions closer than
                 twice the pad meet halfway instead of overlapping. 50 ms rather than silero's
                 30 ms: on read LibriVox speech, silero's regions began 40-90 ms after the
                 force-aligned first word with 30 ms of padding.
    max_speech:  regions longer than this are split at their longest internal pause (silero
                 only; None = no limit; feature extraction cuts VADs over 20 s itself).
    """

    backend: str = "silero"
    threshold: float = 0.5
    min_speech: float = 0.25
    min_silence: float = 0.10
    speech_pad: float = 0.05
    max_speech: float | None = None
    pyannote_model: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown VAD backend {self.backend!r} (choose from {', '.join(BACKENDS)})")
        if not 0.0 < self.threshold < 1.0:
            raise UserError(f"threshold {self.threshold} is not a probability strictly between 0 and 1")
        for name in ("min_speech", "min_silence", "speech_pad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"{name} {value} is not a non-negative number of seconds")
        if self.max_speech is not None and not self.max_speech > 2 * self.speech_pad + 0.1:
            raise UserError(f"max_speech {self.max_speech} s is too short "
                            f"(it must exceed twice speech_pad plus 0.1 s)")


# ---------------------------------------------------------------------------------------------
# Detectors: 16 kHz mono float32 samples -> speech regions in seconds
# ---------------------------------------------------------------------------------------------

Detector = Callable[[np.ndarray], list[tuple[float, float]]]


class SileroDetector:
    """silero-vad on 16 kHz mono audio (weights from the wheel, no download, no torchaudio)."""

    def __init__(self, settings: VadSettings) -> None:
        # Importing silero_vad sets torch to one thread process-wide: what we want, since
        # silero scores one 32 ms window at a time and parallelism comes from --jobs.
        from silero_vad import get_speech_timestamps, load_silero_vad  # noqa: PLC0415
        self._model = load_silero_vad()
        self._get_speech_timestamps = get_speech_timestamps
        self.settings = settings

    def __call__(self, samples: np.ndarray) -> list[tuple[float, float]]:
        import torch  # noqa: PLC0415  (already loaded by silero_vad)
        settings = self.settings
        # Sample indices, not return_seconds: silero rounds seconds to 0.1 s by default.
        timestamps = self._get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), self._model,
            threshold=settings.threshold, sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=int(round(settings.min_speech * 1000)),
            min_silence_duration_ms=int(round(settings.min_silence * 1000)),
            speech_pad_ms=int(round(settings.speech_pad * 1000)),
            max_speech_duration_s=float("inf") if settings.max_speech is None else settings.max_speech)
        return [(stamp["start"] / SAMPLE_RATE, stamp["end"] / SAMPLE_RATE) for stamp in timestamps]


class PyannoteDetector:
    """pyannote.audio voice activity detection from a local checkpoint or pipeline config.

    ``pyannote_model`` is either a segmentation checkpoint (e.g. the ``pytorch_model.bin`` of
    pyannote/segmentation-3.0, downloaded once elsewhere), wrapped here in pyannote's
    ``VoiceActivityDetection`` pipeline, or a pipeline ``config.yaml`` (or folder) that
    ``Pipeline.from_pretrained`` loads as is. Not tested here: pyannote.audio is not installed.
    """

    def __init__(self, settings: VadSettings) -> None:
        check_backend(settings)
        from pyannote.audio import Model, Pipeline  # noqa: PLC0415
        from pyannote.audio.pipelines import VoiceActivityDetection  # noqa: PLC0415
        path = Path(settings.pyannote_model)
        if path.is_dir() or path.suffix in (".yaml", ".yml"):
            self._pipeline = Pipeline.from_pretrained(path)
        else:
            model = Model.from_pretrained(path)
            if model is None:
                raise UserError(f"{path}: pyannote.audio could not load a model from this file")
            self._pipeline = VoiceActivityDetection(segmentation=model)
            hyper_parameters = {"min_duration_on": settings.min_speech,
                                "min_duration_off": settings.min_silence}
            # Powerset models (segmentation-3.0) decide speech by argmax and have no onset/offset.
            if "onset" in self._pipeline.parameters(instantiated=False):
                hyper_parameters.update(onset=settings.threshold, offset=settings.threshold)
            self._pipeline.instantiate(hyper_parameters)

    def __call__(self, samples: np.ndarray) -> list[tuple[float, float]]:
        import torch  # noqa: PLC0415
        # Handing pyannote the waveform keeps it away from its own (torchaudio) file reading.
        output = self._pipeline({"waveform": torch.from_numpy(samples)[None], "sample_rate": SAMPLE_RATE})
        annotation = getattr(output, "speaker_diarization", output)  # pyannote 4 wraps diarizations
        return [(segment.start, segment.end) for segment in annotation.get_timeline().support()]


def check_backend(settings: VadSettings) -> None:
    """Fail early, with one line, if the chosen back-end cannot run here."""
    if settings.backend != "pyannote":
        return
    needs = ("the pyannote backend needs pyannote.audio (pip install pyannote.audio) and a LOCAL "
             "segmentation checkpoint or pipeline config.yaml given with --pyannote_model PATH "
             "(nothing is downloaded from a model hub); the default backend, silero, works offline")
    try:
        import pyannote.audio  # noqa: F401, PLC0415
    except (ImportError, OSError) as error:
        raise UserError(f"{needs}. Here pyannote.audio cannot be imported ({error})") from None
    if settings.pyannote_model is None:
        raise UserError(f"{needs}. Here --pyannote_model is missing")
    if not Path(settings.pyannote_model).exists():
        raise UserError(f"{settings.pyannote_model}: no such pyannote model file or folder "
                        "(give a local path with --pyannote_model)")


def make_detector(settings: VadSettings) -> Detector:
    """The speech detector of ``settings.backend``, with its model loaded."""
    if settings.backend == "silero":
        return SileroDetector(settings)
    return PyannoteDetector(settings)


# ---------------------------------------------------------------------------------------------
# One file, many files
# ---------------------------------------------------------------------------------------------

def clean_regions(regions: Iterable[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """Regions rounded to milliseconds, clipped to ``[0, duration]``; empty ones dropped."""
    scale = 10 ** TIME_DECIMALS
    # Floored so that a rounded end never passes the last sample of the file.
    last = math.floor(duration * scale) / scale
    cleaned = []
    for start, end in regions:
        start = max(0.0, round(start, TIME_DECIMALS))
        end = min(last, round(end, TIME_DECIMALS))
        if start < end:
            cleaned.append((start, end))
    return cleaned


def detect_file(path: str | os.PathLike, detector: Detector,
                info: AudioInfo | None = None) -> list[tuple[float, float]]:
    """Speech regions (seconds, millisecond precision) of one audio file."""
    info = info or audio_info(path)
    if info.frames == 0:
        return []
    samples = read_audio(path, info=info)
    duration = min(info.duration, len(samples) / SAMPLE_RATE)
    return clean_regions(detector(samples), duration)


class FileResult(NamedTuple):
    wav: str
    regions: list[tuple[float, float]] | None
    error: str | None


def _detect_task(detector: Detector, root: str, wav: str, info: AudioInfo) -> FileResult:
    # User errors travel back as text: the parent reports them; other exceptions are bugs and
    # keep their traceback through multiprocessing.
    try:
        return FileResult(wav, detect_file(Path(root) / wav, detector, info), None)
    except UserError as error:
        return FileResult(wav, None, str(error))


_worker_detector: Detector | None = None


def _init_worker(settings: VadSettings) -> None:
    global _worker_detector
    _worker_detector = make_detector(settings)


def _detect_in_worker(task: tuple[str, str, AudioInfo]) -> FileResult:
    return _detect_task(_worker_detector, *task)


def _detections(tasks: list[tuple[str, str, AudioInfo]], settings: VadSettings,
                jobs: int) -> Iterator[FileResult]:
    """Results in the order of ``tasks``, computed in this process or in ``jobs`` workers."""
    if jobs == 1:
        detector = make_detector(settings)
        for task in tasks:
            yield _detect_task(detector, *task)
        return
    # spawn, not fork: a forked copy of a process that already ran torch can deadlock.
    context = multiprocessing.get_context("spawn")
    # Small chunks keep the bar moving and the workers balanced; utterances are seconds long.
    chunksize = max(1, min(16, len(tasks) // (4 * jobs)))
    with context.Pool(jobs, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.imap(_detect_in_worker, tasks, chunksize=chunksize)


class VadReport(NamedTuple):
    """What a corpus run found, for the summary a user reads."""

    vads: list[Vad]
    files: int
    audio_seconds: float
    files_without_speech: list[str]

    @property
    def speech_seconds(self) -> float:
        return sum(vad.duration for vad in self.vads)


def list_corpus(root: str | os.PathLike, speaker_regex: str = DEFAULT_SPEAKER_REGEX,
                shard: int = 0, nshards: int = 1, speakers_from: str = "regex") -> tuple[list[str], list[str]]:
    """The audio files under ``root`` (relative, sorted) of one shard, and their speakers.

    ``speakers_from`` is one of :data:`sse.prep.speakers.SPEAKER_SOURCES` (``speaker_regex`` is used
    with ``"regex"``). Speakers are checked for every file of the corpus, not only the shard, so
    that all tasks of an array job fail alike and before any work.
    """
    if speakers_from == "regex":
        compile_speaker_regex(speaker_regex)  # a bad regex fails before the corpus is listed
    wavs = find_audio_files(root)
    if not wavs:
        raise UserError(f"{root}: no audio files found below this folder "
                        f"(looked for {', '.join(AUDIO_EXTENSIONS)})")
    speakers = speakers_by(wavs, speakers_from, speaker_regex)
    block = shard_slice(len(wavs), shard, nshards)
    if block.start == block.stop:
        raise UserError(f"{root}: shard {shard} of {nshards} gets no files (the folder holds "
                        f"{len(wavs)}); use fewer shards")
    return wavs[block], speakers[block]


def vad_corpus(root: str | os.PathLike, wavs: Sequence[str], speakers: Sequence[str],
               settings: VadSettings, jobs: int = 1) -> VadReport:
    """Speech regions of ``wavs`` (paths relative to ``root``), as VADs in the order of ``wavs``.

    Every file's header is read first, so a file that is not audio stops the run before
    hours of work; a file that turns out corrupt while decoding stops it when reached.
    """
    if jobs < 1:
        raise UserError(f"--jobs {jobs} must be at least 1")
    check_backend(settings)
    root = str(root)
    # Bars as context managers: closed before an error propagates, so the error line that
    # follows is not glued to a half-drawn bar.
    with tqdm(wavs, desc="reading headers", unit="file", leave=False) as bar:
        infos = [audio_info(Path(root) / wav) for wav in bar]
    audio_seconds = sum(info.duration for info in infos)
    logger.info("%d files, %.2f h of audio; VAD with %s on %d process%s", len(wavs),
                audio_seconds / 3600, settings.backend, jobs, "es" if jobs > 1 else "")

    speaker_of_wav = dict(zip(wavs, speakers))
    tasks = [(root, wav, info) for wav, info in zip(wavs, infos)]
    vads: list[Vad] = []
    without_speech: list[str] = []
    with tqdm(_detections(tasks, settings, jobs), total=len(tasks), desc="VAD", unit="file") as bar:
        for result in bar:
            if result.error is not None:
                raise UserError(result.error)
            if not result.regions:
                without_speech.append(result.wav)
            vads.extend(Vad(result.wav, speaker_of_wav[result.wav], start, end)
                        for start, end in result.regions)
    return VadReport(vads, len(wavs), audio_seconds, without_speech)
