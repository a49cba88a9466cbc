import numpy as np
import pytest

from sse.evaluation.pair_quality import Units, edit_distance, normalised_edit_distance, pair_quality, side_report
from sse.frames.formats import Pair, Segment


def test_pairs_are_scored_against_the_labels_they_overlap():
    words = [Segment("s1.wav", "ann", 0, 3, 0.20, 0.70, "one"), Segment("s1.wav", "ann", 0, 3, 1.00, 1.50, "two"),
             Segment("s2.wav", "bob", 0, 3, 0.30, 0.80, "one"), Segment("s2.wav", "bob", 0, 3, 1.20, 1.60, "two")]
    pairs = [
        Pair("s1.wav", "ann", 0.16, 0.64, "s2.wav", "bob", 0.32, 0.80, 0.9),  # one ~ one (IoU 0.8 and 0.94): correct
        Pair("s1.wav", "ann", 0.96, 1.44, "s2.wav", "bob", 0.32, 0.80, 0.8),  # two ~ one: wrong
        Pair("s1.wav", "ann", 0.16, 0.64, "s1.wav", "ann", 0.96, 1.44, 0.7),  # one ~ two, same file and speaker
        Pair("s1.wav", "ann", 0.64, 1.12, "s2.wav", "bob", 1.12, 1.60, 0.6),  # first side straddles two words
    ]
    quality = pair_quality(pairs, words)
    assert (quality.pairs, quality.labelled, quality.same_label) == (4, 3, 1)
    assert quality.precision == pytest.approx(1 / 3)
    assert (quality.same_speaker, quality.same_file) == (1, 1)
    assert quality.random_same_label == pytest.approx(7 / 15, abs=0.02)  # sides: 4 "one", 2 "two"
    assert "precision 33.3%" in str(quality)


def test_units_speech_share_and_sequence_follow_the_zerospeech_rule():
    words = [Segment("s.wav", "ann", 0, 3, 0.25, 0.75, "one"), Segment("s.wav", "ann", 0, 3, 1.0, 1.5, "two"),
             Segment("s.wav", "ann", 0, 3, 1.5, 2.5, "three")]
    units = Units.from_segments(words)
    assert units.speech_share("s.wav", 0.0, 1.25) == pytest.approx(0.6)   # 0.5 s of "one", 0.25 s of "two"
    assert units.speech_share("other.wav", 0.0, 1.0) == 0.0
    # "one" is covered wholly; "two" by 250 ms (half of it: counts); "three" by 20 ms of 1 s: does not count
    assert units.sequence("s.wav", 0.5, 1.52) == ["one", "two"]
    assert units.sequence("s.wav", 0.5, 1.54) == ["one", "two", "three"]  # 40 ms >= 30 ms counts
    assert units.sequence("s.wav", 0.76, 0.99) == []


def test_normalised_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert normalised_edit_distance(["a", "b"], ["a", "b"]) == 0
    assert normalised_edit_distance(["a", "b", "c"], ["a", "x"]) == pytest.approx(2 / 3)
    assert np.isnan(normalised_edit_distance([], []))


def test_side_report_of_pairs():
    words = [Segment("s1.wav", "ann", 0, 3, 0.2, 0.7, "one"), Segment("s2.wav", "bob", 0, 3, 0.3, 0.8, "one"),
             Segment("s2.wav", "bob", 0, 3, 1.2, 1.6, "two")]
    pairs = [Pair("s1.wav", "ann", 0.16, 0.64, "s2.wav", "bob", 0.32, 0.80, 0.9),   # one ~ one
             Pair("s1.wav", "ann", 2.00, 2.16, "s2.wav", "bob", 1.20, 1.60, 0.8)]   # pause ~ two
    report = side_report(pairs, Units.from_segments(words))
    np.testing.assert_allclose(report.duration, [[0.48, 0.48], [0.16, 0.40]], atol=1e-9)
    np.testing.assert_allclose(report.speech, [[0.44 / 0.48, 1.0], [0.0, 1.0]], atol=1e-9)
    np.testing.assert_allclose(report.ned, [0.0, 1.0])
    assert report.same_main_unit.tolist() == [True, False]
