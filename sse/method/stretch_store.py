"""Time-stretched frames of every VAD of a feature store, computed once (docs/iteration.md, section 4).

A k-NN iteration with stretched pairs (``iteration.sh`` with ``SSE_STRETCH_PAIRS=N``) reads each
side of a mined pair from one of ``N`` time-stretched versions of its VAD, as stage 1 reads a
pair from two stretched versions of one VAD. Version ``v`` of the ``i``-th VAD (the feature
store's VADs sorted by file and start) is the VAD's audio alone (no context, as in stage 1)
stretched by a tempo factor drawn uniformly in ``[min_stretch, max_stretch]`` by
``numpy.random.default_rng([seed, v, i])`` (pitch kept, :func:`sse.method.augment.augment`), then
encoded by the store's front-end and normalised as one waveform. A span ``[a, b]`` of a VAD
starting at ``s`` is frames ``(a - s) / f`` to ``(b - s) / f`` seconds of the version stretched by
``f`` (:func:`sse.frames.features.frame_span`), so a training batch costs what a mined batch costs.

Store layout, beside the feature store it was made from::

    DIR/stretch.json                        settings + what the source store holds
    DIR/version-00000-of-00004.npy          float16 frames of every VAD, stretched once
    DIR/version-00000-of-00004.index        <wav> <speaker> <vad start> <vad end> <factor> <first frame> <count>

A version's ``.index`` is renamed into place last, so a version is finished exactly when its
index exists; a rerun skips finished versions and redoes a damaged one (resumable, never half
written). ``stretch.json`` records the source store's description and a digest of its indexes:
a store made from other features (re-extracted, another VAD list) is refused, never reused.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import torch

from sse.core.errors import UserError
from sse.core.files import atomic_open, remove_leftover_parts
from sse.core.progress import tqdm
from sse.core.sharding import piece_name
from sse.core.stamps import claim, folder_has_state
from sse.frames.audio import read_audio
from sse.frames.cmvn import SpeakerStats, stats_key
from sse.frames.feature_store import (
    INDEX_FIELDS,
    FeatureStore,
    _DamagedShard,
    _FrameWriter,
    in_groups,
    read_frames_and_index,
    shard_name,
    vad_group,
)
from sse.frames.features import frame_span
from sse.frames.formats import Vad, format_time
from sse.frames.frontend import Frontend
from sse.method.augment import augment
from sse.method.sampling import AugmentationSettings

logger = logging.getLogger(__name__)

STRETCH_STORE_VERSION = 1
DESCRIPTION = "stretch.json"
#: Stage 1's tempo range.
MIN_STRETCH, MAX_STRETCH = AugmentationSettings.min_stretch, AugmentationSettings.max_stretch


def version_name(version: int, versions: int) -> str:
    return piece_name("version", version, versions)


def source_digest(store: FeatureStore) -> str:
    """A digest of the feature store's indexes: which VADs it holds, and where."""
    digest = hashlib.sha256()
    nshards = int(store.description["nshards"])
    for shard in range(nshards):
        digest.update((store.directory / f"{shard_name(shard, nshards)}.index").read_bytes())
    return digest.hexdigest()


def stretch_description(store: FeatureStore, versions: int, seed: int = 0, min_stretch: float = MIN_STRETCH,
                        max_stretch: float = MAX_STRETCH) -> dict:
    return {"version": STRETCH_STORE_VERSION, "versions": versions, "seed": seed, "min_stretch": min_stretch,
            "max_stretch": max_stretch, "source": store.description, "source_index": source_digest(store)}


def store_vads(store: FeatureStore) -> list[Vad]:
    """The feature store's VADs, sorted by file and start: the order that seeds each VAD's stretch."""
    return [Vad(wav, store.speakers[wav], entry.start, entry.end)
            for wav in sorted(store.vads) for entry in store.vads[wav]]


def stretch_factor_rng(seed: int, version: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, version, index])


def stretched_vad(corpus_root: str | os.PathLike, vad: Vad, seed: int, version: int, index: int,
                  min_stretch: float = MIN_STRETCH, max_stretch: float = MAX_STRETCH) -> tuple[float, np.ndarray]:
    """(tempo factor, stretched audio) of version ``version`` of the ``index``-th VAD."""
    rng = stretch_factor_rng(seed, version, index)
    factor = float(rng.uniform(min_stretch, max_stretch))
    return factor, augment(read_audio(Path(corpus_root) / vad.wav, vad.start, vad.end), factor, rng)


class _StretchDataset(torch.utils.data.Dataset):
    """Reads and stretches VADs in worker processes while the front-end runs."""

    def __init__(self, corpus_root, vads, description, version):
        self.corpus_root, self.vads, self.description, self.version = corpus_root, vads, description, version

    def __len__(self):
        return len(self.vads)

    def __getitem__(self, index):
        d = self.description
        return (index, *stretched_vad(self.corpus_root, self.vads[index], d["seed"], self.version, index,
                                      d["min_stretch"], d["max_stretch"]))


def _stretched_frames(frontend: Frontend, loader, group: int, vads: list[Vad],
                      stats: SpeakerStats | None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(VAD index, factor, normalised frames) of every item of ``loader``, ``group`` at a time.

    With per-speaker CMVN, a stretched VAD is normalised by its speaker's statistics over the
    unstretched store (``stats``): a stretch keeps the pitch, so it keeps the speaker's spectrum.
    """
    for buffer in in_groups(loader, group):
        frames = frontend.batch([samples for _, _, samples in buffer])
        for (index, factor, _), vad_frames in zip(buffer, frames):
            normalised = frontend.normalize(vad_frames, stats_key(vads[index]), stats)
            yield index, factor, normalised.float().cpu().numpy()


#: The fields of a version's ``.index`` line: a feature store's, with the VAD's tempo factor.
VERSION_FIELDS = INDEX_FIELDS[:4] + (("factor", float),) + INDEX_FIELDS[4:]


def _read_version(directory: Path, version: int, versions: int) -> tuple[np.ndarray, list]:
    return read_frames_and_index(directory, version_name(version, versions), VERSION_FIELDS)


def version_problem(directory: str | os.PathLike, version: int, versions: int) -> str | None:
    """What is wrong with a version's files (missing, cut short, unreadable), or None if nothing."""
    try:
        _read_version(Path(directory), version, versions)
    except _DamagedShard as problem:
        return str(problem)
    return None


def read_stretch_description(directory: str | os.PathLike) -> dict | None:
    path = Path(directory) / DESCRIPTION
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: damaged stretched-frame store description ({type(error).__name__}); "
                        f"delete the folder {directory} and make it again") from None
    if not isinstance(description, dict):
        raise UserError(f"{path}: not a stretched-frame store description; delete the folder {directory}")
    return description


def build_stretch_store(store: FeatureStore, corpus_root: str | os.PathLike, output_dir: str | os.PathLike,
                        frontend: Frontend, versions: int, seed: int = 0, min_stretch: float = MIN_STRETCH,
                        max_stretch: float = MAX_STRETCH, num_workers: int = 2, progress: bool = True) -> int:
    """Compute the missing versions of ``store``'s stretched frames; return how many were computed.

    ``frontend`` must be the store's (checked). Finished versions are skipped, damaged ones redone.
    """
    if versions < 1:
        raise UserError(f"the number of stretched versions must be at least 1, got {versions}")
    if not 0 < min_stretch <= max_stretch:
        raise UserError(f"the tempo range must satisfy 0 < min <= max, got {min_stretch} to {max_stretch}")
    store.require_frontend(frontend.describe(), "stretching")
    output_dir = Path(output_dir)
    wanted = stretch_description(store, versions, seed, min_stretch, max_stretch)
    read_stretch_description(output_dir)  # a damaged description is an error of its own
    has_state = folder_has_state(output_dir, DESCRIPTION)
    claim(output_dir / DESCRIPTION, wanted, has_state, f"{output_dir}", "delete it to make it again",
          write=False)
    todo = [v for v in range(versions) if version_problem(output_dir, v, versions) is not None]
    if not todo:
        logger.info("%s: all %d stretched versions are finished", output_dir, versions)
        return 0
    vads = store_vads(store)
    output_dir.mkdir(parents=True, exist_ok=True)
    claim(output_dir / DESCRIPTION, wanted, has_state, f"{output_dir}", "delete it to make it again")
    hours = sum(vad.duration for vad in vads) / 3600
    bar = tqdm(total=hours * len(todo), unit="h", desc=f"stretching x{versions}", disable=not progress,
               bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} h [{elapsed}<{remaining}]")
    for version in todo:
        name = version_name(version, versions)
        (output_dir / f"{name}.index").unlink(missing_ok=True)  # damaged: done again
        writer = _FrameWriter(output_dir / f"{name}.npy", frontend.dim)
        lines = [""] * len(vads)
        try:
            dataset = _StretchDataset(corpus_root, vads, wanted, version)
            loader = torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers,
                                                 prefetch_factor=4 if num_workers else None)
            for index, factor, frames in _stretched_frames(frontend, loader, vad_group(frontend), vads, store.stats):
                vad = vads[index]
                offset = writer.append(frames)
                lines[index] = (f"{vad.wav} {vad.speaker} {format_time(vad.start)} {format_time(vad.end)} "
                                f"{factor!r} {offset} {len(frames)}\n")
                bar.update(vad.duration / 3600)
            writer.finish()
        except BaseException:
            writer.abandon()
            raise
        with atomic_open(output_dir / f"{name}.index", encoding="utf-8") as out:
            out.writelines(lines)
        remove_leftover_parts(output_dir, name)
    bar.close()
    remove_leftover_parts(output_dir, DESCRIPTION)
    logger.info("%s: %d stretched versions of %d VADs", output_dir, versions, len(vads))
    return len(todo)


class StretchedVersion(NamedTuple):
    factor: float
    version: int
    offset: int
    count: int


class StretchStore:
    """Read stretched frames back: ``frames(wav, start, end, version)`` for a span of a VAD of ``source``."""

    def __init__(self, directory: str | os.PathLike, source: FeatureStore) -> None:
        self.directory, self.source = Path(directory), source
        description = read_stretch_description(self.directory)
        if description is None:
            raise UserError(f"{self.directory}: not a store of stretched frames (no {DESCRIPTION}); "
                            f"utils/stretch_features.py makes one")
        if description.get("version") != STRETCH_STORE_VERSION or "versions" not in description:
            raise UserError(f"{self.directory}: a stretched-frame store of another version of the toolkit; "
                            f"delete it to make it again")
        self.versions = int(description["versions"])
        wanted = stretch_description(source, self.versions, description.get("seed"),
                                     description.get("min_stretch"), description.get("max_stretch"))
        claim(self.directory / DESCRIPTION, wanted, True, f"{self.directory}", "delete it to make it again",
              write=False)  # the features it was stretched from are still the store's
        self.description = description
        self.arrays: list[np.ndarray] = []
        self.entries: dict[tuple[str, float], list[StretchedVersion]] = {}
        for version in range(self.versions):
            try:
                frames, entries = _read_version(self.directory, version, self.versions)
            except _DamagedShard as problem:
                raise UserError(f"{self.directory}: {problem}; rerun utils/stretch_features.py, "
                                f"which makes a missing or damaged version again") from None
            self.arrays.append(frames)
            for wav, _, start, _, factor, offset, count in entries:
                self.entries.setdefault((wav, start), []).append(StretchedVersion(factor, version, offset, count))
        expected = {(wav, entry.start) for wav, entries in source.vads.items() for entry in entries}
        if set(self.entries) != expected or any(len(v) != self.versions for v in self.entries.values()):
            raise UserError(f"{self.directory}: does not hold every VAD of {source.directory} "
                            f"{self.versions} times; delete it to make it again")

    def frames(self, wav: str, start: float, end: float, version: int) -> np.ndarray:
        """Frames (float16, read-only view) of ``[start, end]`` of ``wav`` in stretched version
        ``version`` of its VAD; at least one frame."""
        vad = self.source.locate(wav, start, end)
        stretched = self.entries[wav, vad.start][version]
        first, last = frame_span((start - vad.start) / stretched.factor, (end - vad.start) / stretched.factor,
                                 stretched.count, self.source.frame_rate)
        return self.arrays[version][stretched.offset + first:stretched.offset + last]
