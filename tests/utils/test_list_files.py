"""List files as users make them: a UTF-8 byte-order mark is read like a plain list, and a list
written again removes the temporaries of killed writes."""
from __future__ import annotations

import numpy as np

from sse.frames.formats import read_segment_list, read_vad_list, write_segment_list
from tests.helpers import REPO, run_inprocess

BOM = "\ufeff"


def test_bom_is_dropped_by_every_list_reader(tmp_path):
    from sse.frames.formats import read_pair_list
    from sse.prep.alignments import read_alignment_file

    cases = {"vads": ("a.wav s 0 1\n", read_vad_list),
             "segments": ("a.wav s 0 1 0 0.5 AH\n", read_segment_list),
             "pairs": ("a.wav s 0 1 b.wav t 0 1 0.5\n", read_pair_list),
             "alignments": ("a.wav phone 0 1 AH\n", read_alignment_file)}
    for name, (line, reader) in cases.items():
        plain, marked = tmp_path / name, tmp_path / f"{name}.bom"
        plain.write_text(line, encoding="utf-8")
        marked.write_text(BOM + line, encoding="utf-8")
        read = reader(marked)
        assert (read.files if name == "alignments" else read) == \
            (reader(plain).files if name == "alignments" else reader(plain)), name


def test_make_segments_writes_no_bom_into_the_first_path(word_corpus, tmp_path):
    vads = tmp_path / "vads"
    vads.write_text(BOM + word_corpus.vads.read_text(), encoding="utf-8")
    assert run_inprocess("make_segments.py", vads, tmp_path / "marked")[0] == 0
    assert run_inprocess("make_segments.py", word_corpus.vads, tmp_path / "plain")[0] == 0
    assert (tmp_path / "marked").read_bytes() == (tmp_path / "plain").read_bytes()
    assert not (tmp_path / "marked").read_bytes().startswith(BOM.encode())


def test_transcribe_timestamps_labels_a_bom_list_like_a_plain_one(tmp_path):
    alignments = REPO / "training_data" / "demo" / "alignments.txt"
    segments = read_segment_list(REPO / "training_data" / "demo-ngrams")[:200]
    write_segment_list(tmp_path / "plain", segments)
    (tmp_path / "marked").write_text(BOM + (tmp_path / "plain").read_text(), encoding="utf-8")
    (tmp_path / "alignments").write_text(BOM + alignments.read_text(encoding="utf-8"), encoding="utf-8")
    assert run_inprocess("transcribe_timestamps.py", tmp_path / "plain", alignments, tmp_path / "a")[0] == 0
    assert run_inprocess("transcribe_timestamps.py", tmp_path / "marked", tmp_path / "alignments",
                         tmp_path / "b")[0] == 0
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text()


def test_map_dump_reads_a_bom_segment_list(word_corpus, tmp_path):
    (tmp_path / "marked").write_text(BOM + word_corpus.segments.read_text(), encoding="utf-8")
    for name, segments in (("a.npy", word_corpus.segments), ("b.npy", tmp_path / "marked")):
        code, _, stderr = run_inprocess("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", segments,
                                        "--task=dump", "--baseline", "mean", "--frontend", "mfcc",
                                        "--output_file", tmp_path / name, "--device", "cpu")
        assert code == 0, stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_a_list_written_again_removes_the_temporaries_of_killed_writes(word_corpus, tmp_path):
    leftover = tmp_path / ".segments.k1ll3d00.part"
    leftover.write_text("half a segment list")
    assert run_inprocess("make_segments.py", word_corpus.vads, tmp_path / "segments")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segments"]
