"""End to end: the three launch scripts on a small slice of the bundled demo corpus."""
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from sse.frames.formats import read_pair_list, read_segment_list, read_vad_list, write_segment_list, write_vad_list
from tests.helpers import REPO, recipe_env, run_script

pytestmark = pytest.mark.slow  # the recipes train with fairseq-train end to end

LS = REPO / "training_data" / "demo"


@pytest.fixture(scope="module")
def slice_lists(tmp_path_factory):
    """Two training speakers x 20 long VADs, their segments and labels, a 40-label benchmark."""
    folder = tmp_path_factory.mktemp("recipe")
    vads = read_vad_list(REPO / "training_data" / "demo-vads")
    chosen = []
    for speaker in ("1001", "1009"):
        chosen += [v for v in vads if v.speaker == speaker and v.duration >= 1.2][:20]
    write_vad_list(folder / "vads", chosen)
    run_script("make_segments.py", folder / "vads", folder / "segments", "--max_segments", "1500", check=True)
    run_script("transcribe_timestamps.py", folder / "segments", LS / "alignments.txt", folder / "ngrams",
               check=True)
    by_label = defaultdict(list)
    for segment in read_segment_list(REPO / "sse_benchmark" / "demo-ngrams-subset"):
        by_label[segment.transcription].append(segment)
    write_segment_list(folder / "benchmark", [s for label in sorted(by_label)[:40] for s in by_label[label]])
    return folder


def slice_env(lists: Path, exp: Path, **overrides) -> dict:
    """A recipe run on the demo slice: labels and benchmark too, a few short epochs."""
    return recipe_env(lists, exp, **{"SSE_NGRAMS": str(lists / "ngrams"), "SSE_BENCHMARK": str(lists / "benchmark"),
                                     "SSE_MAX_EPOCH": "3", "SSE_EPOCH_UPDATES": "4", "SSE_PAIRS_PER_BATCH": "16",
                                     "SSE_MAX_BATCH_DURATION": "6", "SSE_LOG_INTERVAL": "1", **overrides})


def run_recipe(script: str, *args, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(REPO / script), *map(str, args)], env=env, cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def epoch_losses(log: Path) -> list[float]:
    return [float(m) for m in re.findall(r"\| train \| epoch \d+ \| loss ([\d.]+)", log.read_text())]


def benchmark_map(lists: Path, model: Path) -> float:
    result = run_script("map_dump.py", "--path_wavs", LS, "--path_segments", lists / "benchmark", "--task=map",
                        "--path_sse", model, check=True)
    return float(result.stdout.strip().splitlines()[-1].split()[1])


def test_the_three_scripts_train_mine_and_score(slice_lists, tmp_path):
    env = slice_env(slice_lists, tmp_path)
    run_recipe("launch_init.sh", LS, env=env)
    init = tmp_path / "init"
    assert (init / "checkpoint_best.pt").is_file() and (init / "training_done").is_file()
    losses = epoch_losses(init / "train.log")
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert 0 < benchmark_map(slice_lists, init) <= 1
    assert (init / "curves.png").stat().st_size > 0  # loss and MAP per epoch
    assert list((init / "tensorboard").rglob("events.out.tfevents.*"))

    run_recipe("iteration.sh", LS, init / "checkpoint_best.pt", env=env)
    iter1 = tmp_path / "iter1"
    pairs = read_pair_list(iter1 / "pairs")
    assert len(pairs) > 100
    log = (iter1 / "train.log").read_text()
    # The toolkit's iteration by default: a fresh model; each side of a mined pair read from one of
    # 4 time-stretched versions of its VAD (computed once); half of each batch augmentation pairs.
    assert "loading pretrained model" not in log
    assert ("a batch holds 8 mined pairs (each side read from one of 4 time-stretched versions of its VAD) and "
            "8 augmentation pairs") in log
    stretched = tmp_path / "features" / "mfcc" / "train-stretched4"
    assert len(list(stretched.glob("version-*-of-00004.index"))) == 4
    assert "map_across" in log and "spk10" in log  # the speaker diagnostics of every validation
    losses = epoch_losses(iter1 / "train.log")
    assert losses[-1] < losses[0]
    assert 0 < benchmark_map(slice_lists, iter1) <= 1
    # Run again on its own output: the next iteration, in its own folder; the paper's iteration
    # this time (mined pairs as they are, no augmentation pairs), started from iteration 1's
    # model, mining with the margin score.
    options = dict(SSE_MAX_EPOCH="1", SSE_PROFILE="paper", SSE_WARM_START="1", SSE_MINE_ARGS="--score margin")
    second = run_recipe("iteration.sh", LS, iter1, env=dict(env, **options))
    assert "(of the margin score)" in second.stdout + second.stderr  # the mining options reached mining
    log = (tmp_path / "iter2" / "train.log").read_text()
    assert f"loading pretrained model from {iter1 / 'checkpoint_best.pt'}" in log
    assert "a batch holds 16 mined pairs and 0 augmentation pairs" in log
    # Mining and training options are part of the stage's stamp: other ones are refused, never reused.
    for changed in ({"SSE_MINE_ARGS": ""}, {"SSE_AUGMENT_SHARE": "0.25"}, {"SSE_STRETCH_PAIRS": "3"},
                    {"SSE_PROFILE": "default"}):
        refused = subprocess.run(["bash", str(REPO / "iteration.sh"), str(LS), str(iter1)], cwd=REPO, text=True,
                                 capture_output=True, env=dict(env, **{**options, **changed}))
        name = next(iter(changed)).lower().replace("sse_", "").replace("profile", "stretch_pairs")
        assert refused.returncode == 2 and name in refused.stderr, refused.stderr

    run_recipe("launch_gold.sh", LS, env=env)
    gold = tmp_path / "gold"
    losses = epoch_losses(gold / "train.log")
    assert losses[-1] < losses[0]
    assert 0 < benchmark_map(slice_lists, gold) <= 1

    # Finished stages are skipped on a rerun: nothing retrains, the checkpoint stays as it was.
    stamp = (init / "checkpoint_best.pt").stat().st_mtime_ns
    rerun = run_recipe("launch_init.sh", LS, env=env)
    assert "is done" in rerun.stdout
    assert (init / "checkpoint_best.pt").stat().st_mtime_ns == stamp


def test_an_interrupted_run_resumes_from_its_last_checkpoint(slice_lists, tmp_path):
    env = slice_env(slice_lists, tmp_path, SSE_MAX_EPOCH="3", SSE_EPOCH_UPDATES="6")
    process = subprocess.Popen(["bash", str(REPO / "launch_gold.sh"), str(LS)], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = tmp_path / "gold" / "checkpoint_last.pt"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert last.exists(), "no checkpoint_last.pt appeared"
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    assert not (tmp_path / "gold" / "training_done").exists()

    result = run_recipe("launch_gold.sh", LS, env=env)
    assert "resuming" in result.stdout
    log = (tmp_path / "gold" / "train.log").read_text()
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ \d+ updates\)", log)
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 3 * 6  # no update lost or repeated


def test_gold_training_loss_really_falls(slice_lists, tmp_path):
    env = slice_env(slice_lists, tmp_path, SSE_MAX_EPOCH="1", SSE_EPOCH_UPDATES="40", SSE_BENCHMARK="")
    run_recipe("launch_gold.sh", LS, env=env)
    log = (tmp_path / "gold" / "train.log").read_text()
    losses = [float(x) for x in re.findall(r"train_inner \| .*?loss=([\d.]+)", log)]
    assert len(losses) == 40
    assert sum(losses[-8:]) / 8 < 0.8 * sum(losses[:8]) / 8
    assert "valid on 'valid' subset | loss" in log  # no benchmark: held-out loss selects the model


def test_a_failed_training_is_reported_and_not_marked_done(slice_lists, tmp_path):
    gold = tmp_path / "gold"
    env = slice_env(slice_lists, tmp_path, SSE_EXTRA_ARGS="--no-such-flag", SSE_BENCHMARK="")
    result = subprocess.run(["bash", str(REPO / "launch_gold.sh"), str(LS)], env=env, cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "error: fairseq-train failed" in result.stderr
    assert not (gold / "training_done").exists()


def test_scripts_refuse_bad_arguments(tmp_path):
    for script, args, message in (("launch_init.sh", [], "usage"),
                                  ("launch_init.sh", [tmp_path / "nowhere"], "no such corpus folder"),
                                  ("iteration.sh", [LS, tmp_path / "missing.pt"], "no such checkpoint")):
        result = subprocess.run(["bash", str(REPO / script), *map(str, args)], cwd=REPO, capture_output=True,
                                text=True, env=dict(os.environ, SSE_DEVICE="cpu", SSE_EXP=str(tmp_path)))
        assert result.returncode == 2 and message in result.stderr, (script, result.stderr)
    # A number of stretched versions is checked before any work (mining, stretching).
    checkpoint = tmp_path / "init" / "checkpoint_best.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    for value in ("yes", "-1", "1.5"):
        result = subprocess.run(["bash", str(REPO / "iteration.sh"), str(LS), str(checkpoint)], cwd=REPO,
                                capture_output=True, text=True,
                                env=dict(os.environ, SSE_DEVICE="cpu", SSE_EXP=str(tmp_path), SSE_FRONTEND="mfcc",
                                         SSE_STRETCH_PAIRS=value))
        assert result.returncode == 2 and "is not a number of stretched versions" in result.stderr, result.stderr
        assert not (tmp_path / "iter1").exists() and not (tmp_path / "features").exists()


def test_the_numbered_recipe_runs_every_stage_and_each_stage_alone(slice_lists, tmp_path):
    exp = tmp_path / "exp"
    env = slice_env(slice_lists, exp, SSE_MAX_EPOCH="1", SSE_EPOCH_UPDATES="3", SSE_SEGMENTS="")
    del env["SSE_SEGMENTS"]  # the recipe's own default: EXP/segments, made by stage 1
    result = run_recipe("recipe.sh", "--profile", "small", "--iterations", "1", LS, exp, env=env)
    stages_seen = re.findall(r"\] stage (\d):", result.stdout)
    assert stages_seen == [str(n) for n in range(9)], result.stdout
    assert (exp / "segments").stat().st_size and (exp / "segments.stamp").is_file()
    table = (exp / "results.md").read_text()
    for row in ("untrained encoder", "stage 1 (augmentation)", "k-NN iteration 1", "weakly supervised"):
        assert f"| {row} |" in table, table
    # mean pooling under each CMVN mode, the strongest marked
    assert all(f"| mean mfcc frames, {mode} CMVN" in table for mode in ("none", "utterance", "speaker")), table
    assert table.count("(strongest baseline)") == 1, table
    assert (exp / "map.png").stat().st_size and (exp / "curves.png").stat().st_size
    # One stage alone: the table again, nothing retrained.
    again = run_recipe("recipe.sh", "--stage", "8", "--stop-stage", "8", LS, exp, env=env)
    assert re.findall(r"\] stage (\d):", again.stdout) == ["8"] and "training:" not in again.stdout


def test_the_recipe_makes_the_vad_list_and_refuses_bad_options(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "train" / "george").mkdir(parents=True)
    for wav in sorted((REPO / "tests" / "data" / "fsdd").glob("*_george_*.wav"))[:4]:
        (corpus / "train" / "george" / wav.name).write_bytes(wav.read_bytes())
    env = dict(os.environ, SSE_DEVICE="cpu", TQDM_DISABLE="1", SSE_TRAIN_SUBSET="train",
               SSE_VAD_ARGS="--speakers folder")
    run_recipe("recipe.sh", "--stop-stage", "1", "--profile", "small", corpus, tmp_path / "exp", env=env)
    vads = read_vad_list(tmp_path / "exp" / "vads")
    # Paths relative to the corpus root, as every later stage reads them.
    assert {v.wav for v in vads} == {f"train/george/{p.name}" for p in (corpus / "train" / "george").iterdir()}
    assert {v.speaker for v in vads} == {"george"}
    assert read_segment_list(tmp_path / "exp" / "segments")
    for args, message in ((["--stage", "x", corpus, tmp_path], "x is not a whole number"),
                          (["--frobnicate", corpus, tmp_path], "unknown option --frobnicate"),
                          ([tmp_path / "nowhere", tmp_path], "no such corpus folder"),
                          ([corpus], "usage: bash recipe.sh")):
        result = subprocess.run(["bash", str(REPO / "recipe.sh"), *map(str, args)], env=env, capture_output=True,
                                text=True)
        assert result.returncode == 2 and message in result.stderr, result.stderr
