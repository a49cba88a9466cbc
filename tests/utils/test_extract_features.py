"""extract_features.py and the feature store under hostile state: a damaged description or
shard, a list that fails its check, leftovers of a killed run, another VAD list, the sharding rule."""
from __future__ import annotations

import numpy as np
import pytest

from sse.core.errors import UserError
from sse.frames.feature_store import FeatureStore, shard_name
from sse.frames.formats import read_segment_list, read_vad_list, write_segment_list, write_vad_list
from tests.helpers import assert_one_error, copy_store, run_inprocess

BOM = "\ufeff"


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


def test_extract_features_refuses_to_finish_a_store_from_another_vad_list(store, word_corpus, tmp_path):
    features = copy_store(store, tmp_path / "features")
    (features / f"{shard_name(1, 2)}.index").unlink()
    write_vad_list(tmp_path / "vads", read_vad_list(word_corpus.vads)[1:])
    assert_one_error(run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                   tmp_path / "vads", "--output_dir", features, "--frontend", "mfcc",
                                   "--nshards", "2", "--num_workers", "0"), "another VAD list")


def test_one_sharding_rule_everywhere(store, word_corpus, tmp_path):
    from sse.core.sharding import requested_shards, shard_bounds, shard_slice

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
