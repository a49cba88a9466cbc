"""Mixed precision and GPU-style batching, checked on the CPU against the fp32 / one-by-one paths."""
import numpy as np
import pytest
import soundfile
import torch

from sse.core.precision import autocast, frontend_precision
from sse.frames.feature_store import FeatureStore, extract_shard
from sse.frames.formats import Vad
from sse.frames.frontend import build_frontend
from sse.inference.embed import embed_frames
from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder
from tests.helpers import assert_half_precision_frames_close


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(0).normal(0, 0.1, 3 * 16000).astype(np.float32)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


def test_frontend_under_autocast_gives_fp32_frames_close_to_fp32(tiny_wav2vec2, noise):
    frontend = build_frontend("wav2vec2", tiny_wav2vec2, layer=2)
    reference = frontend(noise)
    frontend.precision = "bf16"
    frames = frontend(noise)
    assert frames.dtype == torch.float32 and frames.shape == reference.shape
    assert_half_precision_frames_close(frames.numpy(), reference.numpy())  # really bf16, and still close
    frontend.precision = "fp32"
    assert torch.equal(frontend(noise), reference)


def test_capped_batches_of_equal_length_waves_match_one_by_one(tiny_wav2vec2, noise):
    frontend = build_frontend("wav2vec2", tiny_wav2vec2, layer=1)
    waves = [noise, noise[::-1].copy(), noise * 0.5, noise[:16000], noise[16000:32000]]
    frontend.max_batch_samples = 2 * len(noise)  # the three long waves go in two passes
    for batched, wave in zip(frontend.batch(waves), waves):
        torch.testing.assert_close(batched, frontend(wave), atol=1e-5, rtol=1e-5)


def test_precision_names():
    assert frontend_precision("auto", fp16=True) == "fp16"
    assert frontend_precision("auto", bf16=True) == "bf16"
    assert frontend_precision("auto") == "fp32" and frontend_precision("bf16") == "bf16"
    with pytest.raises(ValueError):
        autocast("cpu", "fp8")


def test_extraction_in_groups_of_vads_matches_one_vad_at_a_time(tiny_wav2vec2, tmp_path):
    rng = np.random.default_rng(2)
    soundfile.write(tmp_path / "a.wav", rng.normal(0, 0.1, 40 * 16000).astype(np.float32), 16000)
    # Equal-length VADs far from the edges have equal-length pieces: they share forward passes.
    vads = [Vad("a.wav", "s", float(start), start + 1.5) for start in (6, 9, 12, 15, 18)] + [Vad("a.wav", "s", 1.0, 2.2)]
    frontend = build_frontend("wav2vec2", tiny_wav2vec2, layer=2)
    calls = []
    original = frontend._forward
    frontend._forward = lambda waves: calls.append(len(waves)) or original(waves)
    extract_shard(frontend, tmp_path, vads, tmp_path / "one", num_workers=0, progress=False)
    assert calls == [1] * 6
    calls.clear()
    extract_shard(frontend, tmp_path, vads, tmp_path / "grouped", num_workers=0, progress=False, group=4)
    assert sorted(calls) == [1, 1, 4]
    one, grouped = FeatureStore(tmp_path / "one"), FeatureStore(tmp_path / "grouped")
    for vad in vads:
        np.testing.assert_allclose(grouped.frames(vad.wav, vad.start, vad.end),
                                   one.frames(vad.wav, vad.start, vad.end), atol=2e-3, rtol=1e-3)  # float16 store


def test_half_precision_model_takes_fp32_frames_and_returns_fp32():
    from sse.plugin.model import SSEModel
    torch.manual_seed(0)
    model = SSEModel(SSEEncoder(EncoderConfig(input_dim=20)), ProjectionHead(512), length_buckets=2).eval()
    frames, lengths = torch.randn(6, 30, 20), torch.tensor([30, 12, 7, 30, 5, 18])
    reference = model(frames, lengths)
    model.to(torch.bfloat16)  # what fairseq's --bf16 does to the model
    output = model(frames, lengths)
    assert output.dtype == torch.float32
    assert relative_error(output, reference) < 0.05
    embeddings = embed_frames(model.encoder, ((i, frames[i, :lengths[i]].numpy()) for i in range(6)), 6,
                              progress=False)
    assert embeddings.dtype == np.float32
    assert relative_error(torch.from_numpy(embeddings), model.encoder.float()(frames, lengths)) < 0.05
