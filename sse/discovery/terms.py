"""Spoken term discovery from speech sequence embeddings: which stretches of speech recur, and where.

The pipeline (docs/term_discovery.md says which steps follow the paper and which are our choices):

1. **Candidates.** Every segment of every VAD on the toolkit's grid (``sse/method/segments.py``: 0.16 s
   steps, 0.16 s to 0.96 s), or the segments of a given segment list.
2. **Embeddings**, by the one embedding path of the toolkit (``sse/evaluation/scoring.py``), or mean-pooled
   frames for the baseline.
3. **Matches**: the mining k-NN of ``sse/method/mining.py``: PCA to 128 dimensions, L2 normalisation,
   inner-product k-NN (exact, or approximate FAISS HNSW or IVF tuned to a recall target, whose
   recall on sampled queries is logged), then the self / same-file-overlap / non-maximum
   suppression filters and a similarity threshold: either given, or the highest one at which a
   share ``coverage`` of the candidates keeps a match (the mining coverage rule; one threshold for
   all segments, or with ``coverage_by="duration"`` one per segment duration).
4. **Overlap resolution** (:func:`resolve_overlaps`): matched segments are visited from the best
   matched down (similarities within 0.01 as equal, the longer first); one that overlaps an already kept token in the same file is not kept: if it
   overlaps that token by more than ``merge_overlap`` (intersection over union) it is the same
   stretch of speech and its matches move to the token, otherwise it is dropped with its
   matches. So no two discovered tokens share a stretch of speech.
5. **Classes** (:func:`connected_classes`): the match graph over the kept tokens is clustered by
   single linkage under a size cap: matches are joined from the most similar down, skipping any
   that would make a class larger than ``max_class_size`` (``None``: plain connected components,
   which chain unrelated tokens into giant classes once the threshold relaxes); classes of fewer
   than ``min_class_size`` tokens are dropped.

The result is written in the ZeroSpeech 2017 class format (:func:`write_class_file`)::

    Class 1
    <file> <onset> <offset>
    ...
    <blank line>

where ``<file>`` is the wav path as the VAD list gives it, without its extension.
"""
from __future__ import annotations

import bisect
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

import numpy as np

from sse import defaults
from sse.core.errors import FormatError, UserError
from sse.core.files import atomic_open
from sse.core.progress import tqdm
from sse.frames.formats import TEXT_ENCODING, Segment, Vad, format_time
from sse.method import knn
from sse.method.segments import GRID, make_segments

if TYPE_CHECKING:
    from sse.method.mining import MinedPairs, SegmentTable

# sse.method.mining and sse.method.knn load torch: imported where used, so the scripts' --help stays light.

logger = logging.getLogger(__name__)

#: Default share of candidate segments that keep a match (the mining coverage rule, lower than
#: the 50 % of pair mining: discovery wants precision; docs/term_discovery.md measures it).
COVERAGE = 0.10
#: Candidates that overlap a kept token by more than this (IoU) are the same stretch of speech.
MERGE_OVERLAP = 0.50
MIN_CLASS_SIZE = 2
#: Largest class (single linkage under this cap; None: plain connected components). Measured in
#: docs/term_discovery.md: components chain into giant classes as soon as the threshold relaxes.
MAX_CLASS_SIZE = 10
#: Best similarities this close count as equal when overlapping matches compete (the threshold step).
SIMILARITY_STEP = 0.01
#: Queries searched at once (bounds the memory of one k-NN block and times the progress bar).
SEARCH_CHUNK = 8192


@dataclass(frozen=True)
class DiscoverySettings:
    """How terms are discovered; k, PCA, NMS and the index are those of pair mining."""

    k: int = defaults.K                        # neighbours searched per segment
    pca_dim: int = defaults.PCA_DIM
    max_pca_fit: int = defaults.MAX_PCA_FIT
    nms_overlap: float = defaults.NMS_OVERLAP  # a neighbour overlapping a better one by more (IoU) is dropped
    coverage: float = COVERAGE                 # share of candidates that keep a match (ignored with threshold)
    coverage_by: str = "all"                   # one threshold for all segments, or "duration": one per duration
    threshold: float | None = None             # a fixed cosine threshold in [0, 1] instead of the coverage rule
    merge_overlap: float = MERGE_OVERLAP       # IoU above which an overlapping candidate joins the kept token
    min_class_size: int = MIN_CLASS_SIZE
    max_class_size: int | None = MAX_CLASS_SIZE  # cap on a class (single linkage); None: connected components
    index: str = defaults.KNN_INDEX
    nlist: int | None = None
    nprobe: int = defaults.NPROBE
    recall: float | None = None                # recall@k target of an approximate search (knn.build)
    seed: int = defaults.MINING_SEED


class Token(NamedTuple):
    """One discovered occurrence: a stretch of one file, named by its ZeroSpeech file ID."""

    file: str     # the wav path without its extension (:func:`file_id`)
    start: float
    end: float


def file_id(wav: str) -> str:
    """The ZeroSpeech file ID of a wav path: the path without its extension."""
    return os.path.splitext(wav)[0]


class Discovery(NamedTuple):
    """Discovered classes, largest first, and what it took to find them."""

    classes: list[list[Token]]
    wavs: dict                 # file ID -> wav path as the VAD list gives it
    threshold: float           # the (lowest) similarity threshold applied
    thresholds: dict           # {grid steps: threshold} with coverage_by="duration"
    candidates: int            # segments searched
    matches: int               # pairs kept by the threshold
    tokens_before_overlap: int  # matched segments, before overlap resolution

    @property
    def tokens(self) -> int:
        return sum(len(tokens) for tokens in self.classes)

    def summary(self) -> str:
        rule = (f"thresholds by duration {', '.join(f'{steps * GRID:.2f} s: {value:.2f}' for steps, value in sorted(self.thresholds.items()))}"
                if self.thresholds else f"threshold {self.threshold:.2f}")
        return (f"{len(self.classes)} classes, {self.tokens} tokens from {self.candidates} candidate segments "
                f"({self.matches} matches, {rule}; {self.tokens_before_overlap} matched segments before "
                f"overlap resolution)")


# -- 1. candidates ------------------------------------------------------------------------------
def candidate_segments(vads: Sequence[Vad] | None, features: str | os.PathLike | None = None,
                       max_segments: int | None = None, seed: int = 0) -> list[Segment]:
    """The grid segments of ``vads`` (or of every VAD of the feature store ``features``), all of
    them or a seeded uniform subset of ``max_segments``."""
    if vads is None:
        from sse.frames.feature_store import FeatureStore  # noqa: PLC0415

        store = FeatureStore(features)
        vads = [Vad(wav, store.speakers[wav], entry.start, entry.end)
                for wav, entries in store.vads.items() for entry in entries]
    segments = make_segments(list(vads), max_segments, seed)
    if not segments:
        raise UserError(f"no VAD is as long as one grid step ({GRID} s): no candidate segment")
    return segments


# -- 3. matches ---------------------------------------------------------------------------------
def search_neighbours(vectors: np.ndarray, settings: DiscoverySettings, device="cpu",
                      progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """k-NN of every row among all rows, by blocks of queries under a progress bar; an
    approximate search has its recall measured on sampled queries and logged."""
    k = min(settings.k, len(vectors))
    searcher = knn.build(vectors, settings.index, device, settings.recall, k, settings.nlist, settings.nprobe,
                         settings.seed)
    logger.info("k-NN: %s over %d vectors", searcher.describe(), len(vectors))
    if not searcher.exact:
        sample = min(knn.RECALL_SAMPLE, len(vectors))
        logger.info("k-NN recall@%d against exact search, on %d sampled queries: %.4f", k, sample,
                    knn.recall(searcher, k, sample, settings.seed + 1))
    similarities = np.empty((len(vectors), k), dtype=np.float32)
    ids = np.empty((len(vectors), k), dtype=np.int64)
    bar = tqdm(total=len(vectors), desc="k-NN", unit="seg", disable=not progress, leave=False)
    for begin in range(0, len(vectors), SEARCH_CHUNK):
        found = searcher.neighbours(slice(begin, begin + SEARCH_CHUNK), k)
        similarities[begin:begin + len(found[0])], ids[begin:begin + len(found[0])] = found
        bar.update(len(found[0]))
    bar.close()
    return similarities, ids


def find_matches(embeddings: np.ndarray, table: SegmentTable, settings: DiscoverySettings,
                 device="cpu", progress: bool = True) -> MinedPairs:
    """Pairs of candidates that match: the mining k-NN, filters and threshold (module docstring)."""
    from sse.method import mining  # noqa: PLC0415

    pca = mining.fit_pca(embeddings, settings.pca_dim, settings.max_pca_fit, settings.seed)
    vectors = mining.project(embeddings, pca)
    similarities, ids = search_neighbours(vectors, settings, device, progress)
    if settings.threshold is None:
        return mining.select_pairs(table, similarities, ids, settings.nms_overlap, settings.coverage,
                                   coverage_by=settings.coverage_by)
    # Every filtered pair of non-negative similarity (the coverage rule on a grid of step 2 can
    # only land on 0 or below), then the fixed threshold, which is at least 0.
    every = mining.select_pairs(table, similarities, ids, settings.nms_overlap, 1.0, step=2.0)
    keep = every.similarity >= settings.threshold - mining.TOLERANCE
    covered = int((every.best >= settings.threshold - mining.TOLERANCE).sum())
    return mining.MinedPairs(every.first[keep], every.second[keep], every.similarity[keep],
                             settings.threshold, covered, every.best)


# -- 4. overlap resolution ----------------------------------------------------------------------
def resolve_overlaps(table: SegmentTable, first: np.ndarray, second: np.ndarray,
                     similarity: np.ndarray, merge_overlap: float = MERGE_OVERLAP,
                     step: float | None = None) -> np.ndarray:
    """Each matched segment's representative: itself if kept as a token, the kept token it
    overlaps by more than ``merge_overlap`` (IoU), or -1 (dropped). Segments not in any pair get -1.

    Segments are visited by decreasing best similarity in steps of ``step`` (default
    :data:`SIMILARITY_STEP`; within a step, longer first, then more similar); a segment is kept if
    it overlaps no kept token of its file. Kept tokens never overlap one another.
    """
    count = len(table.file)
    best = np.full(count, -np.inf)
    np.maximum.at(best, first, similarity)
    np.maximum.at(best, second, similarity)
    matched = np.flatnonzero(np.isfinite(best))
    duration = table.end - table.start
    # Similarities within one threshold step (0.01) count as equal, and the longer segment goes
    # first: a whole word and its first syllable match about equally well, and the word is the term.
    step = SIMILARITY_STEP if step is None else step
    level = np.floor(best[matched] / step + 1e-6) if step > 0 else best[matched]
    order = matched[np.lexsort((-best[matched], -duration[matched], -level))]
    representative = np.full(count, -1, dtype=np.int64)
    kept_starts: dict[int, list[float]] = defaultdict(list)  # per file, kept tokens sorted by start
    kept_ids: dict[int, list[int]] = defaultdict(list)
    starts, ends, files = table.start, table.end, table.file
    for node in order.tolist():
        file, start, end = int(files[node]), float(starts[node]), float(ends[node])
        file_starts, file_ids = kept_starts[file], kept_ids[file]
        position = bisect.bisect_left(file_starts, start)
        # Kept tokens do not overlap, so only the one before and those starting before `end` can.
        overlapping = []
        if position > 0 and ends[file_ids[position - 1]] > start:
            overlapping.append(file_ids[position - 1])
        after = position
        while after < len(file_ids) and file_starts[after] < end:
            overlapping.append(file_ids[after])
            after += 1
        if not overlapping:
            file_starts.insert(position, start)
            file_ids.insert(position, node)
            representative[node] = node
            continue
        overlaps = [min(end, ends[o]) - max(start, starts[o]) for o in overlapping]
        nearest = overlapping[int(np.argmax(overlaps))]
        union = max(end, ends[nearest]) - min(start, starts[nearest])
        if max(overlaps) / union > merge_overlap:
            representative[node] = nearest
    return representative


# -- 5. classes ---------------------------------------------------------------------------------
def connected_classes(first: np.ndarray, second: np.ndarray, representative: np.ndarray,
                      min_class_size: int = MIN_CLASS_SIZE, similarity: np.ndarray | None = None,
                      max_class_size: int | None = None) -> list[np.ndarray]:
    """Classes of kept tokens (segment indices, sorted), largest first: the connected components of
    the match graph between kept tokens; components of fewer than ``min_class_size`` tokens are
    left out.

    With ``max_class_size``, matches are joined from the most similar down (single linkage) and a
    match that would join two classes into one larger than that is skipped, so one chain of
    mediocre matches cannot gather unrelated tokens into one giant class (``similarity`` orders them).
    """
    a, b = representative[first], representative[second]
    valid = (a >= 0) & (b >= 0) & (a != b)
    a, b = a[valid], b[valid]
    nodes = np.unique(np.concatenate([a, b]))
    if len(nodes) == 0:
        return []
    left, right = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    weights = similarity[valid] if similarity is not None else np.zeros(len(left))
    labels = _capped_single_linkage(len(nodes), left, right, weights, max_class_size or len(nodes))
    order = np.argsort(labels, kind="stable")
    groups = np.split(nodes[order], np.flatnonzero(np.diff(labels[order])) + 1)
    groups = [np.sort(group) for group in groups if len(group) >= min_class_size]
    groups.sort(key=lambda group: (-len(group), int(group[0])))
    return groups


def _capped_single_linkage(count: int, left: np.ndarray, right: np.ndarray, similarity: np.ndarray,
                           max_size: int) -> np.ndarray:
    """Union-find over edges by decreasing similarity, skipping unions above ``max_size``: labels.

    With ``max_size`` at least the node count, these are the connected components."""
    parent = list(range(count))
    size = [1] * count

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for edge in np.argsort(-similarity, kind="stable").tolist():
        x, y = root(int(left[edge])), root(int(right[edge]))
        if x != y and size[x] + size[y] <= max_size:
            if size[x] < size[y]:
                x, y = y, x
            parent[y] = x
            size[x] += size[y]
    return np.array([root(node) for node in range(count)])


def discover(embeddings: np.ndarray, segments: Sequence[Segment], settings: DiscoverySettings = DiscoverySettings(),
             device="cpu", progress: bool = True) -> Discovery:
    """Discovered classes of ``segments`` from their embeddings (rows in list order)."""
    if len(segments) < 2:
        raise UserError(f"{len(segments)} candidate segment(s): discovery needs at least two")
    from sse.method.mining import SegmentTable  # noqa: PLC0415

    table = SegmentTable.of(segments)
    mined = find_matches(embeddings, table, settings, device, progress)
    representative = resolve_overlaps(table, mined.first, mined.second, mined.similarity, settings.merge_overlap)
    groups = connected_classes(mined.first, mined.second, representative, settings.min_class_size,
                               mined.similarity, settings.max_class_size)
    classes = [[Token(file_id(segments[i].wav), segments[i].start, segments[i].end) for i in group.tolist()]
               for group in groups]
    wavs = {file_id(segment.wav): segment.wav for segment in segments}
    if len(wavs) < len({segment.wav for segment in segments}):
        raise UserError("two wav paths differ only by their extension, so their ZeroSpeech file IDs "
                        "(paths without extension) would be the same")
    matched = len(np.union1d(mined.first, mined.second))
    return Discovery(classes, wavs, mined.threshold, dict(mined.thresholds), len(segments), len(mined.first), matched)


# -- the class file -----------------------------------------------------------------------------
def format_class_file(classes: Iterable[Sequence[Token]]) -> str:
    """The ZeroSpeech 2017 class file text: ``Class N`` blocks, a blank line after each."""
    blocks = []
    for number, tokens in enumerate(classes, start=1):
        lines = [f"Class {number}"] + [f"{token.file} {format_time(token.start)} {format_time(token.end)}"
                                       for token in tokens]
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


def write_class_file(path: str | os.PathLike, classes: Iterable[Sequence[Token]]) -> None:
    """Write classes in the ZeroSpeech 2017 format, atomically."""
    with atomic_open(path, encoding="utf-8") as out:
        out.write(format_class_file(classes))


def read_class_file(path: str | os.PathLike) -> list[list[Token]]:
    """Read a ZeroSpeech 2017 class file (tokens carry the file IDs as written)."""
    path = Path(path)
    try:
        text = path.read_text(encoding=TEXT_ENCODING)
    except FileNotFoundError:
        raise FormatError(path, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(path, None, f"cannot be read ({getattr(error, 'strerror', None) or error})") from None
    classes: list[list[Token]] = []
    current: list[Token] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            if current is not None:
                classes.append(current)
            current = None
        elif fields[0] == "Class":
            if current is not None:
                classes.append(current)
            current = []
        elif current is None:
            raise FormatError(path, number, "a token line outside a class (expected a 'Class N' line first)")
        elif len(fields) != 3:
            raise FormatError(path, number, f"expected 3 fields (<file> <onset> <offset>), found {len(fields)}")
        else:
            try:
                start, end = float(fields[1]), float(fields[2])
            except ValueError:
                raise FormatError(path, number, "onset and offset must be numbers") from None
            if not (np.isfinite(start) and np.isfinite(end)):
                raise FormatError(path, number, f"onset and offset must be finite times, not {fields[1]} {fields[2]}")
            if not 0 <= start < end:
                raise FormatError(path, number, f"[{fields[1]}, {fields[2]}] is not a span with 0 <= onset < offset")
            current.append(Token(fields[0], start, end))
    if current is not None:
        classes.append(current)
    return classes


def overlapping_tokens(classes: Iterable[Sequence[Token]]) -> list[tuple[Token, Token]]:
    """Pairs of tokens (of any classes) that share a stretch of one file; empty when resolved."""
    by_file: dict[str, list[Token]] = defaultdict(list)
    for tokens in classes:
        for token in tokens:
            by_file[token.file].append(token)
    clashes = []
    for tokens in by_file.values():
        tokens.sort(key=lambda token: (token.start, token.end))
        for before, after in zip(tokens, tokens[1:]):
            if after.start < before.end:
                clashes.append((before, after))
    return clashes
