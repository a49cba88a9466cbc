"""The mining pipeline as a library (sse/pipeline/mining_run.py): sharding, resuming, the work folder's manifest."""
from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import fields

import numpy as np
import pytest
import torch

import sse.pipeline.mining_run
from sse import defaults
from sse.core.errors import UserError
from sse.frames.formats import read_pair_list, read_segment_list, write_segment_list
from sse.inference.checkpoint import save_encoder
from sse.method.model import SSEEncoder
from sse.pipeline.mining_run import MiningSettings, mine_pairs
from tests.helpers import MFCC_DESCRIPTION, REPO


def mine(mining_inputs, output, **settings):
    return mine_pairs(mining_inputs / "segments", mining_inputs / "features", mining_inputs / "model.pt", output,
                      settings=MiningSettings(pca_dim=16, **settings), device="cpu")


def mtimes(folder):
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def test_settings_defaults_are_the_library_defaults_and_the_clis():
    settings = MiningSettings()
    assert (settings.k, settings.pca_dim, settings.max_pca_fit, settings.nms_overlap, settings.coverage) == \
        (defaults.K, defaults.PCA_DIM, defaults.MAX_PCA_FIT, defaults.NMS_OVERLAP, defaults.COVERAGE)
    assert (settings.index, settings.nprobe, settings.seed) == (defaults.KNN_INDEX, defaults.NPROBE,
                                                                 defaults.MINING_SEED)
    spec = importlib.util.spec_from_file_location("script_mine_pairs", REPO / "utils" / "mine_pairs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    existing = str(REPO / "README.md")  # inputs must exist to be parsed
    args = script.build_parser().parse_args(["--path_segments", existing, "--features", str(REPO), "--path_sse",
                                             existing, "--output", "O"])
    assert MiningSettings(**{field.name: getattr(args, field.name) for field in fields(MiningSettings)}) == settings


def test_three_shards_give_the_pair_list_of_one(mining_inputs, tmp_path):
    whole = mine(mining_inputs, tmp_path / "whole")
    sharded = mine(mining_inputs, tmp_path / "sharded", nshards=3)
    pairs = read_pair_list(tmp_path / "whole")
    assert pairs and read_pair_list(tmp_path / "sharded") == pairs
    assert len(pairs) == len(whole.mined.first) == len(sharded.mined.first)
    assert whole.mined.threshold == sharded.mined.threshold
    assert [p.similarity for p in pairs] == sorted((p.similarity for p in pairs), reverse=True)
    segments = read_segment_list(mining_inputs / "segments")
    assert whole.mined.queries_covered >= len(segments) / 2
    work = tmp_path / "sharded.work"
    assert sorted(path.name for path in work.iterdir()) == [
        *(f"embeddings-{shard:05d}-of-00003.npy" for shard in range(3)),
        *(f"knn-{shard:05d}-of-00003.npz" for shard in range(3)), "manifest.json"]
    assert sum(len(np.load(work / f"embeddings-{shard:05d}-of-00003.npy")) for shard in range(3)) == len(segments)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["settings"] == {"nshards": 3, "pca_dim": 16, "max_pca_fit": defaults.MAX_PCA_FIT,
                                    "k": defaults.K, "seed": 0}
    assert set(manifest["inputs"]) == {"segments", "model", "features"}


def test_an_interrupted_run_resumes_recomputing_only_the_lost_pieces(mining_inputs, tmp_path, caplog, monkeypatch):
    mine(mining_inputs, tmp_path / "pairs", nshards=3)
    reference = (tmp_path / "pairs").read_bytes()
    work = tmp_path / "pairs.work"
    before = mtimes(work)
    (tmp_path / "pairs").unlink()

    # A lost k-NN piece needs no model: every embedding is there.
    (work / "knn-00001-of-00003.npz").unlink()
    monkeypatch.setattr(sse.pipeline.mining_run, "load_encoder", lambda *_: pytest.fail("the model was loaded"))
    mine(mining_inputs, tmp_path / "pairs", nshards=3)
    monkeypatch.undo()
    assert (tmp_path / "pairs").read_bytes() == reference
    after = mtimes(work)
    assert {name for name in after if after[name] != before.get(name)} == {"knn-00001-of-00003.npz"}

    # A damaged embeddings piece is embedded again, and nothing else is redone.
    embeddings = work / "embeddings-00002-of-00003.npy"
    embeddings.write_bytes(embeddings.read_bytes()[:100])
    (tmp_path / "pairs").unlink()
    caplog.set_level(logging.INFO, logger="mine_pairs")
    result = mine(mining_inputs, tmp_path / "pairs", nshards=3)
    assert (tmp_path / "pairs").read_bytes() == reference
    again = mtimes(work)
    assert {name for name in again if again[name] != after[name]} == {embeddings.name}
    assert "embeddings-00002-of-00003.npy is damaged" in caplog.text
    assert "2 of 3 embedding shards already done" in caplog.text
    assert "k-NN: exact" not in caplog.text  # every k-NN piece was reused
    assert len(result.mined.first) == len(read_pair_list(tmp_path / "pairs"))


def test_a_shard_run_only_embeds_and_a_work_dir_of_another_run_is_refused(mining_inputs, tmp_path, monkeypatch):
    result = mine_pairs(mining_inputs / "segments", mining_inputs / "features", mining_inputs / "model.pt", tmp_path / "pairs",
                        settings=MiningSettings(pca_dim=16, nshards=2), device="cpu", shard=1)
    work = tmp_path / "pairs.work"
    assert result is None and not (tmp_path / "pairs").exists()
    assert sorted(path.name for path in work.iterdir()) == ["embeddings-00001-of-00002.npy", "manifest.json"]
    before = mtimes(work)
    # Refused before any work: the model is not even loaded.
    monkeypatch.setattr(sse.pipeline.mining_run, "load_encoder", lambda *_: pytest.fail("the model was loaded"))
    with pytest.raises(UserError, match=r"made from other inputs or settings \(nshards 2 -> 3\)"):
        mine(mining_inputs, tmp_path / "pairs", nshards=3)
    torch.manual_seed(1)
    save_encoder(tmp_path / "other.pt", SSEEncoder(input_dim=78), MFCC_DESCRIPTION)
    with pytest.raises(UserError, match=r"made from other inputs or settings \(input model"):
        mine_pairs(mining_inputs / "segments", mining_inputs / "features", tmp_path / "other.pt", tmp_path / "pairs",
                   settings=MiningSettings(pca_dim=16, nshards=2), device="cpu")
    with pytest.raises(UserError, match="index None -> 'ivf'"):
        mine(mining_inputs, tmp_path / "pairs", nshards=2, index="ivf")
    assert mtimes(work) == before and not (tmp_path / "pairs").exists()
    monkeypatch.undo()
    # The same settings finish the run: shard 0 is embedded, shard 1 reused.
    mine(mining_inputs, tmp_path / "pairs", nshards=2)
    assert mtimes(work)["embeddings-00001-of-00002.npy"] == before["embeddings-00001-of-00002.npy"]
    assert read_pair_list(tmp_path / "pairs")


def test_no_surviving_pair_is_a_user_error_and_writes_no_list(mining_inputs, tmp_path):
    segments = read_segment_list(mining_inputs / "segments")
    one_file = [segment for segment in segments if segment.wav == segments[0].wav]
    write_segment_list(tmp_path / "one_file", [s for s in one_file if s.start == one_file[0].start])
    with pytest.raises(UserError, match="no pair survived the filters"):
        mine_pairs(tmp_path / "one_file", mining_inputs / "features", mining_inputs / "model.pt", tmp_path / "pairs",
                   settings=MiningSettings(pca_dim=4), device="cpu")
    assert not (tmp_path / "pairs").exists()
