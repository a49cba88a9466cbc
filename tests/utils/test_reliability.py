"""Hostile input: every case ends in one `error:` line and exit status 2, or is handled.

Issue 9's classes covered here (1 and 3, output paths and numeric options, are the shared
argument parser's tests): 2 damaged state files, 4 state written only after validation, 5 a
UTF-8 byte-order mark, 6 user errors inside fairseq-train, 8 --device, plot extension, leftover
.part files and the one sharding rule, 9 stamps. Scripts run in this process through ``runpy``
(the same ``cli.run`` contract as a subprocess, without paying torch's import each time); the
recipes run as subprocesses.
"""
from __future__ import annotations

import contextlib
import io
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sse.checkpoint import save_encoder
from sse.errors import UserError
from sse.features import FeatureStore, shard_name
from sse.formats import read_segment_list, read_vad_list, write_segment_list, write_vad_list
from sse.model import SSEEncoder
from tests.helpers import REPO, recipe_env

BOM = "\ufeff"
MFCC = {"name": "mfcc", "dim": 78, "frame_rate": 50, "cmvn": "utterance"}  # what extract_features.py stores


def run_inprocess(script: str, *args) -> tuple[int, str, str]:
    """Run ``utils/<script>`` as ``__main__`` here; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [str(REPO / "utils" / script), *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def assert_one_error(result, *fragments: str) -> None:
    code, _, stderr = result
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


@pytest.fixture(scope="module")
def store(word_corpus, tmp_path_factory):
    """A finished two-shard MFCC feature store of the word corpus, and a random model for it."""
    folder = tmp_path_factory.mktemp("reliability")
    code, _, stderr = run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                    word_corpus.vads, "--output_dir", folder / "features", "--frontend", "mfcc",
                                    "--nshards", "2", "--num_workers", "0", "--device", "cpu")
    assert code == 0, stderr
    torch.manual_seed(0)
    save_encoder(folder / "model.pt", SSEEncoder(input_dim=78), MFCC)
    return folder


def copy_store(store, target: Path) -> Path:
    import shutil
    shutil.copytree(store / "features", target)
    return target


# --------------------------------------------------------------------------- class 5: BOM

def test_bom_is_dropped_by_every_list_reader(tmp_path):
    from sse.formats import read_pair_list
    from sse.prep.alignments import read_alignment_file

    cases = {"vads": ("a.wav s 0 1\n", read_vad_list),
             "segments": ("a.wav s 0 1 0 0.5 AH\n", read_segment_list),
             "pairs": ("a.wav s 0 1 b.wav t 0 1 0.5\n", read_pair_list),
             "alignments": ("a.wav phone 0 1 AH\n", read_alignment_file)}
    for name, (line, reader) in cases.items():
        plain, marked = tmp_path / name, tmp_path / f"{name}.bom"
        plain.write_text(line, encoding="utf-8")
        marked.write_text(BOM + line, encoding="utf-8")
        read = reader(marked)
        assert (read.files if name == "alignments" else read) == \
            (reader(plain).files if name == "alignments" else reader(plain)), name


def test_make_segments_writes_no_bom_into_the_first_path(word_corpus, tmp_path):
    vads = tmp_path / "vads"
    vads.write_text(BOM + word_corpus.vads.read_text(), encoding="utf-8")
    assert run_inprocess("make_segments.py", vads, tmp_path / "marked")[0] == 0
    assert run_inprocess("make_segments.py", word_corpus.vads, tmp_path / "plain")[0] == 0
    assert (tmp_path / "marked").read_bytes() == (tmp_path / "plain").read_bytes()
    assert not (tmp_path / "marked").read_bytes().startswith(BOM.encode())


def test_transcribe_timestamps_labels_a_bom_list_like_a_plain_one(tmp_path):
    alignments = REPO / "training_data" / "demo" / "alignments.txt"
    segments = read_segment_list(REPO / "training_data" / "demo-ngrams")[:200]
    write_segment_list(tmp_path / "plain", segments)
    (tmp_path / "marked").write_text(BOM + (tmp_path / "plain").read_text(), encoding="utf-8")
    (tmp_path / "alignments").write_text(BOM + alignments.read_text(encoding="utf-8"), encoding="utf-8")
    assert run_inprocess("transcribe_timestamps.py", tmp_path / "plain", alignments, tmp_path / "a")[0] == 0
    assert run_inprocess("transcribe_timestamps.py", tmp_path / "marked", tmp_path / "alignments",
                         tmp_path / "b")[0] == 0
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text()


def test_map_dump_reads_a_bom_segment_list(word_corpus, tmp_path):
    (tmp_path / "marked").write_text(BOM + word_corpus.segments.read_text(), encoding="utf-8")
    for name, segments in (("a.npy", word_corpus.segments), ("b.npy", tmp_path / "marked")):
        code, _, stderr = run_inprocess("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", segments,
                                        "--task=dump", "--baseline", "mean", "--frontend", "mfcc",
                                        "--output_file", tmp_path / name, "--device", "cpu")
        assert code == 0, stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


# --------------------------------------------------------------------------- class 2: damaged state

def test_invalid_frontend_json_is_one_error_line(store, word_corpus, tmp_path):
    features = copy_store(store, tmp_path / "features")
    (features / "frontend.json").write_text('{"version": 2, "frontend": {"name": "mf')
    assert_one_error(run_inprocess("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments",
                                   word_corpus.segments, "--task=map", "--path_sse", store / "model.pt",
                                   "--features", features, "--device", "cpu"), "frontend.json", "damaged")
    assert_one_error(run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                   word_corpus.vads, "--output_dir", features, "--frontend", "mfcc",
                                   "--nshards", "2", "--num_workers", "0"), "frontend.json")
    (features / "frontend.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not a feature store description"):
        FeatureStore(features)


def test_a_truncated_shard_is_refused_by_readers_and_redone_by_extraction(store, word_corpus, tmp_path, caplog):
    features = copy_store(store, tmp_path / "features")
    npy = features / f"{shard_name(1, 2)}.npy"
    original = npy.read_bytes()
    npy.write_bytes(original[:len(original) // 2])
    assert_one_error(run_inprocess("mine_pairs.py", "--path_segments", word_corpus.segments, "--features",
                                   features, "--path_sse", store / "model.pt", "--output", tmp_path / "pairs",
                                   "--device", "cpu"), "shard-00001-of-00002.npy is damaged")
    assert not (tmp_path / "pairs.work").exists()
    code, _, stderr = run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                    word_corpus.vads, "--output_dir", features, "--frontend", "mfcc",
                                    "--nshards", "2", "--num_workers", "0")
    assert code == 0 and "extracting it again" in caplog.text, stderr
    assert npy.read_bytes() == original
    # An index that lists more frames than the array holds is damage too.
    index = features / f"{shard_name(0, 2)}.index"
    index.write_text(index.read_text() + "spk9/x.wav spk9 0 1 100000 50\n")
    with pytest.raises(UserError, match="index covers"):
        FeatureStore(features)
    index.write_text("not an index line\n")
    with pytest.raises(UserError, match=r"index:1: expected 6 fields"):
        FeatureStore(features)


# --------------------------------------------------------------------------- class 4: state after validation

def test_extract_features_writes_nothing_before_the_whole_list_is_checked(word_corpus, tmp_path):
    vads = read_vad_list(word_corpus.vads)
    bad = vads[:-1] + [vads[-1]._replace(end=vads[-1].end + 30)]  # past the end, in the last shard
    write_vad_list(tmp_path / "vads", bad)
    output = tmp_path / "features"
    assert_one_error(run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                   tmp_path / "vads", "--output_dir", output, "--frontend", "mfcc",
                                   "--nshards", "2", "--num_workers", "0"), "goes past the end of the file")
    assert not output.exists()
    write_vad_list(tmp_path / "vads", vads)  # corrected: the rerun is not refused
    code, _, stderr = run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                    tmp_path / "vads", "--output_dir", output, "--frontend", "mfcc",
                                    "--nshards", "2", "--num_workers", "0")
    assert code == 0, stderr
    assert len(FeatureStore(output)) == len(vads)


def test_mine_pairs_with_a_broken_model_leaves_nothing_that_refuses_the_fixed_rerun(store, word_corpus, tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not a checkpoint")
    args = ["--path_segments", word_corpus.segments, "--features", store / "features", "--path_sse", model,
            "--output", tmp_path / "pairs", "--device", "cpu", "--pca_dim", "8"]
    assert_one_error(run_inprocess("mine_pairs.py", *args), "not a checkpoint")
    assert not (tmp_path / "pairs.work" / "manifest.json").exists()
    model.write_bytes((store / "model.pt").read_bytes())
    code, _, stderr = run_inprocess("mine_pairs.py", *args)
    assert code == 0, stderr
    assert (tmp_path / "pairs").stat().st_size > 0


def test_mine_pairs_with_a_segment_the_store_lacks_leaves_no_work_folder(store, word_corpus, tmp_path):
    segments = read_segment_list(word_corpus.segments)
    write_segment_list(tmp_path / "segments", [*segments, segments[0]._replace(wav="elsewhere.wav")])
    args = ["--path_segments", tmp_path / "segments", "--features", store / "features", "--path_sse",
            store / "model.pt", "--output", tmp_path / "pairs", "--device", "cpu", "--pca_dim", "8"]
    assert_one_error(run_inprocess("mine_pairs.py", *args), "no features for file elsewhere.wav")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["segments"]


# --------------------------------------------------------------------------- class 2: mining work files

def test_damaged_mining_work_files_are_redone_and_changed_settings_refused(store, word_corpus, tmp_path, caplog):
    args = ["--path_segments", word_corpus.segments, "--features", store / "features", "--path_sse",
            store / "model.pt", "--output", tmp_path / "pairs", "--device", "cpu", "--pca_dim", "8",
            "--nshards", "2"]
    assert run_inprocess("mine_pairs.py", *args)[0] == 0
    reference = (tmp_path / "pairs").read_bytes()
    work = tmp_path / "pairs.work"
    embeddings, knn = work / "embeddings-00001-of-00002.npy", work / "knn-00000-of-00002.npz"
    embeddings.write_bytes(embeddings.read_bytes()[:100])
    knn.write_bytes(knn.read_bytes()[:50])
    (work / ".knn-00001-of-00002.npz.x1y2.part").write_bytes(b"left by a killed run")
    (tmp_path / "pairs").unlink()
    code, _, stderr = run_inprocess("mine_pairs.py", *args)
    assert code == 0, stderr
    assert caplog.text.count("computing it again") == 2, caplog.text
    assert (tmp_path / "pairs").read_bytes() == reference
    assert not list(work.glob(".*part"))
    # Pieces made with another PCA fit are not reused: refused, naming the setting.
    assert_one_error(run_inprocess("mine_pairs.py", *args, "--overwrite", "--max_pca_fit", "10"),
                     "made from other inputs or settings", "max_pca_fit")
    (work / "manifest.json").write_text("{ damaged")
    assert_one_error(run_inprocess("mine_pairs.py", *args, "--overwrite"), "no readable stamp")


# --------------------------------------------------------------------------- class 8

def test_one_sharding_rule_everywhere(store, word_corpus, tmp_path):
    from sse.sharding import requested_shards, shard_bounds, shard_slice

    assert [shard_bounds(3, shard, 2) for shard in range(2)] == [(0, 1), (1, 3)]
    assert [list(range(3)[shard_slice(3, shard, 2)]) for shard in range(2)] == [[0], [1, 2]]
    assert requested_shards(None, 3) == [0, 1, 2] and requested_shards(1, 3) == [1]
    # The feature store cuts the list the same way: shard 0 of 2 holds the first half, rounded down.
    vads = read_vad_list(word_corpus.vads)
    first = (store / "features" / f"{shard_name(0, 2)}.index").read_text().splitlines()
    assert [line.split()[0] for line in first] == [vad.wav for vad in vads[:len(vads) // 2]]
    # So does mining: a 3-shard run's embedding pieces have the rule's row counts.
    segments = read_segment_list(word_corpus.segments)[:3]
    write_segment_list(tmp_path / "three", segments)
    code, _, stderr = run_inprocess("mine_pairs.py", "--path_segments", tmp_path / "three", "--features",
                                    store / "features", "--path_sse", store / "model.pt", "--output",
                                    tmp_path / "pairs", "--nshards", "2", "--shard", "1", "--device", "cpu")
    assert code == 0, stderr
    assert np.load(tmp_path / "pairs.work" / "embeddings-00001-of-00002.npy").shape[0] == 2
    assert_one_error(run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                   word_corpus.vads, "--output_dir", tmp_path / "f", "--nshards", "2",
                                   "--shard", "2", "--frontend", "mfcc"), "--shard")
    # A missing --shard means every shard, in vad.py too: the whole corpus, not shard 0.
    for output, extra in (("whole", []), ("all_shards", ["--nshards", "3"])):
        code, _, stderr = run_inprocess("vad.py", "--path_wavs", word_corpus.root, "--output", tmp_path / output,
                                        "--speaker_regex", r"(spk\d+)/", *extra)
        assert code == 0, stderr
    assert (tmp_path / "all_shards").read_text() == (tmp_path / "whole").read_text()
    assert len(read_vad_list(tmp_path / "whole")) >= 16


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_device_is_checked_against_torch(store, word_corpus, tmp_path):
    common = ["--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments]
    for device, message in (("cuda", "cannot use CUDA"), ("cuda:3", "cannot use CUDA"),
                            ("gpu0", "not a device name"), ("meta", "cpu, cuda or mps")):
        assert_one_error(run_inprocess("map_dump.py", *common, "--task=map", "--baseline", "mean",
                                       "--frontend", "mfcc", "--device", device), message)
    assert_one_error(run_inprocess("map_table.py", *common, "--baseline", "--frontend", "mfcc",
                                   "--device", "cuda"), "cannot use CUDA")
    assert_one_error(run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                   word_corpus.vads, "--output_dir", tmp_path / "f", "--frontend", "mfcc",
                                   "--device", "cuda"), "cannot use CUDA")
    assert not (tmp_path / "f").exists()
    assert_one_error(run_inprocess("mine_pairs.py", "--path_segments", word_corpus.segments, "--features",
                                   store / "features", "--path_sse", store / "model.pt", "--output",
                                   tmp_path / "pairs", "--device", "cuda"), "cannot use CUDA")


def test_map_table_checks_the_plot_extension_before_writing_anything(word_corpus, tmp_path):
    assert_one_error(run_inprocess("map_table.py", "--path_wavs", word_corpus.root, "--path_segments",
                                   word_corpus.segments, "--baseline", "--frontend", "mfcc", "--device", "cpu",
                                   "--output_table", tmp_path / "table.md", "--output_plot", tmp_path / "map.xyz"),
                     "map.xyz", ".png")
    assert list(tmp_path.iterdir()) == []


def test_leftover_part_files_go_after_a_successful_resume(store, word_corpus, tmp_path):
    features = copy_store(store, tmp_path / "features")
    (features / f"{shard_name(1, 2)}.index").unlink()  # as if killed while writing shard 1
    leftovers = [features / f".{shard_name(1, 2)}.npy.raw.part", features / f".{shard_name(1, 2)}.npy.abc.part",
                 features / ".frontend.json.k2j4.part"]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    code, _, stderr = run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                    word_corpus.vads, "--output_dir", features, "--frontend", "mfcc",
                                    "--nshards", "2", "--num_workers", "0")
    assert code == 0, stderr
    assert not any(leftover.exists() for leftover in leftovers)
    assert sorted(p.name for p in features.iterdir()) == sorted(p.name for p in (store / "features").iterdir())


def test_a_list_written_again_removes_the_temporaries_of_killed_writes(word_corpus, tmp_path):
    leftover = tmp_path / ".segments.k1ll3d00.part"
    leftover.write_text("half a segment list")
    assert run_inprocess("make_segments.py", word_corpus.vads, tmp_path / "segments")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segments"]


# --------------------------------------------------------------------------- class 9: stamps

def test_extract_features_refuses_to_finish_a_store_from_another_vad_list(store, word_corpus, tmp_path):
    features = copy_store(store, tmp_path / "features")
    (features / f"{shard_name(1, 2)}.index").unlink()
    write_vad_list(tmp_path / "vads", read_vad_list(word_corpus.vads)[1:])
    assert_one_error(run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                   tmp_path / "vads", "--output_dir", features, "--frontend", "mfcc",
                                   "--nshards", "2", "--num_workers", "0"), "another VAD list")


def stamp(stage, path, inputs=None, file=False, **settings):
    """Claim a stage's output folder (or ``file``) as sse/stages.py does: None if accepted, else the error."""
    from sse.stamps import claim, fingerprint, folder_has_state

    path = Path(path)
    record = {"stage": stage, "inputs": {name: fingerprint(p) for name, p in (inputs or {}).items()},
              "settings": {name: str(value) for name, value in settings.items()}}
    try:
        if not file:
            claim(path / "stamp.json", record, folder_has_state(path, "stamp.json"), str(path), f"delete {path}")
        else:
            claim(f"{path}.stamp", record, path.exists(), str(path), f"delete {path}")
    except UserError as error:
        return str(error)
    return None


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


# --------------------------------------------------------------------------- recipes

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
                           "recent call last):\n  File ...\nsse.errors.FormatError: lists/x:3: expected 9 fields\n")
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
    result = recipe("iteration.sh", LS, gold / "checkpoint_last.pt", env=dict(env, SSE_MAX_SEGMENTS="200"))
    assert_recipe_error(result, "segments", "max_segments '300' -> '200'")
