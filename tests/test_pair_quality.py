import pytest

from sse.formats import Pair, Segment
from sse.pair_quality import pair_quality


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
