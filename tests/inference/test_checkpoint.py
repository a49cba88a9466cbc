import torch

from sse.inference.checkpoint import load_encoder, save_encoder
from sse.method.model import EncoderConfig, SSEEncoder


def test_round_trip_in_the_toolkit_format(tmp_path):
    torch.manual_seed(1)
    encoder = SSEEncoder(EncoderConfig(input_dim=40, dropout=0.1)).eval()
    frontend = {"name": "fbank", "dim": 40, "frame_rate": 50, "cmvn": "utterance"}
    save_encoder(tmp_path / "m.pt", encoder, frontend, {"stage": "init", "map": 0.5})
    loaded = load_encoder(tmp_path / "m.pt")
    assert loaded.frontend == frontend and loaded.info == {"stage": "init", "map": 0.5}
    assert loaded.encoder.config == encoder.config and not loaded.encoder.training
    frames = torch.randn(2, 30, 40)
    torch.testing.assert_close(loaded.encoder(frames), encoder(frames))


def test_half_precision_storage_halves_the_size_and_keeps_embeddings(tmp_path):
    torch.manual_seed(2)
    encoder = SSEEncoder(input_dim=78).eval()
    frontend = {"name": "mfcc", "dim": 78, "frame_rate": 50}
    save_encoder(tmp_path / "full.pt", encoder, frontend)
    save_encoder(tmp_path / "half.pt", encoder, frontend, half=True)
    ratio = (tmp_path / "half.pt").stat().st_size / (tmp_path / "full.pt").stat().st_size
    assert 0.45 < ratio < 0.55
    frames = torch.randn(4, 25, 78)
    full, half = encoder(frames), load_encoder(tmp_path / "half.pt").encoder(frames)
    assert torch.nn.functional.cosine_similarity(full, half).min() > 0.999


def test_a_checkpoint_without_cmvn_reads_as_unnormalised(tmp_path):
    """Models saved before CMVN existed keep their behaviour: no normalisation."""
    old = {"name": "mfcc", "dim": 78, "frame_rate": 50}
    save_encoder(tmp_path / "old.pt", SSEEncoder(input_dim=78), old)
    assert load_encoder(tmp_path / "old.pt").frontend == {**old, "cmvn": "none"}
