"""A new user's mistakes, each answered in one line with exit status 2 (issue: the first hour).

Every case runs the script as a user would, on the bundled demo corpus and model.
"""
import os
import subprocess

import numpy as np
import pytest
import torch

import sse
from sse.core.errors import UserError
from sse.frames.formats import SEGMENT_FIELDS, SPAN_FIELDS
from sse.frames.frontend import missing_wav2vec2_message
from tests.helpers import REPO, assert_user_error, run_quiet

DEMO = ["--path_wavs", REPO / "training_data" / "demo"]
MODEL = ["--path_sse", REPO / "pretrained" / "demo_unsup"]
BENCHMARK = REPO / "sse_benchmark" / "demo-ngrams-subset"
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def one_line(result) -> str:
    assert_user_error(result)
    lines = [line for line in result.stderr.splitlines()
             if line.strip() and "faiss" not in line and " INFO progress: " not in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    path = tmp_path_factory.mktemp("dump") / "bench.npy"
    run_quiet("map_dump.py", *DEMO, "--path_segments", BENCHMARK, "--task=dump", *MODEL, "--output", path)
    return path


@no_cuda
def test_search_on_a_gpu_that_is_not_there(dump):
    line = one_line(run_quiet("search.py", "--embeddings", dump, "--query_rows", "1", "--device", "cuda"))
    assert "--device cuda" in line and "cannot use CUDA" in line and "use --device cpu" in line


@no_cuda
def test_loading_onto_a_gpu_that_is_not_there_from_python():
    with pytest.raises(UserError) as raised:
        sse.load(REPO / "pretrained" / "demo_unsup", device="cuda")
    assert "\n" not in str(raised.value) and "device='cuda'" in str(raised.value)
    assert "use device='cpu'" in str(raised.value)


def _broken_list(tmp_path, name, keep):
    """The first 3 benchmark lines with only the fields at ``keep`` (0-based)."""
    lines = BENCHMARK.read_text().splitlines()[:3]
    path = tmp_path / name
    path.write_text("".join(" ".join(line.split()[i] for i in keep) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("name, keep, problem", [
    ("no_speaker", [0, 2, 3, 4, 5, 6], "vad start 3.058 is not before vad end 0.41"),
    ("no_segment_end", [0, 1, 2, 3, 4, 6], "segment end 'IY,HH' is not a number"),
])
def test_a_list_with_a_column_missing_says_which_format_it_expected(tmp_path, name, keep, problem):
    listing = _broken_list(tmp_path, name, keep)
    line = one_line(run_quiet("map_dump.py", *DEMO, "--path_segments", listing, "--task=map", *MODEL))
    assert f"{listing}:1: {problem}" in line and "this line has 6 fields" in line
    assert f"read as a segment list line: {SEGMENT_FIELDS}" in line


def test_a_plain_list_with_reversed_times_talks_about_its_span_not_a_vad(tmp_path):
    listing = tmp_path / "plain"
    listing.write_text("dev/1013/1013-1-0000.ogg 0.6 0.5\n")
    line = one_line(run_quiet("map_dump.py", *DEMO, "--path_segments", listing, "--task=dump", *MODEL,
                              "--output", tmp_path / "x.npy"))
    assert "span start 0.6 is not before span end 0.5" in line and "vad" not in line.lower()
    assert f"plain segment list line: {SPAN_FIELDS}" in line and "3 fields" in line
    assert not (tmp_path / "x.npy").exists()


def test_a_misspelt_flag_is_named_before_anything_else():
    line = one_line(run_quiet("map_dump.py", *DEMO, "--path_segments", BENCHMARK, "--task=map",
                              "--path_ssee", REPO / "pretrained" / "demo_unsup"))
    assert "unknown option --path_ssee; did you mean --path_sse?" in line
    # No prefix matching: an abbreviation is not silently taken for the option it starts.
    line = one_line(run_quiet("map_dump.py", "--path_w", DEMO[1], "--path_segments", BENCHMARK, "--task=map", *MODEL))
    assert "unknown option --path_w" in line


def test_a_wrong_corpus_path_is_reported_before_the_model_loads(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")  # loading it would fail with another message
    line = one_line(run_quiet("map_dump.py", "--path_wavs", tmp_path / "nowhere", "--path_segments", BENCHMARK,
                              "--task=map", "--path_sse", broken))
    assert "--path_wavs" in line and "no such corpus folder" in line


def test_a_missing_model_is_reported_before_any_work(tmp_path):
    line = one_line(run_quiet("search.py", *DEMO, "--path_segments", BENCHMARK, "--query_rows", "1",
                              "--path_sse", tmp_path / "missing"))
    assert "--path_sse" in line and "no such model" in line


def test_a_dump_is_not_overwritten_without_overwrite(dump, tmp_path):
    before = dump.read_bytes(), (dump.parent / "bench.npy.json").read_bytes()
    mean = ["--baseline", "mean", "--frontend", "mfcc"]
    command = [*DEMO, "--path_segments", BENCHMARK, "--task=dump", *mean, "--output", dump]
    line = one_line(run_quiet("map_dump.py", *command))
    assert f"--output {dump} exists; give --overwrite to replace it" in line
    assert (dump.read_bytes(), (dump.parent / "bench.npy.json").read_bytes()) == before
    replaced = run_quiet("map_dump.py", *command, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert np.load(dump).shape == (2499, 78)


def test_a_pair_list_is_not_overwritten_without_overwrite(tmp_path):
    pairs = tmp_path / "pairs"
    pairs.write_text("kept\n")
    result = run_quiet("mine_pairs.py", "--path_segments", BENCHMARK, "--features", tmp_path, *MODEL,
                       "--output", pairs)
    assert_clean_failure_keeps(result, pairs, "kept\n")


def assert_clean_failure_keeps(result, path, content):
    line = one_line(result)
    assert "exists; give --overwrite to replace it" in line
    assert path.read_text() == content
    assert not [p for p in path.parent.iterdir() if p.name.endswith((".part", ".work"))]


def test_without_wav2vec2_weights_the_hint_is_in_the_callers_terms(monkeypatch):
    monkeypatch.delenv("SSE_RECIPE", raising=False)
    assert "--path_ssl" in missing_wav2vec2_message("w.pt") and "--frontend mfcc" in missing_wav2vec2_message("w.pt")
    monkeypatch.setenv("SSE_RECIPE", "1")
    message = missing_wav2vec2_message("w.pt")
    assert "SSE_PATH_SSL" in message and "SSE_FRONTEND=mfcc" in message and "--" not in message


def test_parse_errors_without_a_script_still_teach_the_format(tmp_path):
    from sse.frames.formats import read_segments, read_vad_list  # noqa: PLC0415
    vads = tmp_path / "vads"
    vads.write_text("a.wav 1.0 2.0 spk\n")
    with pytest.raises(UserError, match="vad end 'spk' is not a number"):
        read_vad_list(vads)
    with pytest.raises(UserError, match="read as a VAD list line: <wav> <speaker> <vad start> <vad end>; "
                                        "this line has 4 fields"):
        read_vad_list(vads)
    with pytest.raises(UserError, match=r"expected 6 or 7 fields .* or 3 \(<wav> <start> <end>\), found 4"):
        read_segments(vads)



def test_a_recipe_without_wav2vec2_weights_hints_in_environment_variables(tmp_path):
    env = dict(os.environ, SSE_FRONTEND="wav2vec2", SSE_PATH_SSL=str(tmp_path / "wav2vec_small.pt"),
               SSE_EXP=str(tmp_path / "exp"), SSE_DEVICE="cpu", SSE_NUM_WORKERS="0")
    result = subprocess.run(["bash", str(REPO / "launch_init.sh"), str(REPO / "training_data" / "demo")],
                            capture_output=True, text=True, env=env, timeout=120)
    line = one_line(result)
    assert "no such wav2vec 2.0 checkpoint" in line
    assert "set SSE_PATH_SSL" in line and "SSE_FRONTEND=mfcc" in line and "--path_ssl" not in line
