"""Frame features of VADs: how they are computed (docs/method.md, step 3).

Each VAD is encoded with up to :data:`CONTEXT` seconds of extra audio on each side, then its
frames are cropped back to the VAD; VADs longer than :data:`PIECE` seconds are cut into pieces,
each encoded with its own context, and the frames concatenated; VADs shorter than
:data:`MIN_VAD` are dropped. Frame ``i`` of a VAD starting at ``vs`` begins at ``vs + i/50``.
The left context is a whole number of frames so the crop falls exactly on that grid. The
on-disk store of such frames is :mod:`sse.frames.feature_store`.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from sse.core.errors import UserError
from sse.frames.audio import AudioInfo, audio_info, read_audio
from sse.frames.formats import VAD_TOLERANCE, Vad, format_time
from sse.frames.frontend import Frontend

CONTEXT = 5.0
PIECE = 20.0
MIN_VAD = 0.040


def vad_pieces(vad: Vad, piece: float = PIECE) -> list[tuple[float, float]]:
    """Cut a VAD into consecutive spans of at most ``piece`` seconds."""
    count = max(1, math.ceil(vad.duration / piece - 1e-9))
    return [(vad.start + i * piece, min(vad.end, vad.start + (i + 1) * piece)) for i in range(count)]


class PieceAudio(NamedTuple):
    """The audio to encode for one piece of a VAD, and which of its frames belong to the piece."""

    samples: np.ndarray
    first_frame: int  # frames before it come from the left context
    frame_count: int  # frames the piece should give (fewer if the file ends without context)


def piece_audio(corpus_root: str | os.PathLike, vad: Vad, frame_rate: int = 50,
                context: float = CONTEXT, piece: float = PIECE, info=None) -> list[PieceAudio]:
    """Read the audio of every piece of ``vad`` with its context (the extraction rule above)."""
    path = Path(corpus_root) / vad.wav
    info = info or audio_info(path)
    if vad.end > info.duration + VAD_TOLERANCE:
        raise UserError(f"{path}: VAD [{format_time(vad.start)}, {format_time(vad.end)}] goes past "
                        f"the end of the file ({info.duration:.3f} s)")
    pieces = []
    spans = vad_pieces(vad, piece)
    for start, end in spans:
        left_frames = int(math.floor(min(context, start) * frame_rate + 1e-6))
        left = left_frames / frame_rate
        right = max(0.0, min(context, info.duration - end))
        samples = read_audio(path, start - left, min(end + right, info.duration), info=info)
        count = int(round((end - start) * frame_rate))
        # A VAD shorter than half a frame (a 10 ms segment embedded on its own) still has the
        # frame it starts in, so that every span of speech has frames and a defined embedding.
        pieces.append(PieceAudio(samples, left_frames, max(count, 1) if len(spans) == 1 else count))
    return pieces


def crop_piece_frames(frames: torch.Tensor, piece: PieceAudio) -> torch.Tensor:
    return frames[piece.first_frame:piece.first_frame + piece.frame_count]


def compute_vad_frames(frontend: Frontend, corpus_root: str | os.PathLike, vad: Vad,
                       info: AudioInfo | None = None) -> np.ndarray:
    """Frames (float32, (count, dim)) of one VAD, computed with the context rule
    (see :func:`vad_frames_of_pieces` for their normalisation)."""
    pieces = piece_audio(corpus_root, vad, frontend.frame_rate, info=info)
    frames = vad_frames_of_pieces(frontend, pieces).float().cpu().numpy()
    if len(frames) == 0:  # a span within the file's last few ms, which the front-end's windows do not reach
        raise UserError(f"{Path(corpus_root) / vad.wav}: [{format_time(vad.start)}, {format_time(vad.end)}] gets "
                        f"no frame from the {frontend.name} front-end: it is too short and too near the end "
                        "of the file")
    return frames


def vad_frames_of_pieces(frontend: Frontend, pieces: list[PieceAudio], frames: list | None = None) -> torch.Tensor:
    """The frames of a VAD from its pieces (encoded here unless their ``frames`` are given):
    cropped to the VAD, joined, normalised per VAD if the front-end's CMVN is ``utterance``.

    Per-speaker CMVN needs every VAD of the speaker first, so the frames come back raw then;
    whoever gathers a speaker's frames normalises them (:mod:`sse.frames.cmvn`).
    """
    if frames is None:
        frames = frontend.batch([piece.samples for piece in pieces])
    joined = torch.cat([crop_piece_frames(f, p) for f, p in zip(frames, pieces)])
    return frontend.normalize(joined) if frontend.cmvn == "utterance" else joined


def frame_span(start: float, end: float, count: int, frame_rate: int = 50) -> tuple[int, int]:
    """Frames ``[first, last)`` of ``[start, end]`` seconds from the start of a ``count``-frame VAD.

    Rounded to the nearest frame boundary, clipped to the VAD, never empty.
    """
    first = min(max(int(round(start * frame_rate)), 0), max(count - 1, 0))
    last = min(max(int(round(end * frame_rate)), first + 1), count)
    return first, last
