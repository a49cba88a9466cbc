"""Stamps (sse/core/stamps.py): an output is refused, never reused, once made from other inputs or settings."""
from __future__ import annotations

from tests.helpers import stamp


def test_stage_stamps_refuse_changed_inputs_only_once_state_exists(tmp_path):
    vads, out = tmp_path / "vads", tmp_path / "segments"
    vads.write_text("a.wav s 0 1\n")
    assert stamp("segments", out, {"vads": vads}, file=True, max_segments=10) is None
    # No output yet (the stage failed): other settings simply replace the stamp.
    assert stamp("segments", out, {"vads": vads}, file=True, max_segments=20) is None
    out.write_text("made\n")
    refused = stamp("segments", out, {"vads": vads}, file=True, max_segments=10)
    assert "max_segments '20' -> '10'" in refused and "delete" in refused
    assert stamp("segments", out, {"vads": vads}, file=True, max_segments=20) is None  # the same: goes on
    vads.write_text("a.wav s 0 2\n")  # same size and name, other content
    assert "input vads" in stamp("segments", out, {"vads": vads}, file=True, max_segments=20)
    # A folder: another stage's output is refused, whatever its inputs.
    folder = tmp_path / "init"
    assert stamp("init", folder, seed=1) is None
    (folder / "train.log").write_text("a log is not a result\n")
    assert stamp("init", folder, seed=2) is None
    (folder / "checkpoint_best.pt").write_bytes(b"x")
    assert "output of stage 'init'" in stamp("iteration", folder, seed=2)


def test_a_description_used_as_stamp_names_its_changed_fields():
    from sse.core.stamps import differences

    old = {"version": 1, "frontend": {"name": "mfcc", "cmvn": "utterance"}, "vads": "a" * 64, "nshards": 2}
    new = {"version": 1, "frontend": {"name": "mfcc", "cmvn": "none"}, "vads": "b" * 64, "nshards": 2}
    assert differences(old, new) == ["frontend.cmvn 'utterance' -> 'none'", "another vads"]
    assert differences(old, old) == []
    assert differences({"stage": "init", "settings": {"seed": "1"}}, {"stage": "init", "settings": {"seed": "2"}},
                       ) == ["seed '1' -> '2'"]
