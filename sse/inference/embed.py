"""Embedding segments with an SSE encoder: the one path used by validation MAP, k-NN mining,
``map_dump.py`` and the pretrained models, so every number comes from the same code.

Frames come either from a :class:`sse.frames.feature_store.FeatureStore` or are computed on the fly for
each segment's VAD with the same context rule as ``extract_features.py``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from sse.core.errors import UserError
from sse.core.progress import tqdm
from sse.frames.cmvn import SpeakerStats, stats_key
from sse.frames.feature_store import FeatureStore, check_vads_against_audio
from sse.frames.features import compute_vad_frames, frame_span
from sse.frames.formats import NO_SPEAKER, Segment, Vad
from sse.frames.frontend import Frontend


def frames_from_store(store: FeatureStore, segments: Sequence[Segment]) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frames) of every segment, read from a feature store."""
    for index, segment in enumerate(segments):
        yield index, store.frames(segment.wav, segment.start, segment.end)


#: With per-speaker CMVN, the first pass keeps the VADs' frames for the second while they take
#: at most this many bytes (float32); past it, the second pass computes them again.
CMVN_CACHE_BYTES = 2 << 30


def frames_on_the_fly(frontend: Frontend, corpus_root: str | os.PathLike, segments: Sequence[Segment],
                      progress: bool = True, stats: SpeakerStats | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frames) of every segment, computing each distinct VAD once (in first-seen order).

    Every file and VAD is checked before the first frame is computed, so a bad list fails
    before any work (or output). With per-speaker CMVN, a first pass gathers the statistics of
    each speaker over all its VADs in the list (lines without a speaker: over their whole
    file), except for the speakers ``stats`` already holds.
    """
    by_vad: dict = {}
    for index, segment in enumerate(segments):
        by_vad.setdefault(segment.vad, []).append(index)
    if not Path(corpus_root).is_dir():
        raise UserError(f"{corpus_root}: no such corpus folder")
    infos = check_vads_against_audio(corpus_root, by_vad, progress)
    kept: dict = {}
    if frontend.cmvn == "speaker":
        stats, kept = _list_statistics(frontend, corpus_root, list(by_vad), infos, stats, progress)
    for vad, indices in tqdm(by_vad.items(), desc="frames", unit="vad", disable=not progress):
        vad_frames = kept.pop(vad, None)
        if vad_frames is None:
            vad_frames = compute_vad_frames(frontend, corpus_root, vad, infos[vad.wav])
        if frontend.cmvn == "speaker":
            vad_frames = frontend.normalize(vad_frames, stats_key(vad), stats)
        for index in indices:
            segment = segments[index]
            first, last = frame_span(segment.start - vad.start, segment.end - vad.start,
                                     len(vad_frames), frontend.frame_rate)
            yield index, vad_frames[first:last]


def _list_statistics(frontend: Frontend, corpus_root, vads: list, infos: dict, given: SpeakerStats | None,
                     progress: bool) -> tuple[SpeakerStats, dict]:
    """The per-speaker statistics of ``vads`` (``given`` ones kept) and the raw frames worth
    keeping for the second pass. VADs of no speaker (plain ``<wav> <start> <end>`` lines) are
    normalised by the statistics of their whole file, as :meth:`sse.api.Embedder.embed_file` does."""
    stats = SpeakerStats(frontend.dim)
    if given is not None:
        stats.merge(given)
    todo = [vad for vad in vads if stats_key(vad) not in stats]
    whole_files = [Vad(wav, NO_SPEAKER, 0.0, infos[wav].duration)
                   for wav in dict.fromkeys(vad.wav for vad in todo if vad.speaker == NO_SPEAKER)]
    todo = [vad for vad in todo if vad.speaker != NO_SPEAKER] + whole_files
    frame_bytes = 4 * frontend.dim * frontend.frame_rate
    kept: dict | None = {} if sum(vad.duration for vad in todo) * frame_bytes <= CMVN_CACHE_BYTES else None
    return vad_statistics(frontend, corpus_root, todo, infos, progress, stats, kept), kept or {}


def vad_statistics(frontend: Frontend, corpus_root, vads: Sequence, infos: dict | None = None,
                   progress: bool = True, stats: SpeakerStats | None = None,
                   kept: dict | None = None) -> SpeakerStats:
    """Per-speaker CMVN statistics of the raw frames of ``vads`` (added to ``stats`` if given;
    each VAD's frames also stored in ``kept`` if given)."""
    stats = stats if stats is not None else SpeakerStats(frontend.dim)
    for vad in tqdm(vads, desc="CMVN statistics", unit="vad", disable=not progress, leave=False):
        frames = compute_vad_frames(frontend, corpus_root, vad, (infos or {}).get(vad.wav))
        stats.add(stats_key(vad), frames)
        if kept is not None:
            kept[vad] = frames
    return stats


def segment_frames(segments: Sequence[Segment], frontend: Frontend, corpus_root: str | os.PathLike,
                   features: str | os.PathLike | None = None, progress: bool = True,
                   stats: SpeakerStats | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frames) of every segment: from the feature store ``features`` if given (it must
    hold ``frontend``'s features, normalised as it recorded), else computed per VAD by
    :func:`frames_on_the_fly` (``stats``: per-speaker CMVN statistics to use)."""
    if features:
        store = FeatureStore(features)
        store.require_frontend(frontend.describe(), f"front-end {frontend.name}")
        return frames_from_store(store, segments)
    return frames_on_the_fly(frontend, corpus_root, segments, progress, stats)


def pad_frames(frames: Sequence[np.ndarray], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad a list of (time, dim) arrays into (batch, max time, dim) float32 + lengths."""
    lengths = torch.tensor([len(f) for f in frames], dtype=torch.long)
    batch = torch.zeros(len(frames), int(lengths.max()), frames[0].shape[1], dtype=torch.float32)
    for row, f in enumerate(frames):
        batch[row, :len(f)] = torch.as_tensor(np.asarray(f, dtype=np.float32))
    return batch.to(device), lengths.to(device)


@torch.no_grad()
def embed_frames(encoder: torch.nn.Module, items: Iterable[tuple[int, np.ndarray]], total: int,
                 batch_size: int = 256, device=None, buffer_size: int = 16384,
                 progress: bool = True, desc: str = "embedding") -> np.ndarray:
    """Embeddings (total, dim) float32 of ``(index, frames)`` items, row ``index`` for each.

    Items are buffered and sorted by length before batching, so little compute goes to padding.
    The encoder is put in eval mode for the call and restored afterwards.
    """
    if device is None:
        device = next(encoder.parameters(), torch.empty(0)).device
    dtype = next(encoder.parameters(), torch.empty(0)).dtype
    was_training = encoder.training
    encoder.eval()
    output = np.zeros((total, encoder.output_dim), dtype=np.float32)
    filled = np.zeros(total, dtype=bool)
    bar = tqdm(total=total, desc=desc, unit="seg", disable=not progress, leave=False)

    def flush(buffer):
        buffer.sort(key=lambda item: len(item[1]))
        for begin in range(0, len(buffer), batch_size):
            chunk = buffer[begin:begin + batch_size]
            frames, lengths = pad_frames([f for _, f in chunk], device)
            frames = frames.to(dtype)  # an encoder trained with --fp16/--bf16 may hold half weights
            rows = [index for index, _ in chunk]
            output[rows] = encoder(frames, lengths).float().cpu().numpy()
            filled[rows] = True
            bar.update(len(chunk))
        buffer.clear()

    buffer: list = []
    try:
        for item in items:
            buffer.append(item)
            if len(buffer) >= buffer_size:
                flush(buffer)
        if buffer:
            flush(buffer)
    finally:
        bar.close()
        encoder.train(was_training)
    if not filled.all():
        raise RuntimeError(f"{int((~filled).sum())} of {total} segments got no frames")
    return output
