import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch

from sse.core.errors import UserError
from sse.frames.frontend import build_frontend, frontend_from_description


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(0).normal(0, 0.1, 2 * 16000).astype(np.float32)


def test_wav2vec2_loads_a_fairseq_checkpoint_and_returns_the_chosen_layer(tiny_wav2vec2, noise):
    from fairseq import checkpoint_utils
    frontend = build_frontend("wav2vec2", tiny_wav2vec2, layer=1)
    assert frontend.describe() == {"name": "wav2vec2", "dim": 32, "frame_rate": 50,
                                   "cmvn": "none", "path": str(tiny_wav2vec2), "layer": 1}
    frames = frontend(noise)
    assert frames.shape == (99, 32)  # 50 frames/s, as fairseq's 320-sample stride gives
    models, _, _ = checkpoint_utils.load_model_ensemble_and_task([str(tiny_wav2vec2)])
    model = models[0].eval()
    with torch.no_grad():
        reference = {layer: model.extract_features(torch.from_numpy(noise)[None], None, layer=layer)["x"][0]
                     for layer in (0, 1)}
    torch.testing.assert_close(frames, reference[1])
    assert not torch.allclose(frames, reference[0])


def test_wav2vec2_batches_exactly(tiny_wav2vec2, noise):
    frontend = build_frontend("wav2vec2", tiny_wav2vec2, layer=2)
    waves = [noise, noise[:16000], noise[::-1].copy(), noise[:8000]]
    for batched, wave in zip(frontend.batch(waves), waves):
        torch.testing.assert_close(batched, frontend(wave), atol=1e-5, rtol=1e-5)


def test_wav2vec2_errors(tmp_path, tiny_wav2vec2):
    with pytest.raises(UserError, match=r"wav_small\.pt|wav2vec_small\.pt") as error:
        build_frontend("wav2vec2", tmp_path / "missing.pt")
    assert "--frontend mfcc" in str(error.value)
    with pytest.raises(UserError, match="layer 7 does not exist; the model has layers 0..2"):
        build_frontend("wav2vec2", tiny_wav2vec2, layer=7)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot load as a fairseq wav2vec 2.0 checkpoint"):
        build_frontend("wav2vec2", tmp_path / "junk.pt")
    with pytest.raises(UserError, match="unknown front-end"):
        build_frontend("hubert")


@pytest.mark.parametrize("kind, dim", [("mfcc", 78), ("fbank", 160)])
def test_kaldi_frontends_stack_two_10ms_frames(kind, dim, noise):
    frontend = build_frontend(kind)
    frames = frontend(noise).numpy()
    assert frames.shape == (99, dim) and frontend.frame_rate == 50
    # Independent computation of the 100 frames/s features with kaldi-native-fbank.
    options = knf.MfccOptions() if kind == "mfcc" else knf.FbankOptions()
    if kind == "fbank":
        options.mel_opts.num_bins = 80
    options.frame_opts.dither = 0.0
    computer = (knf.OnlineMfcc if kind == "mfcc" else knf.OnlineFbank)(options)
    computer.accept_waveform(16000, noise * 32768)
    computer.input_finished()
    raw = np.stack([computer.get_frame(i) for i in range(computer.num_frames_ready)])
    base = 13 if kind == "mfcc" else 80
    np.testing.assert_allclose(frames[5, :base], raw[10], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(frames[5, dim // 2:dim // 2 + base], raw[11], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(frontend(noise).numpy(), frames)  # no dither: reproducible


def test_description_rebuilds_the_frontend_and_checks_dimension(tiny_wav2vec2):
    description = build_frontend("wav2vec2", tiny_wav2vec2, layer=0).describe()
    assert frontend_from_description(description).describe() == description
    assert frontend_from_description(description, layer=2).layer == 2
    with pytest.raises(UserError, match="gives 78-dim frames but 160 were recorded"):
        frontend_from_description({"name": "mfcc", "dim": 160, "frame_rate": 50})


def test_kaldi_frontends_normalise_each_waveform_unless_told_not_to(noise):
    loud = noise * 8 + 0.01 * np.sin(np.arange(len(noise)) / 3)
    assert build_frontend("mfcc").cmvn == build_frontend("fbank").cmvn == "speaker"  # the default
    for name in ("mfcc", "fbank"):
        default, raw = build_frontend(name, cmvn="utterance"), build_frontend(name, cmvn="none")
        assert default.describe()["cmvn"] == "utterance" and raw.describe()["cmvn"] == "none"
        frames = raw(loud)
        torch.testing.assert_close(raw.normalize(frames), frames)  # "none" leaves frames alone
        normalised = default.normalize(default(loud))
        torch.testing.assert_close(normalised, (frames - frames.mean(0)) / frames.std(0, unbiased=False))
        # the level of the recording no longer shows: a quieter copy gives nearly the same frames
        quiet = default.normalize(default(loud / 20))
        assert torch.nn.functional.cosine_similarity(normalised, quiet).mean() > 0.95
    assert build_frontend("fbank", cmvn="utterance").normalize(torch.ones(1, 160)).abs().max() == 0  # no NaN


def test_wav2vec2_stays_unnormalised_and_old_descriptions_mean_none(tiny_wav2vec2):
    assert build_frontend("wav2vec2", tiny_wav2vec2, layer=0).cmvn == "none"
    assert frontend_from_description({"name": "mfcc", "dim": 78, "frame_rate": 50}).cmvn == "none"
    assert frontend_from_description({"name": "mfcc", "dim": 78, "frame_rate": 50, "cmvn": "utterance"}).cmvn == "utterance"
    with pytest.raises(UserError, match="CMVN"):
        build_frontend("mfcc", cmvn="global")
