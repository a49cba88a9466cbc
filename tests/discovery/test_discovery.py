"""Spoken term discovery (sse/discovery/terms.py) and its scoring by the ZeroSpeech tool (sse/discovery/scoring.py)."""
from __future__ import annotations

import numpy as np
import pytest

from sse.core.errors import FormatError, UserError
from sse.discovery.scoring import score_classes
from sse.discovery.terms import (
    DiscoverySettings,
    Token,
    connected_classes,
    discover,
    format_class_file,
    overlapping_tokens,
    read_class_file,
    resolve_overlaps,
    write_class_file,
)
from sse.frames.formats import Segment, Vad
from sse.method.mining import SegmentTable
from sse.method.segments import make_segments
from sse.prep.alignments import FileAlignment, Interval

CLASSES = [[Token("dev/a", 0.5, 0.98), Token("dev/b.take2", 1.12, 1.6), Token("c", 0.0, 0.16)],
           [Token("dev/a", 1.3, 1.62), Token("c", 2.0, 2.333333)]]


def test_the_class_file_round_trips_and_the_zerospeech_reader_accepts_it(tmp_path):
    path = tmp_path / "classes.txt"
    write_class_file(path, CLASSES)
    text = path.read_text()
    assert text.startswith("Class 1\ndev/a 0.5 0.98\n") and text.endswith("c 2 2.333333\n\n")
    assert "\n\nClass 2\n" in text
    assert read_class_file(path) == CLASSES
    assert not list(tmp_path.glob("*.part"))

    from tde.readers.disc_reader import Disc  # the reference reader, without gold

    disc = Disc(str(path))
    assert sorted(len(tokens) for tokens in disc.clusters.values()) == [2, 3]
    assert {(f, on, off) for f, on, off, *_ in disc.intervals} == {tuple(t) for c in CLASSES for t in c}


def test_a_bad_class_file_names_its_line(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("Class 1\ndev/a 0.5 0.98\ndev/b 0.7\n\n")
    with pytest.raises(FormatError, match=r"classes.txt:3: expected 3 fields"):
        read_class_file(path)
    path.write_text("dev/a 0.5 0.98\n")
    with pytest.raises(FormatError, match=r":1: a token line outside a class"):
        read_class_file(path)


def _grid_table(seed: int) -> tuple[list[Segment], SegmentTable]:
    rng = np.random.default_rng(seed)
    vads = [Vad(f"f{i}.wav", "s", 0.1 * rng.integers(0, 5), 0.1 * rng.integers(0, 5) + rng.uniform(1.0, 3.0))
            for i in range(4)]
    segments = make_segments(vads)
    return segments, SegmentTable.of(segments)


@pytest.mark.parametrize("seed", range(5))
def test_overlap_resolution_never_leaves_two_tokens_on_one_stretch(seed):
    segments, table = _grid_table(seed)
    rng = np.random.default_rng(100 + seed)
    count = len(segments)
    first, second = rng.integers(0, count, 3 * count), rng.integers(0, count, 3 * count)
    similarity = rng.uniform(0.5, 1.0, len(first)).astype(np.float32)
    representative = resolve_overlaps(table, first, second, similarity, merge_overlap=0.5)
    kept = np.flatnonzero(representative == np.arange(count))
    tokens = [[Token(segments[i].wav, segments[i].start, segments[i].end) for i in kept]]
    assert len(kept) > 3 and overlapping_tokens(tokens) == []
    # Every matched segment that is not kept overlaps its representative by more than half (IoU).
    merged = np.flatnonzero((representative >= 0) & (representative != np.arange(count)))
    assert len(merged) > 0
    for node in merged.tolist():
        target = representative[node]
        assert representative[target] == target and segments[node].wav == segments[target].wav
        inter = min(segments[node].end, segments[target].end) - max(segments[node].start, segments[target].start)
        union = max(segments[node].end, segments[target].end) - min(segments[node].start, segments[target].start)
        assert inter / union > 0.5
    # and the classes built on them, too, never share a stretch of speech
    groups = connected_classes(first, second, representative, 2, similarity, 4)
    found = [[Token(segments[i].wav, segments[i].start, segments[i].end) for i in group] for group in groups]
    assert found and overlapping_tokens(found) == [] and max(len(g) for g in groups) <= 4


def test_the_overlap_check_itself_sees_an_overlap():
    assert overlapping_tokens([[Token("a", 0, 1)], [Token("a", 0.5, 0.7), Token("b", 0.5, 0.7)]]) == [
        (Token("a", 0, 1), Token("a", 0.5, 0.7))]


def test_classes_are_components_or_capped_single_linkage():
    first = np.array([0, 1, 2, 5, 7])
    second = np.array([1, 2, 3, 6, 7])  # 7-7 is a self-loop: ignored
    similarity = np.array([0.9, 0.5, 0.8, 0.7, 1.0], dtype=np.float32)
    everyone = np.arange(8)
    assert [g.tolist() for g in connected_classes(first, second, everyone)] == [[0, 1, 2, 3], [5, 6]]
    # Capped at 2: the weakest link (1-2, 0.5) is the one left out.
    assert [g.tolist() for g in connected_classes(first, second, everyone, 2, similarity, 2)] == [
        [0, 1], [2, 3], [5, 6]]
    # A dropped token (-1) takes its matches with it.
    dropped = everyone.copy()
    dropped[1] = -1
    assert [g.tolist() for g in connected_classes(first, second, dropped)] == [[2, 3], [5, 6]]


def test_discovery_groups_segments_whose_embeddings_repeat():
    """Two 'words' (embedding directions) each said in three files; everything else is noise."""
    vads = [Vad(f"file{i}.wav", f"s{i}", 0.0, 2.0) for i in range(6)]
    segments = make_segments(vads)
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(segments), 32)).astype(np.float32)
    words = rng.normal(size=(2, 32)).astype(np.float32) * 4
    planted = {}
    for index, segment in enumerate(segments):
        number = int(segment.wav[4])
        if (segment.start, segment.end) == (0.32, 0.8):
            planted[index] = number % 2  # word 0 in files 0, 2, 4; word 1 in files 1, 3, 5
            embeddings[index] = words[number % 2] + rng.normal(scale=0.05, size=32)
    found = discover(embeddings, segments, DiscoverySettings(coverage=0.02, pca_dim=16), progress=False)
    expected = sorted(sorted((segments[i].wav[:-4], 0.32, 0.8) for i in planted if planted[i] == w) for w in (0, 1))
    assert sorted(sorted(tuple(t) for t in tokens) for tokens in found.classes[:2]) == expected
    assert overlapping_tokens(found.classes) == []
    # A fixed threshold instead of the coverage rule: the planted pairs are far above it, noise below.
    fixed = discover(embeddings, segments, DiscoverySettings(threshold=0.9, pca_dim=16), progress=False)
    assert sorted(sorted(tuple(t) for t in tokens) for tokens in fixed.classes) == expected
    assert fixed.threshold == 0.9
    with pytest.raises(UserError, match="at least two"):
        discover(embeddings[:1], segments[:1])


def _gold() -> dict[str, FileAlignment]:
    """Two files saying 'ab cd' and 'cd ab' (words of two one-letter phones, 0.1 s each)."""
    def file(order):
        words, phones, time = [], [], 0.0
        for word in order:
            words.append(Interval(time, time + 0.2, word))
            phones += [Interval(time, time + 0.1, word[0].upper()), Interval(time + 0.1, time + 0.2, word[1].upper())]
            time += 0.2
        return FileAlignment(words, phones)
    return {"x": file(["ab", "cd"]), "y": file(["cd", "ab"])}


def test_the_zerospeech_tool_scores_a_perfect_and_a_wrong_grouping(tmp_path):
    right, wrong = tmp_path / "right.txt", tmp_path / "wrong.txt"
    write_class_file(right, [[Token("x", 0.0, 0.2), Token("y", 0.2, 0.4)], [Token("x", 0.2, 0.4), Token("y", 0.0, 0.2)]])
    write_class_file(wrong, [[Token("x", 0.0, 0.2), Token("y", 0.0, 0.2)]])
    perfect = score_classes(right, _gold())
    assert perfect.ned == 0.0 and perfect.coverage == 1.0 and perfect.pairs == 2
    assert perfect.token == (1.0, 1.0, 1.0) and perfect.type[2] == 1.0 and perfect.grouping[2] == 1.0
    bad = score_classes(wrong, _gold(), ["ned", "coverage"])
    assert bad.ned == 1.0 and bad.coverage == 0.5
    assert "| NED | 1.0000 |" in bad.table()


def test_scoring_refuses_a_file_the_gold_does_not_hold(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text(format_class_file([[Token("x", 0.0, 0.2), Token("z", 0.0, 0.2)]]))
    with pytest.raises(UserError, match="file z is not in the gold"):
        score_classes(path, _gold())
