"""Options every script checks before any work: --device against torch, the plot's extension."""
from __future__ import annotations

from tests.helpers import assert_one_error, run_inprocess

BOM = "\ufeff"


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
