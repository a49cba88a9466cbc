import os

import pytest

from sse.core.errors import FormatError
from sse.core.files import atomic_open
from sse.frames.formats import (
    Pair,
    Segment,
    Vad,
    format_time,
    read_pair_list,
    read_segment_list,
    read_vad_list,
    read_vads_of,
    write_pair_list,
    write_segment_list,
    write_vad_list,
)


def write(tmp_path, text, name="list"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_vad_list_round_trip(tmp_path):
    vads = [Vad("a/1.wav", "103", 0.0, 3.25), Vad("a/2.flac", "104", 1.5, 20.125)]
    write_vad_list(tmp_path / "vads", vads)
    assert (tmp_path / "vads").read_text() == "a/1.wav 103 0 3.25\na/2.flac 104 1.5 20.125\n"
    assert read_vad_list(tmp_path / "vads") == vads


def test_segment_list_round_trip_with_and_without_transcription(tmp_path):
    segments = [Segment("a.wav", "s1", 0.0, 2.0, 0.16, 0.48, "DH,AH,K"),
                Segment("b.wav", "s2", 1.0, 3.0, 1.0, 1.96)]
    write_segment_list(tmp_path / "segs", segments)
    assert read_segment_list(tmp_path / "segs") == segments
    assert (tmp_path / "segs").read_text().splitlines()[1] == "b.wav s2 1 3 1 1.96"


def test_pair_list_round_trip(tmp_path):
    pairs = [Pair("a.wav", "s1", 0.16, 0.48, "b.wav", "s2", 1.0, 1.32, 0.875)]
    write_pair_list(tmp_path / "pairs", pairs)
    assert read_pair_list(tmp_path / "pairs") == pairs


def test_format_time_keeps_microseconds_and_drops_trailing_zeros():
    assert format_time(0.16) == "0.16"
    assert format_time(0.1 + 0.2) == "0.3"
    assert format_time(3.0) == "3"
    assert format_time(1234.5678912) == "1234.567891"
    assert format_time(0.0) == "0"


@pytest.mark.parametrize("line, rule", [
    ("a.wav s 0.0", "expected 4 fields"),
    ("a.wav s 0.0 1.0 extra", "expected 4 fields"),
    ("a.wav s zero 1.0", "'zero' is not a number"),
    ("a.wav s 0.0 nan", "not a finite number"),
    ("a.wav s 0.0 inf", "not a finite number"),
    ("a.wav s -0.5 1.0", "is negative"),
    ("a.wav s 2.0 1.0", "is not before"),
    ("a.wav s 1.0 1.0", "is not before"),
])
def test_vad_list_errors_name_file_line_and_rule(tmp_path, line, rule):
    path = write(tmp_path, f"ok.wav s 0 1\n\n{line}\n")
    with pytest.raises(FormatError) as error:
        read_vad_list(path)
    assert str(error.value).startswith(f"{path}:3: ")
    assert rule in str(error.value)


def test_segment_must_lie_inside_its_vad_within_10_ms(tmp_path):
    inside = write(tmp_path, "a.wav s 1.0 2.0 0.995 2.009\n", "inside")
    assert len(read_segment_list(inside)) == 1
    for text in ("a.wav s 1.0 2.0 0.985 1.5\n", "a.wav s 1.0 2.0 1.5 2.02\n"):
        with pytest.raises(FormatError, match=r":1: segment .* is not inside its VAD"):
            read_segment_list(write(tmp_path, text, "outside"))


def test_segment_field_count_and_required_transcriptions(tmp_path):
    with pytest.raises(FormatError, match="expected 6 or 7 fields"):
        read_segment_list(write(tmp_path, "a.wav s 0 1 0 1 LABEL extra\n"))
    unlabelled = write(tmp_path, "a.wav s 0 1 0 0.5 A\na.wav s 0 1 0.5 1\n", "unlabelled")
    assert len(read_segment_list(unlabelled)) == 2
    with pytest.raises(FormatError, match=r":2: this segment has no transcription"):
        read_segment_list(unlabelled, require_transcriptions=True)


def test_empty_and_missing_lists(tmp_path):
    with pytest.raises(FormatError, match="the VAD list is empty"):
        read_vad_list(write(tmp_path, "\n\n"))
    assert read_vad_list(write(tmp_path, ""), allow_empty=True) == []
    with pytest.raises(FormatError, match="no such file"):
        read_segment_list(tmp_path / "missing")


def test_pair_list_errors(tmp_path):
    with pytest.raises(FormatError, match="expected 9 fields"):
        read_pair_list(write(tmp_path, "a s 0 1 b s 0 1\n"))
    with pytest.raises(FormatError, match="second segment start 2 is not before"):
        read_pair_list(write(tmp_path, "a s 0 1 b s 2 1 0.5\n"))
    with pytest.raises(FormatError, match="similarity 'high' is not a number"):
        read_pair_list(write(tmp_path, "a s 0 1 b s 0 1 high\n"))


def test_vads_of_a_segment_list_are_its_distinct_vads(tmp_path):
    path = write(tmp_path, "a s 0 2 0 0.5\na s 0 2 0.5 1\nb t 1 3 1 2\na s 0 2 1 1.5\n")
    assert read_vads_of(path) == [Vad("a", "s", 0, 2), Vad("b", "t", 1, 3)]
    assert read_vads_of(write(tmp_path, "a s 0 2\n", "vads")) == [Vad("a", "s", 0, 2)]


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as out:
            out.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["out"]
