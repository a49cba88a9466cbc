"""Mining with an approximate k-NN index (sse/pipeline/mining_run.py with sse/method/knn.py): a recall
target, what the work folder records of it, and exact indexes giving the pairs of exact search."""
from __future__ import annotations

import json
import logging
import re

import pytest

from sse.core.errors import UserError
from sse.frames.formats import read_pair_list
from sse.pipeline.mining_run import MiningSettings, index_settings, mine_pairs
from tests.helpers import assert_user_error, run_script


def mine(mining_inputs, output, **settings):
    return mine_pairs(mining_inputs / "segments", mining_inputs / "features", mining_inputs / "model.pt", output,
                      settings=MiningSettings(pca_dim=16, **settings), device="cpu")


def manifest(output):
    return json.loads((output.parent / f"{output.name}.work" / "manifest.json").read_text())["settings"]


def test_the_work_dir_records_the_index_a_run_searches_with():
    assert index_settings(MiningSettings()) == {}  # exact: as before the approximate indexes
    assert index_settings(MiningSettings(index="hnsw", recall=1.0)) == {}  # a target of 1 is exact search
    assert index_settings(MiningSettings(recall=0.9)) == {"index": "hnsw", "recall": 0.9}
    assert index_settings(MiningSettings(index="ivf")) == {"index": "ivf", "nlist": None, "nprobe": 32}
    assert index_settings(MiningSettings(index="ivf", recall=0.9))["recall"] == 0.9


def test_a_recall_target_tunes_hnsw_logs_the_recall_and_is_recorded(mining_inputs, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    result = mine(mining_inputs, tmp_path / "pairs", recall=0.9)
    assert re.search(r"k-NN tuned for recall@10 >= 0\.90: approximate HNSW \(m 32, ef_construction 48, "
                     r"ef_search 16, faiss\) \(recall 1\.0000 on the \d+ tuning queries\)", caplog.text)
    measured = re.search(r"recall@10 against exact search, on \d+ sampled queries: ([\d.]+)", caplog.text)
    assert measured and float(measured.group(1)) >= 0.9
    assert len(result.mined.first) == len(read_pair_list(tmp_path / "pairs")) > 0
    settings = manifest(tmp_path / "pairs")
    assert (settings["index"], settings["recall"]) == ("hnsw", 0.9) and "nprobe" not in settings
    # Another target is other settings: its work dir is not mixed with this one's.
    with pytest.raises(UserError, match="recall 0.9 -> 0.95"):
        mine(mining_inputs, tmp_path / "pairs", recall=0.95)


def test_the_cli_refuses_a_recall_target_outside_0_1(mining_inputs, tmp_path):
    args = ["--path_segments", mining_inputs / "segments", "--features", mining_inputs / "features",
            "--path_sse", mining_inputs / "model.pt", "--output", tmp_path / "pairs"]
    for bad in ("0", "1.5", "nan"):
        assert_user_error(run_script("mine_pairs.py", *args, "--recall", bad), "--recall")
    assert not (tmp_path / "pairs").exists() and not (tmp_path / "pairs.work").exists()
