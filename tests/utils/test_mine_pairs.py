"""mine_pairs.py under hostile state: a broken model, a segment the store lacks, damaged work files."""
from __future__ import annotations

from sse.frames.formats import read_segment_list, write_segment_list
from tests.helpers import assert_one_error, run_inprocess

BOM = "\ufeff"


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
