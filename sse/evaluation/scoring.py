"""Scoring a model (or the mean-pooling baseline) on a segment list: what ``map_dump.py`` and
``map_table.py`` share, so every MAP the toolkit prints comes from the same code."""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import torch

from sse.core.errors import UserError
from sse.evaluation.metrics import MapResult, SpeakerReport, mean_average_precision, speaker_report
from sse.frames.formats import Segment
from sse.frames.frontend import Frontend, build_frontend, frontend_from_description
from sse.inference.checkpoint import load_encoder
from sse.inference.embed import embed_frames, segment_frames
from sse.method.model import MeanPooling, SSEEncoder

logger = logging.getLogger(__name__)


def load_embedder(path_sse: str | os.PathLike | None, device, frontend: str | None = None,
                  path_ssl: str | None = None, layer: int | None = None,
                  cmvn: str | None = None, untrained_seed: int | None = None) -> tuple[torch.nn.Module, Frontend]:
    """A trained encoder and the front-end it needs, or (``path_sse`` None) mean pooling over
    ``frontend`` frames. An explicit ``frontend`` (or ``cmvn``) overrides the one a checkpoint
    recorded, but must give frames of the dimension the model was trained on.

    With ``untrained_seed``, the checkpoint gives only its architecture and front-end: the encoder
    is freshly initialised (seeded), the floor that training has to beat.

    Mean pooling normalises frames as the front-end does by default (per speaker for MFCC and
    fbank, the strongest baseline measured) unless ``cmvn`` asks otherwise. Frames normalised per
    VAD (``utterance``) average to zero over a segment that is the whole VAD (an isolated word),
    so that baseline scores chance there (see :func:`warn_if_pooling_normalised_vads`).
    """
    if path_sse is None:
        built = build_frontend(frontend or "wav2vec2", path_ssl, layer, device, cmvn)
        return MeanPooling(built.dim).to(device), built
    loaded = load_encoder(path_sse, device)
    logger.info("loaded %s (front-end %s)", loaded.path, loaded.frontend)
    if frontend and frontend != loaded.frontend["name"]:
        built = build_frontend(frontend, path_ssl, layer, device, cmvn)
    else:
        recorded = loaded.frontend if cmvn is None else {**loaded.frontend, "cmvn": cmvn}
        built = frontend_from_description(recorded, device, path_ssl, layer)
    expected = loaded.encoder.config.input_dim
    if built.dim != expected:
        raise UserError(f"front-end {built.name} gives {built.dim}-dim frames but the model "
                        f"{loaded.path} expects {expected}")
    if untrained_seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(untrained_seed)
            return SSEEncoder(loaded.encoder.config).to(device).eval(), built
    return loaded.encoder, built


def warn_if_pooling_normalised_vads(frontend: Frontend, segments: Sequence[Segment]) -> None:
    """Warn when mean pooling frames normalised per VAD over segments that mostly are whole VADs."""
    whole = sum(abs(s.start - s.vad_start) < 0.02 and abs(s.end - s.vad_end) < 0.02 for s in segments)
    if frontend.describe().get("cmvn") == "utterance" and whole > len(segments) / 2:
        logger.warning("%d of %d segments are their whole VAD: the mean of frames normalised over the VAD "
                       "(--cmvn utterance) is zero there, so this baseline scores about chance; "
                       "use --cmvn speaker (the default) or none", whole, len(segments))


def embed_segments(embedder: torch.nn.Module, frontend: Frontend, segments: Sequence[Segment],
                   corpus_root, features=None, batch_size: int = 256, device="cpu") -> np.ndarray:
    """One embedding per segment, rows in list order."""
    return embed_frames(embedder, segment_frames(segments, frontend, corpus_root, features),
                        len(segments), batch_size, device)


def score(embeddings: np.ndarray, segments: Sequence[Segment], device="cpu", source: str = "") -> MapResult:
    """Exact MAP of the embeddings against the segments' transcriptions."""
    result = mean_average_precision(embeddings, [s.transcription for s in segments], device)
    if result.num_queries == 0:
        raise UserError(f"{source or 'the segment list'}: no transcription occurs twice, so MAP has no query")
    return result


def speaker_diagnostics(embeddings: np.ndarray, segments: Sequence[Segment], device="cpu") -> SpeakerReport | None:
    """MAP across and within speakers and the same-speaker share of the nearest neighbours
    (:class:`sse.evaluation.metrics.SpeakerReport`), or None when the list names fewer than two speakers."""
    speakers = [s.speaker for s in segments]
    if len(set(speakers)) < 2:
        return None
    return speaker_report(embeddings, [s.transcription for s in segments], speakers, device)
