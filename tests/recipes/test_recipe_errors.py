"""User errors in the recipes: inside fairseq-train, from data-loader workers, a device torch lacks, one
SSE_OUT for every stage, outputs made from other lists."""
from __future__ import annotations

import json
import subprocess

import pytest
import torch

from sse.core.errors import UserError
from sse.frames.formats import read_segment_list, read_vad_list, write_segment_list, write_vad_list
from tests.helpers import REPO, recipe_env, stamp

LS = REPO / "training_data" / "demo"


def recipe(script, *args, env):
    return subprocess.run(["bash", str(REPO / script), *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def recipe_lists(tmp_path_factory):
    """Four demo VADs, their segments, and a feature store made once for every recipe case."""
    folder = tmp_path_factory.mktemp("recipe_lists")
    write_vad_list(folder / "vads", [v for v in read_vad_list(REPO / "training_data" / "demo-vads")
                                     if v.duration >= 1.2][:4])
    return folder


def tiny_env(lists, exp, **overrides):
    """A recipe run of one update of 4 pairs, validated by held-out loss."""
    return recipe_env(lists, exp, **{"SSE_BENCHMARK": "", "SSE_MAX_EPOCH": "1", "SSE_EPOCH_UPDATES": "1",
                                     "SSE_PAIRS_PER_BATCH": "4", **overrides})


def assert_recipe_error(result, *fragments):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "error:" not in result.stdout, result.stdout
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


@pytest.mark.slow
def test_user_errors_inside_fairseq_train_reach_the_terminal(recipe_lists, tmp_path):
    segments = read_segment_list(REPO / "training_data" / "demo-ngrams")
    vads = {(v.wav, v.start) for v in read_vad_list(recipe_lists / "vads")}
    mine = [s for s in segments if (s.wav, s.vad_start) in vads]
    # Every label made unique: no label occurs twice, so there is no positive pair to draw.
    write_segment_list(tmp_path / "unique", [s._replace(transcription=f"L{i}") for i, s in enumerate(mine)])
    result = recipe("launch_gold.sh", LS, env=tiny_env(recipe_lists, tmp_path, SSE_NGRAMS=str(tmp_path / "unique")))
    assert_recipe_error(result)
    assert "fairseq-train failed" not in result.stderr  # the reason itself, not a pointer to the log
    assert not (tmp_path / "gold" / "training_done").exists()
    # A malformed line: the file and the line number, as from any script.
    lines = (tmp_path / "unique").read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0] + " 0.5 extra"
    (tmp_path / "bad").write_text("\n".join(lines) + "\n")
    result = recipe("launch_gold.sh", LS, env=tiny_env(recipe_lists, tmp_path, SSE_NGRAMS=str(tmp_path / "bad")))
    assert_recipe_error(result, f"{tmp_path / 'bad'}:3:")


def test_user_errors_from_data_loader_workers_are_recognised():
    from sse.plugin.reporting import user_error_message

    assert user_error_message(UserError("lists/x:3: bad")) == "lists/x:3: bad"
    # torch re-raises a worker's exception with the worker's traceback as its message.
    wrapped = RuntimeError("Caught FormatError in DataLoader worker process 0.\nOriginal Traceback (most "
                           "recent call last):\n  File ...\nsse.core.errors.FormatError: lists/x:3: expected 9 fields\n")
    assert user_error_message(wrapped) == "lists/x:3: expected 9 fields"
    try:
        try:
            raise UserError("the cause")
        except UserError as error:
            raise RuntimeError("wrapped") from error
    except RuntimeError as error:
        assert user_error_message(error) == "the cause"
    assert user_error_message(ValueError("a bug")) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
@pytest.mark.slow
def test_recipes_check_the_device_and_refuse_one_sse_out_for_every_stage(recipe_lists, tmp_path):
    assert_recipe_error(recipe("launch_init.sh", LS, env=tiny_env(recipe_lists, tmp_path, SSE_DEVICE="cuda")),
                        "cannot use CUDA")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "stamp.json").write_text(json.dumps({"stage": "init", "inputs": {}, "settings": {}}))
    (shared / "checkpoint_best.pt").write_bytes(b"stage 1's model")
    result = recipe("iteration.sh", LS, shared / "checkpoint_best.pt",
                    env=tiny_env(recipe_lists, tmp_path, SSE_OUT=str(shared)))
    assert_recipe_error(result, "SSE_OUT", "another stage")


@pytest.mark.slow
def test_a_recipe_refuses_an_output_made_from_another_list(recipe_lists, tmp_path):
    env = tiny_env(recipe_lists, tmp_path, SSE_SEGMENTS=str(tmp_path / "segments"), SSE_MAX_SEGMENTS="300",
                     SSE_NGRAMS=str(REPO / "training_data" / "demo-ngrams"))
    # The gold stage's folder holds results made from other labels.
    gold = tmp_path / "gold"
    gold.mkdir()
    assert stamp("gold", gold, {"ngrams": recipe_lists / "vads"}) is None
    (gold / "checkpoint_last.pt").write_bytes(b"trained on other labels")
    result = recipe("launch_gold.sh", LS, env=env)
    assert_recipe_error(result, "made from other inputs or settings", "input ngrams")
    # Segments the recipe made are checked against the cap that made them.
    assert stamp("segments", tmp_path / "segments", {"vads": recipe_lists / "vads"}, file=True, max_segments=300) is None
    (tmp_path / "segments").write_text("made\n")
    # (mined pairs alone: the 4 VADs are too few for the augmentation pairs, which is checked first)
    result = recipe("iteration.sh", LS, gold / "checkpoint_last.pt",
                    env=dict(env, SSE_MAX_SEGMENTS="200", SSE_AUGMENT_SHARE="0"))
    assert_recipe_error(result, "segments", "max_segments '300' -> '200'")
