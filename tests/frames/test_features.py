import os

import numpy as np
import pytest
import soundfile
import torch

from sse.core.errors import UserError
from sse.frames.feature_store import FeatureStore, extract_shard
from sse.frames.features import compute_vad_frames, frame_span, vad_pieces
from sse.frames.formats import Vad
from sse.frames.frontend import Frontend, build_frontend
from sse.method.model import SSEEncoder
from tests.helpers import assert_half_precision_frames_close, assert_user_error, run_script


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(1)
    soundfile.write(root / "long.wav", rng.normal(0, 0.1, 50 * 16000).astype(np.float32), 16000)
    soundfile.write(root / "short.wav", rng.normal(0, 0.1, 6 * 16000).astype(np.float32), 16000)
    return root


def test_vad_frames_are_the_file_frames_cropped_to_the_vad(long_file):
    mfcc = build_frontend("mfcc", cmvn="none")
    whole = mfcc(soundfile.read(long_file / "long.wav", dtype="float32")[0]).numpy()
    # A 45 s VAD: three pieces, each with 5 s of context; frames line up with the whole file's.
    vad = Vad("long.wav", "s", 1.0, 46.0)
    assert vad_pieces(vad) == [(1.0, 21.0), (21.0, 41.0), (41.0, 46.0)]
    frames = compute_vad_frames(mfcc, long_file, vad)
    assert frames.shape == (2250, 78)
    np.testing.assert_allclose(frames, whole[50:2300], rtol=1e-4, atol=1e-3)


def test_cmvn_is_computed_over_the_vad_after_the_context_is_cropped(long_file):
    """Default MFCC frames of a VAD = the raw frames of the VAD, normalised over the VAD alone."""
    raw = compute_vad_frames(build_frontend("mfcc", cmvn="none"), long_file, Vad("long.wav", "s", 3.0, 7.0))
    normalised = compute_vad_frames(build_frontend("mfcc", cmvn="utterance"), long_file, Vad("long.wav", "s", 3.0, 7.0))
    expected = (raw - raw.mean(0)) / raw.std(0)
    np.testing.assert_allclose(normalised, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(normalised.mean(0)).max() < 1e-4 and np.allclose(normalised.std(0), 1, atol=1e-3)


def test_context_reaches_the_model(long_file, tiny_wav2vec2):
    w2v = build_frontend("wav2vec2", tiny_wav2vec2, layer=2)
    audio = soundfile.read(long_file / "short.wav", dtype="float32")[0]
    # The file is shorter than the context on both sides, so the VAD sees the whole file.
    frames = compute_vad_frames(w2v, long_file, Vad("short.wav", "s", 1.0, 3.0))
    torch.testing.assert_close(torch.from_numpy(frames), w2v(audio)[50:150], atol=1e-5, rtol=1e-5)
    without_context = w2v(audio[16000:48000]).numpy()
    assert not np.allclose(frames[:99], without_context[:99], atol=1e-3)


def test_store_round_trip_and_lookup(long_file, tmp_path):
    mfcc = build_frontend("mfcc", cmvn="utterance")
    vads = [Vad("long.wav", "a", 0.5, 10.0), Vad("long.wav", "a", 12.02, 12.05),  # 30 ms: dropped
            Vad("short.wav", "b", 0.2, 5.9), Vad("long.wav", "a", 30.0, 49.9)]
    for shard in range(2):
        assert extract_shard(mfcc, long_file, vads, tmp_path, shard, 2, num_workers=0, progress=False)
    store = FeatureStore(tmp_path)
    assert len(store) == 3
    assert store.frames("short.wav", 0.2, 5.9).dtype == np.float16
    reference = compute_vad_frames(mfcc, long_file, vads[3])
    frames = store.frames("long.wav", 31.0, 31.96)
    np.testing.assert_allclose(frames, reference[50:98], rtol=2e-3, atol=2e-2)
    with pytest.raises(UserError, match="no features for file other.wav"):
        store.frames("other.wav", 0, 1)
    with pytest.raises(UserError, match="no stored VAD of long.wav contains"):
        store.frames("long.wav", 9.5, 10.5)


def test_the_store_description_is_its_stamp(long_file, tmp_path):
    """frontend.json binds the shards it describes: replaced while the store holds none, refused after."""
    from sse.frames.feature_store import check_store_description, store_description

    vads = [Vad("long.wav", "a", 0.5, 10.0)]
    mfcc, fbank = build_frontend("mfcc", cmvn="utterance"), build_frontend("fbank", cmvn="utterance")
    check_store_description(tmp_path, store_description(fbank, 1, vads), write=True)  # a run that failed
    assert extract_shard(mfcc, long_file, vads, tmp_path, num_workers=0, progress=False)
    assert FeatureStore(tmp_path).frontend["name"] == "mfcc"
    with pytest.raises(UserError, match=r"other inputs or settings \(another vads\); delete it"):
        extract_shard(mfcc, long_file, vads + [Vad("short.wav", "b", 0.2, 5.9)], tmp_path, num_workers=0,
                      progress=False)
    with pytest.raises(UserError, match=r"frontend.name 'mfcc' -> 'fbank'"):
        extract_shard(fbank, long_file, vads, tmp_path, num_workers=0, progress=False)


def test_frame_span_rounds_and_clips():
    assert frame_span(0.16, 0.48, 100) == (8, 24)
    assert frame_span(0.0, 0.96, 30) == (0, 30)
    assert frame_span(0.99, 1.0, 50) == (49, 50)  # never empty


def test_finished_shards_are_skipped_and_interrupted_ones_leave_nothing(long_file, tmp_path):
    mfcc = build_frontend("mfcc", cmvn="utterance")
    vads = [Vad("long.wav", "a", float(i), i + 0.8) for i in range(6)]
    assert extract_shard(mfcc, long_file, vads, tmp_path, 0, 2, num_workers=0, progress=False)
    index = tmp_path / "shard-00000-of-00002.index"
    stamp = index.stat().st_mtime_ns
    assert not extract_shard(mfcc, long_file, vads, tmp_path, 0, 2, num_workers=0, progress=False)
    assert index.stat().st_mtime_ns == stamp

    class Failing(Frontend):  # a front-end whose second batch is interrupted
        name, dim, frame_rate, calls = "mfcc", 78, 50, 0

        def describe(self):
            return mfcc.describe()

        def normalize(self, frames):
            return mfcc.normalize(frames)

        def batch(self, waves):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return mfcc.batch(waves)

    with pytest.raises(KeyboardInterrupt):
        extract_shard(Failing(), long_file, vads, tmp_path, 1, 2, num_workers=0, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["frontend.json", "shard-00000-of-00002.index",
                                            "shard-00000-of-00002.npy"]
    with pytest.raises(UserError, match="shard\\(s\\) 1 of 2 missing"):
        FeatureStore(tmp_path)
    assert extract_shard(mfcc, long_file, vads, tmp_path, 1, 2, num_workers=0, progress=False)
    assert len(FeatureStore(tmp_path)) == 6


@pytest.mark.slow
def test_extract_features_cli(long_file, tmp_path):
    (tmp_path / "vads").write_text("long.wav a 0 2\nshort.wav b 1 3\n")
    result = run_script("extract_features.py", "--path_wavs", long_file, "--path_vads", tmp_path / "vads",
                        "--output_dir", tmp_path / "feats", "--frontend", "fbank", "--nshards", "2",
                        "--device", "cpu", check=True)
    store = FeatureStore(tmp_path / "feats")
    assert store.dim == 160 and len(store) == 2
    assert "already finished" not in result.stderr
    again = run_script("extract_features.py", "--path_wavs", long_file, "--path_vads", tmp_path / "vads",
                       "--output_dir", tmp_path / "feats", "--frontend", "fbank", "--nshards", "2", check=True)
    assert "every requested shard is already finished" in again.stderr
    clash = run_script("extract_features.py", "--path_wavs", long_file, "--path_vads", tmp_path / "vads",
                       "--output_dir", tmp_path / "feats", "--frontend", "mfcc", "--nshards", "2")
    assert_user_error(clash, "different settings")


@pytest.mark.parametrize("vads, message", [
    ("missing.wav a 0 1\n", "no such audio file"),
    ("short.wav a 1 7.5\n", "goes past the end of the file"),
    ("short.wav a 1\n", "expected 4 fields"),
    ("", "the VAD list is empty"),
])
def test_extract_features_bad_input(long_file, tmp_path, vads, message):
    (tmp_path / "vads").write_text(vads)
    result = run_script("extract_features.py", "--path_wavs", long_file, "--path_vads", tmp_path / "vads",
                        "--output_dir", tmp_path / "feats", "--frontend", "mfcc")
    assert_user_error(result, message)
    assert not list((tmp_path / "feats").glob("*.npy")) if (tmp_path / "feats").exists() else True


def test_missing_wav2vec2_checkpoint_says_what_to_do(long_file, tmp_path):
    (tmp_path / "vads").write_text("short.wav a 1 2\n")
    result = run_script("extract_features.py", "--path_wavs", long_file, "--path_vads", tmp_path / "vads",
                        "--output_dir", tmp_path / "feats", "--path_ssl", tmp_path / "nope.pt")
    assert_user_error(result, "wav2vec_small.pt", "--frontend mfcc")


def test_half_precision_extraction_is_recorded_and_never_mixed(tiny_wav2vec2, long_file, tmp_path):
    (tmp_path / "vads").write_text("long.wav a 0 2\n")
    common = ["--path_wavs", long_file, "--path_vads", tmp_path / "vads", "--frontend", "wav2vec2",
              "--path_ssl", tiny_wav2vec2, "--layer", "1", "--device", "cpu", "--num_workers", "0"]
    run_script("extract_features.py", *common, "--output_dir", tmp_path / "fp32", check=True)
    run_script("extract_features.py", *common, "--output_dir", tmp_path / "bf16", "--precision", "bf16", check=True)
    full, half = FeatureStore(tmp_path / "fp32"), FeatureStore(tmp_path / "bf16")
    assert "precision" not in full.description and half.description["precision"] == "bf16"
    assert half.frontend == full.frontend  # the same features to a model: a model trained on one reads both
    reference = full.frames("long.wav", 0.0, 2.0).astype(np.float32)
    approximate = half.frames("long.wav", 0.0, 2.0).astype(np.float32)
    assert_half_precision_frames_close(approximate, reference)
    # A store is never completed in another precision, and Kaldi features have no half mode.
    mixed = run_script("extract_features.py", *common, "--output_dir", tmp_path / "fp32", "--precision", "fp16")
    assert_user_error(mixed, "precision fp32")
    kaldi = run_script("extract_features.py", "--path_wavs", long_file, "--path_vads", tmp_path / "vads",
                       "--output_dir", tmp_path / "mfcc", "--frontend", "mfcc", "--precision", "fp16")
    assert_user_error(kaldi, "--precision fp16 applies to wav2vec2")
    assert not (tmp_path / "mfcc").exists()


def test_a_span_shorter_than_a_frame_has_the_frame_it_starts_in(long_file):
    """A 10 ms span on its own (plain ``<wav> <start> <end>``, its own VAD) used to have no frame:
    a traceback alone, a row of -inf beside longer spans. It embeds as the one frame it starts
    in, so as the 20 ms span from the same start; only a span the front-end's frames do not reach
    (the file's last few ms) is refused."""
    from sse.api import Embedder

    mfcc = build_frontend("mfcc", cmvn="utterance")
    short = compute_vad_frames(mfcc, long_file, Vad("short.wav", "s", 3.0, 3.01))
    frame = compute_vad_frames(mfcc, long_file, Vad("short.wav", "s", 3.0, 3.02))
    assert short.shape == frame.shape == (1, mfcc.dim) and np.array_equal(short, frame)
    torch.manual_seed(0)
    wav = str(long_file / "short.wav")
    rows = Embedder(SSEEncoder(input_dim=mfcc.dim), mfcc, "cpu").embed_files(
        [(wav, 3.0, 3.01), (wav, 3.0, 3.02), (wav, 2.0, 3.5)])  # one batch, as map_dump.py embeds a list
    assert np.isfinite(rows).all() and np.allclose(rows[0], rows[1], atol=1e-5)
    with pytest.raises(UserError, match="too near the end of the file"):
        compute_vad_frames(mfcc, long_file, Vad("short.wav", "s", 5.99, 6.0))
