"""Reading MFA TextGrids: both Praat layouts, both encodings, silence dropped, errors located."""
from __future__ import annotations

import pytest

from sse.core.errors import FormatError, UserError
from sse.prep.alignments import Interval
from sse.prep.labels import load_alignments
from sse.prep.textgrid import parse_textgrid, read_textgrid, read_textgrid_folder
from tests.helpers import long_textgrid, short_textgrid

# An MFA-style alignment of "the cat" with a pause: every kind of non-speech label appears once.
WORDS = [(0.0, 0.3, ""), (0.3, 0.52, "the"), (0.52, 0.8, "<eps>"), (0.8, 1.1, "o\"clock"),
         (1.1, 1.5, "")]
PHONES = [(0.0, 0.3, ""), (0.3, 0.41, "DH"), (0.41, 0.52, "AH0"), (0.52, 0.6, "sil"),
          (0.6, 0.7, "sp"), (0.7, 0.8, "spn"), (0.8, 0.95, "K"), (0.95, 1.1, "AE1"),
          (1.1, 1.5, "")]
EXPECTED_WORDS = [Interval(0.3, 0.52, "the"), Interval(0.8, 1.1, 'o"clock')]
EXPECTED_PHONES = [Interval(0.3, 0.41, "DH"), Interval(0.41, 0.52, "AH0"),
                   Interval(0.8, 0.95, "K"), Interval(0.95, 1.1, "AE1")]


MFA_TIERS = [("words", WORDS), ("phones", PHONES)]


def test_long_layout_keeps_speech_and_drops_every_silence_label(tmp_path):
    path = tmp_path / "utt.TextGrid"
    path.write_text(long_textgrid(MFA_TIERS), encoding="utf-8")
    alignment = read_textgrid(path)
    assert alignment.words == EXPECTED_WORDS
    assert alignment.phones == EXPECTED_PHONES


def test_short_layout_reads_the_same_as_long(tmp_path):
    path = tmp_path / "utt.TextGrid"
    path.write_text(short_textgrid(MFA_TIERS), encoding="utf-8")
    alignment = read_textgrid(path)
    assert alignment.words == EXPECTED_WORDS
    assert alignment.phones == EXPECTED_PHONES


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_utf16_and_byte_order_marks(tmp_path, encoding):
    # Praat writes UTF-16 when a label is not ASCII (here an IPA schwa).
    tiers = [("words", [(0.0, 0.5, "café")]), ("phones", [(0.0, 0.2, "k"), (0.2, 0.5, "ə")])]
    path = tmp_path / "ipa.TextGrid"
    path.write_bytes(long_textgrid(tiers, xmax=0.5).encode(encoding))
    alignment = read_textgrid(path)
    assert alignment.words == [Interval(0.0, 0.5, "café")]
    assert [phone.label for phone in alignment.phones] == ["k", "ə"]


def test_singular_and_multi_speaker_tier_names_and_point_tiers(tmp_path):
    text = long_textgrid([("word", [(0.0, 0.4, "hi")]), ("phone", [(0.0, 0.4, "HH")])], xmax=2)
    assert parse_textgrid(text).phones == [Interval(0.0, 0.4, "HH")]
    # MFA names tiers "<speaker> - phones" for multi-speaker files; both speakers are merged,
    # and a point tier (TextTier) in between is skipped.
    two_speakers = short_textgrid([("A - phones", [(0.0, 0.4, "HH"), (0.4, 1.5, "")]),
                                   ("B - phones", [(0.0, 1.0, ""), (1.0, 1.3, "AY1"), (1.3, 1.5, "")])])
    point_tier = '"TextTier"\n"tones"\n0\n1.5\n1\n0.7\n"H*"\n'
    header, rest = two_speakers.split('"IntervalTier"', 1)
    assert header.endswith("<exists>\n2\n")
    text = header[:-2] + "3\n" + point_tier + '"IntervalTier"' + rest
    alignment = parse_textgrid(text)
    assert alignment.phones == [Interval(0.0, 0.4, "HH"), Interval(1.0, 1.3, "AY1")]
    assert alignment.words == []


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "cut.TextGrid"
    path.write_text(long_textgrid(MFA_TIERS)[:-120], encoding="utf-8")
    with pytest.raises(FormatError, match=r"cut\.TextGrid: the file ends where"):
        read_textgrid(path)


def test_bad_value_names_file_and_line(tmp_path):
    text = long_textgrid(MFA_TIERS).replace("xmax = 0.41 ", 'xmax = "0.41" ')
    line = next(number for number, content in enumerate(text.splitlines(), start=1)
                if '"0.41"' in content)
    path = tmp_path / "bad.TextGrid"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=rf"bad\.TextGrid:{line}: expected an interval xmax \(number\)"):
        read_textgrid(path)


def test_inverted_interval_and_missing_phone_tier_are_errors(tmp_path):
    inverted = long_textgrid([("phones", [(0.5, 0.2, "AA")])])
    with pytest.raises(FormatError, match="xmin < xmax"):
        parse_textgrid(inverted, "x.TextGrid")
    with pytest.raises(FormatError, match=r"no phone tier.*'words'"):
        parse_textgrid(long_textgrid([("words", WORDS)]), "x.TextGrid")
    with pytest.raises(FormatError, match="not a Praat text file"):
        parse_textgrid('File type = "ooBinaryFile"\n', "x.TextGrid")


def test_counts_that_do_not_match_the_content_are_errors():
    text = short_textgrid([("phones", [(0.0, 0.2, "AA"), (0.2, 0.4, "B")])])
    fewer = text.replace("\n2\n0.0\n0.2\n", "\n1\n0.0\n0.2\n", 1)  # says 1 interval, holds 2
    assert fewer != text
    with pytest.raises(FormatError, match="left after the last tier"):
        parse_textgrid(fewer, "x.TextGrid")


def test_phone_label_with_comma_is_rejected():
    with pytest.raises(FormatError, match="comma"):
        parse_textgrid(long_textgrid([("phones", [(0.0, 0.2, "A,B")])]))


def test_folder_keys_are_relative_paths_without_extension(tmp_path):
    (tmp_path / "dev" / "84").mkdir(parents=True)
    (tmp_path / "dev" / "84" / "84-1-0001.TextGrid").write_text(long_textgrid(MFA_TIERS))
    (tmp_path / "top.textgrid").write_text(short_textgrid([("phones", [(0.1, 0.3, "S")])]))
    (tmp_path / "notes.txt").write_text("not a TextGrid")
    alignments = read_textgrid_folder(tmp_path)
    assert sorted(key for key, _ in alignments.items()) == ["dev/84/84-1-0001", "top"]
    assert alignments.get("dev/84/84-1-0001.flac").phones == EXPECTED_PHONES
    assert "top.wav" in alignments and "other.wav" not in alignments
    # load_alignments dispatches a folder to the TextGrid reader.
    loaded = load_alignments(tmp_path)
    assert loaded.get("top.wav").phones == [Interval(0.1, 0.3, "S")]


def test_folder_without_textgrids_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no .TextGrid files"):
        read_textgrid_folder(tmp_path)
