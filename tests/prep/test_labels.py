"""Phone n-gram labels (the midpoint rule) and the transcribe_timestamps.py CLI."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from sse.core.errors import UserError
from sse.frames.formats import Segment, read_segment_list, write_segment_list
from sse.prep.alignments import Alignments, FileAlignment, Interval, write_alignment_file
from sse.prep.labels import label_segments, normalise_phone, phone_ngram, transcribe_segments
from tests.helpers import assert_clean_failure, long_textgrid, run_quiet, utterance

# ----------------------------------------------------------------------------- midpoint rule

# DH [0.25, 0.5) mid 0.375 | AH1 [0.5, 0.75) mid 0.625 | K [0.75, 1) mid 0.875 | silence 1..2
# | AE1 [2, 2.5) mid 2.25 | T [2.5, 2.75) mid 2.625
CAT = FileAlignment([], [Interval(0.25, 0.5, "DH"), Interval(0.5, 0.75, "AH1"),
                         Interval(0.75, 1.0, "K"), Interval(1.0, 2.0, "sil"),
                         Interval(2.0, 2.5, "AE1"), Interval(2.5, 2.75, "T")])


@pytest.mark.parametrize("start, end, expected", [
    (0.25, 1.0, "DH,AH,K"),       # exactly the phones
    (0.4, 0.9, "AH,K"),           # holds 40 % of DH (out) and 60 % of K (in)
    (0.3, 0.7, "DH,AH"),          # holds 80 % of DH and 80 % of AH1
    (0.3, 0.6, "DH"),             # holds 80 % of DH, 40 % of AH1
    (0.375, 0.875, "DH,AH"),      # a midpoint on the start is in, on the end is out
    (0.875, 1.5, "K"),            # K from its midpoint on: the midpoint is inside
    (0.9, 1.5, None),             # 40 % of K, then silence: no phone
    (1.1, 1.9, None),             # silence only (the "sil" interval is not a phone)
    (0.9, 2.4, "AE"),             # slivers of K, silence, most of AE1
])
def test_midpoint_rule(start, end, expected):
    assert phone_ngram(CAT, start, end) == expected


def test_midpoint_rule_keeps_or_drops_stress():
    assert phone_ngram(CAT, 0.5, 2.6) == "AH,K,AE"
    assert phone_ngram(CAT, 0.5, 2.6, keep_stress=True) == "AH1,K,AE1"
    assert normalise_phone("ER0") == "ER" and normalise_phone("OW2") == "OW"
    # Only a single ARPAbet stress digit after a letter is stress; IPA and other labels stay.
    assert normalise_phone("ə") == "ə" and normalise_phone("P12") == "P12"


def test_two_segments_cut_at_one_boundary_share_no_phone():
    left, right = phone_ngram(CAT, 0.25, 0.625), phone_ngram(CAT, 0.625, 1.0)
    assert (left, right) == ("DH", "AH,K")  # AH1's midpoint is the cut: it goes right


def test_transcribe_segments_drops_unlabelled_and_counts():
    alignments = Alignments({"a.wav": CAT, "b.wav": utterance("S", "AE1", "T", start=0.25)})
    segments = [Segment("a.wav", "s1", 0.0, 3.0, 0.25, 1.0),
                Segment("a.wav", "s1", 0.0, 3.0, 1.1, 1.9, "stale"),   # silence
                Segment("b.wav", "s2", 0.0, 1.0, 0.25, 0.4375),
                Segment("a.wav", "s1", 0.0, 3.0, 0.4, 0.9)]
    labelled, counts = transcribe_segments(segments, alignments)
    assert [segment.transcription for segment in labelled] == ["DH,AH,K", "S,AE,T", "AH,K"]
    assert labelled[1].wav == "b.wav" and labelled[1][:6] == segments[2][:6]
    assert (counts.segments, counts.labelled, counts.unlabelled) == (4, 3, 1)
    assert (counts.distinct_labels, counts.repeated_labels) == (3, 0)


def test_labelling_needs_every_file_aligned():
    segments = [Segment("a.wav", "s1", 0, 3, 0.25, 1.0), Segment("zzz.wav", "s1", 0, 1, 0, 1)]
    with pytest.raises(UserError, match=r"zzz\.wav: .*absent from the alignments"):
        label_segments(segments, Alignments({"a.wav": CAT}))


# ----------------------------------------------------------------------------- CLIs

@pytest.fixture
def aligned(tmp_path):
    """A corpus root with two 3 s wavs, their alignment file and a segment list."""
    root = tmp_path / "corpus"
    (root / "A").mkdir(parents=True)
    for wav in ("A/a.wav", "A/b.wav"):
        soundfile.write(root / wav, np.zeros(3 * 16000, dtype=np.float32), 16000)
    alignments = Alignments({"A/a.wav": CAT, "A/b.wav": utterance("S", "AE1", "T", start=0.25)})
    write_alignment_file(tmp_path / "align.txt", alignments)
    segments = [Segment("A/a.wav", "A", 0.0, 3.0, 0.25, 1.0),
                Segment("A/a.wav", "A", 0.0, 3.0, 1.1, 1.9),
                Segment("A/b.wav", "A", 0.0, 3.0, 0.25, 0.4375)]
    write_segment_list(tmp_path / "segments.txt", segments)
    return tmp_path


def test_transcribe_cli_writes_labels_and_leaves_out_silence(aligned):
    output = aligned / "out" / "labelled.txt"
    result = run_quiet("transcribe_timestamps.py", aligned / "segments.txt", aligned / "align.txt",
                        output, "--keep_stress", "--path_wavs", aligned / "corpus")
    assert result.returncode == 0, result.stderr
    labelled = read_segment_list(output, require_transcriptions=True)
    assert [(s.wav, s.start, s.end, s.transcription) for s in labelled] == [
        ("A/a.wav", 0.25, 1.0, "DH,AH1,K"), ("A/b.wav", 0.25, 0.4375, "S,AE1,T")]
    assert "3 segments in, 2 labelled, 1 left out" in result.stderr
    assert "2 distinct labels, 0 with at least 2 tokens" in result.stderr


def test_transcribe_cli_reads_a_textgrid_folder(aligned):
    folder = aligned / "textgrids" / "A"
    folder.mkdir(parents=True)
    (folder / "a.TextGrid").write_text(long_textgrid(
        [("words", [(0, 0.25, ""), (0.25, 1.0, "the"), (1.0, 3.0, "")]),
         ("phones", [(0, 0.25, "sil"), (0.25, 0.5, "DH"), (0.5, 0.75, "AH1"), (0.75, 1.0, "K"),
                     (1.0, 3.0, "")])], xmax=3))
    (folder / "b.TextGrid").write_text(long_textgrid(
        [("phones", [(0, 0.25, ""), (0.25, 0.3125, "S"), (0.3125, 0.375, "AE1"),
                     (0.375, 0.4375, "T"), (0.4375, 3.0, "")])], xmax=3))
    output = aligned / "labelled.txt"
    result = run_quiet("transcribe_timestamps.py", aligned / "segments.txt",
                        aligned / "textgrids", output)
    assert result.returncode == 0, result.stderr
    assert [s.transcription for s in read_segment_list(output)] == ["DH,AH,K", "S,AE,T"]


def test_transcribe_cli_malformed_line(aligned):
    (aligned / "bad.txt").write_text("A/a.wav A 0 3 0.25 1.0\nA/a.wav A 0 3 0.25\n")
    output = aligned / "out.txt"
    result = run_quiet("transcribe_timestamps.py", aligned / "bad.txt", aligned / "align.txt", output)
    assert_clean_failure(result, output, "bad.txt:2", "expected 6 or 7 fields")


def test_transcribe_cli_unaligned_file(aligned):
    (aligned / "other.txt").write_text("A/a.wav A 0 3 0.25 1.0\nA/missing.wav A 0 3 0.25 1.0\n")
    output = aligned / "out.txt"
    result = run_quiet("transcribe_timestamps.py", aligned / "other.txt", aligned / "align.txt", output)
    assert_clean_failure(result, output, "A/missing.wav", "absent from the alignments")


def test_transcribe_cli_segment_past_the_audio(aligned):
    (aligned / "long.txt").write_text("A/a.wav A 0 3.5 0.25 1.0\nA/b.wav A 0 3.5 2.5 3.25\n")
    output = aligned / "out.txt"
    result = run_quiet("transcribe_timestamps.py", aligned / "long.txt", aligned / "align.txt",
                        output, "--path_wavs", aligned / "corpus")
    assert_clean_failure(result, output, "A/b.wav", "past the end of the audio")
    # Without --path_wavs the audio is not consulted and the list is labelled.
    assert run_quiet("transcribe_timestamps.py", aligned / "long.txt", aligned / "align.txt",
                      output).returncode == 0


