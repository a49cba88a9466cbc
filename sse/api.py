"""The one-call Python API: ``sse.load(path)`` gives an :class:`Embedder`.

    import sse
    model = sse.load("pretrained/demo_unsup")                       # a checkpoint file or folder
    model.embed_file("training_data/demo/dev/x.wav", 1.20, 1.68)     # (512,) float32
    model.embed_segments("my_spans.txt", corpus_root="training_data/demo")   # (N, 512)
    model.embed_waveform(samples, sample_rate)                       # any rate, mono or not

Files and segment lists go through the code ``map_dump.py`` runs (:mod:`sse.evaluation.scoring`), with
the same context rule (up to 5 s of audio around each VAD), so the numbers are the ones it
dumps. A segment list may hold plain ``<wav> <start> <end>`` lines: a span without VAD is its
own VAD, as in ``map_dump.py``.

Models trained with per-speaker CMVN (``cmvn: speaker`` in their front-end description) need the
statistics of the speaker. A segment list brings them: each speaker's VADs in the list (each
file's, for lines without a speaker), as ``map_dump.py`` computes them. A single file of an
unknown speaker is normalised by the statistics of the whole file; pass ``stats=`` (from
:meth:`Embedder.statistics` over more of that speaker's audio) for better ones.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from sse.core.device import resolve_device
from sse.core.errors import UserError
from sse.defaults import BATCH_SIZE
from sse.evaluation.scoring import load_embedder
from sse.frames.audio import SAMPLE_RATE, audio_info, resample
from sse.frames.cmvn import SpeakerStats
from sse.frames.formats import NO_SPEAKER, Segment, Vad, read_segments
from sse.inference.checkpoint import resolve_checkpoint
from sse.inference.embed import embed_frames, segment_frames, vad_statistics


class Embedder:
    """A trained SSE encoder (or mean pooling) with the front-end it was trained on."""

    def __init__(self, encoder: torch.nn.Module, frontend, device, path: Path | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        self.encoder = encoder
        self.frontend = frontend
        self.device = torch.device(device)
        self.path = path
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        """Size of one embedding."""
        return int(self.encoder.output_dim)

    def __repr__(self) -> str:
        return f"Embedder({self.path or 'mean pooling'}, front-end {self.frontend.describe()}, {self.device})"

    # -- what map_dump.py embeds -------------------------------------------------------------
    def embed_segments(self, segments: str | os.PathLike | Sequence[Segment], corpus_root: str | os.PathLike = ".",
                       features: str | os.PathLike | None = None, progress: bool = False,
                       stats: SpeakerStats | None = None) -> np.ndarray:
        """(N, dim) float32, rows in list order: a segment list (path or parsed), ``<wav> <start>
        <end>`` lines allowed; wav paths relative to ``corpus_root``; frames from the feature
        store ``features`` if given, else computed with the context rule. ``progress``: show
        progress (tqdm on a terminal, log lines otherwise). With per-speaker CMVN, ``stats``
        may hold some speakers' statistics; the others' come from the list."""
        if isinstance(segments, (str, os.PathLike)):
            segments = read_segments(segments)
        segments = list(segments)
        if not segments:
            return np.zeros((0, self.dim), dtype=np.float32)
        items = segment_frames(segments, self.frontend, corpus_root, features, progress, stats)
        return embed_frames(self.encoder, items, len(segments), self.batch_size, self.device, progress=progress)

    def statistics(self, files: Iterable[str | os.PathLike], speaker: str = "speaker") -> SpeakerStats:
        """Per-speaker CMVN statistics of ``speaker`` over whole audio ``files`` (all theirs), to
        pass as ``stats=``; the more of the speaker's speech, the better (minutes, not seconds)."""
        vads = [Vad(str(path), speaker, 0.0, audio_info(path).duration) for path in files]
        return vad_statistics(self.frontend, "", vads, progress=False)

    def embed_files(self, spans: Iterable[tuple[str | os.PathLike, float | None, float | None]],
                    stats: SpeakerStats | None = None) -> np.ndarray:
        """(N, dim): one row per ``(audio file, start, end)`` (None: the file's start or end).

        With per-speaker CMVN, the frames of each file are normalised by the statistics of the
        whole file, or by ``stats``, statistics of one speaker (:meth:`statistics`), if given.
        """
        speaker = NO_SPEAKER  # the list's rule: a file of no speaker is normalised by its own statistics
        if self.frontend.cmvn == "speaker" and stats is not None:
            if len(stats) != 1:
                raise UserError(f"stats= must hold one speaker's statistics, not {len(stats)} "
                                f"(Embedder.statistics makes them)")
            speaker = stats.speakers[0]
        segments = []
        for path, start, end in spans:
            start = 0.0 if start is None else float(start)
            end = audio_info(path).duration if end is None else float(end)
            if not 0 <= start < end:
                raise UserError(f"{path}: [{start}, {end}] is not a valid time span")
            segments.append(Segment(str(path), speaker, start, end, start, end))
        return self.embed_segments(segments, corpus_root="", stats=stats)

    def embed_file(self, path: str | os.PathLike, start: float | None = None, end: float | None = None,
                   stats: SpeakerStats | None = None) -> np.ndarray:
        """(dim,): the stretch [start, end] seconds of an audio file (the whole file by default);
        ``stats``: see :meth:`embed_files`."""
        return self.embed_files([(path, start, end)], stats)[0]

    # -- audio already in memory -------------------------------------------------------------
    @torch.no_grad()
    def embed_waveforms(self, waveforms: Sequence, sample_rate: int, channels_first: bool = False,
                        stats: SpeakerStats | None = None) -> np.ndarray:
        """(N, dim): each waveform is one segment, its frames computed over it alone.

        A waveform is 1-D, or 2-D as soundfile returns it, (samples, channels) (``channels_first``
        for torchaudio's (channels, samples)); channels are averaged and the rate converted to
        16 kHz, as the scripts read files. With per-speaker CMVN, each waveform's frames are
        normalised by their own statistics, or by ``stats`` (one speaker's) if given.
        """
        if stats is not None and len(stats) != 1:
            raise UserError(f"stats= must hold one speaker's statistics, not {len(stats)}")
        items = []
        for index, waveform in enumerate(waveforms):
            samples = to_mono_16k(waveform, sample_rate, channels_first)
            frames = self.frontend(samples).float()
            if len(frames) == 0:
                raise UserError(f"waveform {index}: {len(samples) / SAMPLE_RATE:.3f} s is too short to give "
                                f"a single {1000 // self.frontend.frame_rate} ms frame")
            if self.frontend.cmvn == "speaker":
                own = stats or SpeakerStats.of([("waveform", frames)], self.frontend.dim)
                frames = self.frontend.normalize(frames, own.speakers[0], own)
            else:
                frames = self.frontend.normalize(frames)
            items.append((index, frames.cpu().numpy()))
        return embed_frames(self.encoder, items, len(items), self.batch_size, self.device, progress=False)

    def embed_waveform(self, waveform, sample_rate: int, channels_first: bool = False) -> np.ndarray:
        """(dim,): one waveform (see :meth:`embed_waveforms`)."""
        return self.embed_waveforms([waveform], sample_rate, channels_first)[0]


def to_mono_16k(waveform, sample_rate: int, channels_first: bool = False) -> np.ndarray:
    """A waveform as the toolkit reads audio: 16 kHz mono float32 (channels averaged)."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0 if channels_first else 1)
    elif samples.ndim != 1:
        raise UserError(f"a waveform must be 1-D or 2-D, got shape {samples.shape}")
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise UserError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    return resample(np.ascontiguousarray(samples), int(sample_rate))


def load(path: str | os.PathLike | None, device=None, frontend: str | None = None, path_ssl: str | None = None,
         layer: int | None = None, batch_size: int = BATCH_SIZE) -> Embedder:
    """An :class:`Embedder` for a checkpoint file or a folder holding ``checkpoint_best.pt``.

    ``path=None`` gives the mean-pooling baseline over ``frontend`` frames. The front-end is the
    one the checkpoint recorded unless ``frontend``/``path_ssl``/``layer`` say otherwise.
    ``device`` defaults to CUDA when there is one; one this torch cannot use is a :class:`UserError`.

    From the repository root, with the bundled demo model and corpus:

    >>> import sse
    >>> model = sse.load("pretrained/demo_unsup", device="cpu")
    >>> model.embed_file("training_data/demo/dev/1013/1013-2-0013.ogg", 3.02, 3.35).shape
    (512,)
    >>> model.embed_segments("sse_benchmark/demo-ngrams-subset", corpus_root="training_data/demo").shape
    (2499, 512)
    """
    device = resolve_device(device, "device")
    encoder, built = load_embedder(path, device, frontend, path_ssl, layer)
    return Embedder(encoder, built, device, resolve_checkpoint(path) if path is not None else None, batch_size)
