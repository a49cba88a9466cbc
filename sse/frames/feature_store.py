"""The on-disk store of frame features (computed by the rule of :mod:`sse.frames.features`).

Store layout (no pickle anywhere)::

    DIR/frontend.json                       front-end description + extraction settings
    DIR/shard-00000-of-00004.npy            float16 frames of the shard's VADs, (frames, dim)
    DIR/shard-00000-of-00004.index          <wav> <speaker> <vad start> <vad end> <first frame> <count>
    DIR/shard-00000-of-00004.stats.npz      with ``cmvn: speaker`` only: the shard's per-speaker sums

Frames are stored as the front-end's CMVN leaves them per VAD: normalised for ``utterance``,
raw for ``none`` and ``speaker``. Per-speaker CMVN needs every VAD of a speaker, which may lie
in several shards, so each shard records its speakers' sums (:class:`sse.frames.cmvn.SpeakerStats`)
and :class:`FeatureStore` normalises frames as it reads them, with the sums of all shards.

A shard's ``.index`` is renamed into place last, so a shard is finished exactly when its index
exists; an interrupted extraction leaves only hidden ``.part`` files, which the run that finishes
the shard removes. A finished shard whose ``.npy`` or ``.index`` was damaged afterwards (cut
short, edited) is refused by :class:`FeatureStore` and redone by :func:`extract_shard`.
``frontend.json`` records the VAD list's fingerprint, so a store is never completed from
another list, and it is written only once the list's audio has been checked.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch

from sse.core.errors import FormatError, UserError
from sse.core.files import atomic_open, remove_leftover_parts
from sse.core.progress import tqdm
from sse.core.sharding import piece_name, shard_slice
from sse.core.stamps import claim, folder_has_state
from sse.frames.audio import audio_info
from sse.frames.cmvn import SpeakerStats, stats_key
from sse.frames.features import CONTEXT, MIN_VAD, PIECE, frame_span, piece_audio, vad_frames_of_pieces
from sse.frames.formats import VAD_TOLERANCE, Vad, format_time
from sse.frames.frontend import Frontend, canonical_description, resolve_cmvn

logger = logging.getLogger(__name__)

STORE_VERSION = 2  # 2: shards split by sse/core/sharding.py, VAD list fingerprint

def shard_name(shard: int, nshards: int) -> str:
    return piece_name("shard", shard, nshards)


def vad_list_fingerprint(vads: Iterable[Vad]) -> str:
    """A digest of the VADs, in order: what a store's shards were cut from."""
    digest = hashlib.sha256()
    for vad in vads:
        digest.update(f"{vad.wav} {vad.speaker} {format_time(vad.start)} {format_time(vad.end)}\n".encode())
    return digest.hexdigest()


def store_description(frontend: Frontend, nshards: int, vads: Iterable[Vad] | None = None) -> dict:
    description = {"version": STORE_VERSION, "frontend": frontend.describe(), "nshards": nshards,
                   "context": CONTEXT, "piece": PIECE, "min_vad": MIN_VAD, "dtype": "float16"}
    if frontend.precision != "fp32":  # fp32, the default, is not recorded
        description["precision"] = frontend.precision
    if vads is not None:
        description["vads"] = vad_list_fingerprint(vads)
    return description


def read_store_description(directory: str | os.PathLike) -> dict | None:
    """The store's ``frontend.json``, None if there is none; a damaged one is a :class:`UserError`."""
    path = Path(directory) / "frontend.json"
    try:
        description = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: damaged feature store description ({type(error).__name__}); "
                        f"delete the folder {directory} and extract again") from None
    if not isinstance(description, dict) or not {"frontend", "nshards"} <= description.keys():
        raise UserError(f"{path}: not a feature store description (no frontend or nshards); "
                        f"delete the folder {directory} and extract again")
    return description


def check_store_description(output_dir: Path, description: dict, write: bool = False) -> None:
    """Refuse to add to a store whose ``frontend.json`` describes another extraction; with
    ``write``, record ``description`` there (the store's stamp, :func:`sse.core.stamps.claim`)."""
    read_store_description(output_dir)  # a damaged description is an error of its own
    has_state = folder_has_state(output_dir, "frontend.json")
    claim(output_dir / "frontend.json", description, has_state, f"{output_dir}",
          "delete it or use another --output_dir", write=write)


def check_requested_store(output_dir: str | os.PathLike, frontend_name: str, nshards: int,
                          path_ssl: str | None = None, layer: int | None = None, cmvn: str | None = None,
                          vads: Iterable[Vad] | None = None, precision: str = "fp32") -> None:
    """Refuse early (before loading any model) to add to a store made with other settings."""
    existing = read_store_description(output_dir)
    if existing is None:
        return
    if existing.get("version") != STORE_VERSION:
        raise UserError(f"{output_dir}: holds features of an older version of the toolkit (store version "
                        f"{existing.get('version')}, now {STORE_VERSION}); delete it or use another --output_dir")
    if vads is not None and existing.get("vads") != vad_list_fingerprint(vads):
        raise UserError(f"{output_dir}: holds the features of another VAD list; "
                        f"delete it or use another --output_dir")
    recorded = canonical_description(existing["frontend"])
    clash = (recorded["name"] != frontend_name or existing["nshards"] != nshards
             or recorded["cmvn"] != resolve_cmvn(frontend_name, cmvn)
             or existing.get("precision", "fp32") != precision)
    if frontend_name == "wav2vec2" and not clash:
        clash = ((layer is not None and recorded.get("layer") != layer)
                 or (path_ssl is not None and recorded.get("path") != os.path.abspath(path_ssl)))
    if clash:
        raise UserError(f"{output_dir}: holds features made with different settings ({recorded} in "
                        f"{existing['nshards']} shards, precision {existing.get('precision', 'fp32')}); "
                        f"delete it or use another --output_dir")


class _FrameWriter:
    """Appends float16 frames to a raw temporary file, then turns it into a ``.npy``."""

    def __init__(self, final: Path, dim: int) -> None:
        self.final, self.dim, self.rows = final, dim, 0
        self.raw_path = final.with_name(f".{final.name}.raw.part")
        self.raw = open(self.raw_path, "wb")

    def append(self, frames: np.ndarray) -> int:
        offset = self.rows
        self.raw.write(np.ascontiguousarray(frames, dtype=np.float16).tobytes())
        self.rows += len(frames)
        return offset

    def finish(self) -> None:
        self.raw.close()
        with atomic_open(self.final, "wb") as out, open(self.raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(
                out, {"descr": np.dtype(np.float16).str, "fortran_order": False,
                      "shape": (self.rows, self.dim)})
            while block := raw.read(1 << 24):
                out.write(block)
        self.raw_path.unlink()

    def abandon(self) -> None:
        self.raw.close()
        self.raw_path.unlink(missing_ok=True)


def check_vads_against_audio(corpus_root: str | os.PathLike, vads: Iterable[Vad],
                             progress: bool = True) -> dict:
    """Check every file exists and every VAD lies inside its file; return ``{wav: AudioInfo}``."""
    infos: dict = {}
    for vad in tqdm(vads, desc="checking audio", unit="vad", disable=not progress, leave=False):
        if vad.wav not in infos:
            infos[vad.wav] = audio_info(Path(corpus_root) / vad.wav)
        if vad.end > infos[vad.wav].duration + VAD_TOLERANCE:
            raise UserError(f"{Path(corpus_root) / vad.wav}: VAD [{format_time(vad.start)}, "
                            f"{format_time(vad.end)}] goes past the end of the file "
                            f"({infos[vad.wav].duration:.3f} s)")
    return infos


def extract_shard(frontend: Frontend, corpus_root: str | os.PathLike, vads: list[Vad],
                  output_dir: str | os.PathLike, shard: int = 0, nshards: int = 1,
                  num_workers: int = 2, progress: bool = True, group: int | None = None) -> bool:
    """Compute and store the frames of shard ``shard`` of ``vads``; False if it was already done.

    ``group`` VADs at a time go through the front-end together (default: :func:`vad_group`).
    """
    output_dir = Path(output_dir)
    description = store_description(frontend, nshards, vads)
    check_store_description(output_dir, description)
    name = shard_name(shard, nshards)
    index_path = output_dir / f"{name}.index"
    if index_path.exists():
        problem = shard_problem(output_dir, shard, nshards)
        if problem is None:
            logger.info("%s is already finished, skipping", index_path)
            return False
        logger.warning("%s: %s; extracting it again", name, problem)
        index_path.unlink()
    mine = vads[shard_slice(len(vads), shard, nshards)]
    kept = [vad for vad in mine if vad.duration >= MIN_VAD]
    if len(kept) < len(mine):
        logger.info("dropping %d VADs shorter than %g ms", len(mine) - len(kept), MIN_VAD * 1000)
    infos = check_vads_against_audio(corpus_root, kept, progress)
    # Only now that the list and its audio are known good does the store take shape.
    output_dir.mkdir(parents=True, exist_ok=True)
    check_store_description(output_dir, description, write=True)  # as checked above

    writer = _FrameWriter(output_dir / f"{name}.npy", frontend.dim)
    index_lines = []
    stats = SpeakerStats(frontend.dim) if frontend.cmvn == "speaker" else None
    try:
        loader = _piece_loader(corpus_root, kept, infos, frontend.frame_rate, num_workers)
        bar = tqdm(total=sum(vad.duration for vad in kept) / 3600, unit="h", desc=f"features {name}",
                   disable=not progress, bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} h [{elapsed}<{remaining}]")
        for vad, pieces, frames in _frames_by_vad(frontend, loader, group or vad_group(frontend)):
            vad_frames = vad_frames_of_pieces(frontend, pieces, frames).float().cpu().numpy()
            if stats is not None:
                stats.add(stats_key(vad), vad_frames)
            offset = writer.append(vad_frames)
            index_lines.append(f"{vad.wav} {vad.speaker} {format_time(vad.start)} "
                               f"{format_time(vad.end)} {offset} {len(vad_frames)}\n")
            bar.update(vad.duration / 3600)
        bar.close()
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    if stats is not None:
        stats.save(output_dir / f"{name}.stats.npz")
    with atomic_open(index_path, encoding="utf-8") as out:
        out.writelines(index_lines)
    remove_leftover_parts(output_dir, name)  # of runs killed before this one
    if all((output_dir / f"{shard_name(s, nshards)}.index").exists() for s in range(nshards)):
        remove_leftover_parts(output_dir, "frontend.json")
    logger.info("wrote %s: %d VADs, %d frames", name, len(index_lines), writer.rows)
    return True


def vad_group(frontend: Frontend) -> int:
    """VADs encoded together: many on a GPU, where equal-length pieces then share a forward
    pass; one on a CPU, where batching gains little and results stay bit-identical."""
    return 64 if torch.device(frontend.device).type == "cuda" else 1


def in_groups(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    buffer: list = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


def _frames_by_vad(frontend: Frontend, loader, group: int) -> Iterator:
    """(vad, pieces, frames of each piece) of every VAD the loader yields, in order, ``group``
    VADs at a time through ``frontend.batch`` (which batches pieces of equal length)."""
    for buffer in in_groups(loader, group):
        frames = frontend.batch([piece.samples for _, pieces in buffer for piece in pieces])
        at = 0
        for vad, pieces in buffer:
            yield vad, pieces, frames[at:at + len(pieces)]
            at += len(pieces)


class _DamagedShard(Exception):
    """A finished shard's files are cut short or unreadable (the message says how)."""


def _read_shard(directory: Path, shard: int, nshards: int) -> tuple[np.ndarray, list]:
    """A finished shard's frames (memory-mapped) and index entries, checked against each other;
    :class:`_DamagedShard` if they are missing, damaged or disagree."""
    return read_frames_and_index(directory, shard_name(shard, nshards), INDEX_FIELDS)


def _read_shard_stats(directory: Path, shard: int, nshards: int) -> SpeakerStats:
    """A finished shard's per-speaker CMVN sums; :class:`_DamagedShard` if missing or damaged."""
    path = directory / f"{shard_name(shard, nshards)}.stats.npz"
    if not path.exists():
        raise _DamagedShard(f"{path.name} is missing")
    try:
        return SpeakerStats.load(path)
    except UserError as error:
        raise _DamagedShard(str(error)) from None


def read_frames_and_index(directory: Path, name: str, fields: tuple) -> tuple[np.ndarray, list]:
    """``NAME.npy`` (float16 frames, memory-mapped) and the entries of ``NAME.index`` (one line an
    entry, ``fields``: (name, type) of each field, the last two the first frame and the count),
    checked against each other; :class:`_DamagedShard` if they are missing, damaged or disagree."""
    try:
        frames = np.load(directory / f"{name}.npy", mmap_mode="r")
    except FileNotFoundError:
        raise _DamagedShard(f"{name}.npy is missing") from None
    except (ValueError, OSError, EOFError) as error:
        raise _DamagedShard(f"{name}.npy is damaged ({str(error).splitlines()[0][:120]})") from None
    if frames.ndim != 2 or frames.dtype != np.float16:
        raise _DamagedShard(f"{name}.npy is not a float16 frame matrix")
    try:
        entries = parse_index(directory / f"{name}.index", fields)
    except (FormatError, OSError) as error:
        raise _DamagedShard(str(error)) from None
    end = max((entry[-2] + entry[-1] for entry in entries), default=0)
    if end != len(frames):
        raise _DamagedShard(f"{name}.index covers {end} frames but {name}.npy holds {len(frames)}")
    return frames, entries


def shard_problem(directory: str | os.PathLike, shard: int, nshards: int) -> str | None:
    """What is wrong with a finished shard's files (cut short, unreadable), or None if nothing."""
    try:
        _read_shard(Path(directory), shard, nshards)
        description = read_store_description(directory) or {}
        if canonical_description(description.get("frontend", {})).get("cmvn") == "speaker":
            _read_shard_stats(Path(directory), shard, nshards)
    except _DamagedShard as problem:
        return str(problem)
    return None


class _PieceDataset(torch.utils.data.Dataset):
    def __init__(self, corpus_root, vads, infos, frame_rate):
        self.corpus_root, self.vads, self.infos, self.frame_rate = corpus_root, vads, infos, frame_rate

    def __len__(self):
        return len(self.vads)

    def __getitem__(self, index):
        vad = self.vads[index]
        return vad, piece_audio(self.corpus_root, vad, self.frame_rate, info=self.infos[vad.wav])


def _piece_loader(corpus_root, vads, infos, frame_rate, num_workers) -> Iterator:
    """Read and resample audio in worker processes while the front-end runs."""
    dataset = _PieceDataset(corpus_root, vads, infos, frame_rate)
    return iter(torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False,
                                            num_workers=num_workers, prefetch_factor=4 if num_workers else None))


class StoredVad(NamedTuple):
    start: float
    end: float
    shard: int
    offset: int
    count: int


class FeatureStore:
    """Read frames back: ``store.frames(wav, start, end)`` for any span inside a stored VAD."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        description_path = self.directory / "frontend.json"
        if not description_path.is_file():
            raise UserError(f"{self.directory}: not a feature store (no frontend.json); "
                            f"run utils/extract_features.py first")
        self.description = read_store_description(self.directory)
        self.frontend = canonical_description(self.description["frontend"])
        self.frame_rate = int(self.frontend["frame_rate"])
        self.dim = int(self.frontend["dim"])
        nshards = int(self.description["nshards"])
        missing = [s for s in range(nshards)
                   if not (self.directory / f"{shard_name(s, nshards)}.index").exists()]
        if missing:
            raise UserError(f"{self.directory}: feature extraction is not finished: shard(s) "
                            f"{', '.join(map(str, missing[:10]))} of {nshards} missing")
        self.arrays: list[np.ndarray] = []
        self.vads: dict[str, list[StoredVad]] = {}
        self.speakers: dict[str, str] = {}
        #: per-speaker CMVN: the sums of every shard, applied by :meth:`frames`; None otherwise
        self.stats = SpeakerStats(self.dim) if self.frontend["cmvn"] == "speaker" else None
        for shard in range(nshards):  # each shard's files are read once: checked, then kept
            try:
                frames, entries = _read_shard(self.directory, shard, nshards)
                if self.stats is not None:
                    self.stats.merge(_read_shard_stats(self.directory, shard, nshards))
            except _DamagedShard as problem:
                raise UserError(f"{self.directory}: {problem}; rerun utils/extract_features.py, "
                                f"which extracts a damaged shard again") from None
            self.arrays.append(frames)
            for wav, speaker, start, end, offset, count in entries:
                self.speakers[wav] = speaker
                self.vads.setdefault(wav, []).append(StoredVad(start, end, shard, offset, count))
        for entries in self.vads.values():
            entries.sort()
        self._starts = {wav: [entry.start for entry in entries] for wav, entries in self.vads.items()}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.vads.values())

    def require_frontend(self, description: dict, user: str) -> None:
        """Refuse to serve ``user`` frames of another front-end (name, dim, rate, path, layer)."""
        if self.frontend != canonical_description(description):
            raise UserError(f"{self.directory}: holds {self.frontend['name']} features {self.frontend}, "
                            f"but {user} needs {description}")

    def locate(self, wav: str, start: float, end: float) -> StoredVad:
        """The stored VAD of ``wav`` that contains ``[start, end]`` (10 ms tolerance)."""
        entries = self.vads.get(wav)
        if entries is None:
            raise UserError(f"{self.directory}: no features for file {wav}")
        position = bisect.bisect_right(self._starts[wav], start + VAD_TOLERANCE) - 1
        if position >= 0 and entries[position].end >= end - VAD_TOLERANCE:
            return entries[position]
        raise UserError(f"{self.directory}: no stored VAD of {wav} contains "
                        f"[{format_time(start)}, {format_time(end)}]")

    def frames(self, wav: str, start: float, end: float) -> np.ndarray:
        """Frames of ``[start, end]`` of ``wav``; at least one frame: a float16 read-only view,
        or with per-speaker CMVN float32 frames normalised by the speaker's statistics."""
        entry = self.locate(wav, start, end)
        first, last = frame_span(start - entry.start, end - entry.start, entry.count, self.frame_rate)
        frames = self.arrays[entry.shard][entry.offset + first:entry.offset + last]
        if self.stats is not None:
            return self.stats.normalize(stats_key(Vad(wav, self.speakers[wav], entry.start, entry.end)), frames)
        return frames


#: The fields of a shard's ``.index`` line, and how each is read.
INDEX_FIELDS = (("wav", sys.intern), ("speaker", sys.intern), ("vad start", float), ("vad end", float),
                ("first frame", int), ("count", int))


def parse_index(path: Path, fields: tuple = INDEX_FIELDS) -> list[tuple]:
    """The entries of an ``.index`` file, one tuple a line, read field by field as ``fields`` says
    (a shard's: wav, speaker, vad start, vad end, first frame, count)."""
    entries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            values = line.split()
            try:
                if len(values) != len(fields):
                    raise ValueError
                entry = tuple(read(value) for (_, read), value in zip(fields, values))
            except ValueError:
                raise FormatError(path, number, f"expected {len(fields)} fields "
                                                f"({' '.join(f'<{name}>' for name, _ in fields)})") from None
            entries.append(entry)
    return entries
