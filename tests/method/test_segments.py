from sse.frames.formats import Vad, read_segment_list
from sse.method.segments import count_segments, make_segments
from tests.helpers import assert_user_error, run_script

# A hand-made VAD list and its segment count, worked out by hand:
#   1.00 s -> 6 grid steps of 0.16 s -> 6+5+4+3+2+1 = 21 segments
#   0.50 s -> 3 steps                 -> 3+2+1       = 6
#   0.16 s -> 1 step                  -> 1
#   0.10 s -> 0 steps                 -> 0  (shorter than 0.16 s)
#   2.00 s -> 12 steps                -> 12+11+10+9+8+7 = 57
HAND_MADE = """\
a.wav s1 0.0 1.0
a.wav s1 3.0 3.5
b.wav s2 0.25 0.41
b.wav s2 1.0 1.1
c.wav s3 10.0 12.0
"""


def test_counts_the_segments_of_a_hand_made_vad_list(tmp_path):
    (tmp_path / "vads").write_text(HAND_MADE)
    run_script("make_segments.py", tmp_path / "vads", tmp_path / "segments", check=True)
    segments = read_segment_list(tmp_path / "segments")
    assert len(segments) == 21 + 6 + 1 + 0 + 57
    per_vad = {}
    for s in segments:
        per_vad[(s.wav, s.vad_start)] = per_vad.get((s.wav, s.vad_start), 0) + 1
    assert per_vad == {("a.wav", 0.0): 21, ("a.wav", 3.0): 6, ("b.wav", 0.25): 1, ("c.wav", 10.0): 57}


def test_segments_lie_on_the_grid_with_six_lengths():
    segments = make_segments([Vad("c.wav", "s", 10.0, 12.0)])
    lengths = sorted({round(s.end - s.start, 6) for s in segments})
    assert lengths == [0.16, 0.32, 0.48, 0.64, 0.8, 0.96]
    for s in segments:
        steps = (s.start - 10.0) / 0.16
        assert abs(steps - round(steps)) < 1e-6
        assert 10.0 <= s.start < s.end <= 12.0


def test_subsampling_is_a_seeded_uniform_subset_in_list_order():
    vads = [Vad(f"{i}.wav", "s", 0.0, 1.0 + 0.37 * i) for i in range(40)]
    everything = make_segments(vads)
    assert len(everything) == count_segments(vads)
    subset = make_segments(vads, max_segments=300, seed=3)
    assert len(subset) == 300 == len(set(subset))
    positions = [everything.index(s) for s in subset]
    assert positions == sorted(positions)
    assert make_segments(vads, max_segments=300, seed=3) == subset
    assert make_segments(vads, max_segments=300, seed=4) != subset
    # Uniform over candidates: the short first half of the VADs keeps about its share.
    share = count_segments(vads[:20]) / count_segments(vads)
    kept = sum(s.wav in {v.wav for v in vads[:20]} for s in subset) / len(subset)
    assert abs(kept - share) < 0.06


def test_cli_errors(tmp_path):
    (tmp_path / "short").write_text("a.wav s 0 0.1\n")
    assert_user_error(run_script("make_segments.py", tmp_path / "short", tmp_path / "out"), "no VAD is 0.16 s")
    (tmp_path / "bad").write_text("a.wav s 0 1\na.wav s one 2\n")
    assert_user_error(run_script("make_segments.py", tmp_path / "bad", tmp_path / "out"), "bad:2:")
    assert not (tmp_path / "out").exists()
