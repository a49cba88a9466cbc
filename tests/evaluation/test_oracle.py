import numpy as np
import pytest

from sse.core.errors import UserError
from sse.evaluation.oracle import label_grid_segments, oracle_pairs
from sse.frames.formats import Segment


def tokens(files=6, words=("one", "two", "three"), speakers=("ann", "bob", "cy")):
    """Each file holds the words in a row, 0.5 s each; file f is spoken by speaker f mod 3."""
    return [Segment(f"f{f}.wav", speakers[f % len(speakers)], 0, 2, 0.5 * w, 0.5 * w + 0.5, word)
            for f in range(files) for w, word in enumerate(words)]


def test_pairs_join_one_label_across_files_with_the_asked_speaker_share():
    candidates = tokens(files=12)
    pairs = oracle_pairs(candidates, 3000, same_speaker_share=0.75, seed=1)
    label = {(s.wav, s.start): s.transcription for s in candidates}
    assert len(pairs) == 3000
    assert all(p.wav1 != p.wav2 for p in pairs)
    assert all(label[p.wav1, p.start1] == label[p.wav2, p.start2] for p in pairs)
    assert np.mean([p.speaker1 == p.speaker2 for p in pairs]) == pytest.approx(0.75, abs=0.03)


def test_wrong_share_gives_that_share_of_pairs_of_two_labels():
    candidates = tokens(files=12)
    label = {(s.wav, s.start): s.transcription for s in candidates}
    pairs = oracle_pairs(candidates, 4000, wrong_share=0.16, seed=2)
    wrong = np.mean([label[p.wav1, p.start1] != label[p.wav2, p.start2] for p in pairs])
    assert wrong == pytest.approx(0.16, abs=0.02)


def test_grid_segments_take_the_label_of_the_token_they_cover():
    words = tokens(files=1)
    grid = [Segment("f0.wav", "ann", 0, 2, 0.0, 0.48), Segment("f0.wav", "ann", 0, 2, 0.48, 0.96),
            Segment("f0.wav", "ann", 0, 2, 0.32, 0.64)]  # the last straddles one and two: IoU < 0.5
    assert label_grid_segments(grid, words) == ["one", "two", None]


def test_impossible_constraints_are_one_clear_error():
    with pytest.raises(UserError, match="two different files"):
        oracle_pairs(tokens(files=1), 10)
    with pytest.raises(UserError, match="could make only"):  # one speaker cannot give cross-speaker pairs
        oracle_pairs(tokens(files=4, speakers=("ann",)), 10, same_speaker_share=0.0)
