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


def test_a_file_that_is_not_a_checkpoint_is_one_short_line(tmp_path):
    """A text file (a list given by mistake), an empty file, or a torch file of other objects: a
    short reason, not torch's advice on weights_only (which reads as if torch should load it)."""
    import pytest

    from sse.core.errors import UserError
    from tests.helpers import REPO, run_quiet

    (tmp_path / "list.pt").write_text("dev/1013/1013-2-0013.ogg 3.0 3.01\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save({"layer": torch.nn.Linear(2, 2)}, tmp_path / "objects.pt")
    for name, reason in (("list.pt", "it is a text file"), ("empty.pt", "the file is empty"),
                         ("objects.pt", "holds Python objects")):
        with pytest.raises(UserError, match=reason) as error:
            load_encoder(tmp_path / name)
        assert "weights_only" not in str(error.value) and len(str(error.value)) - len(str(tmp_path)) < 120
    result = run_quiet("map_dump.py", "--path_wavs", REPO / "training_data" / "demo", "--path_segments",
                       REPO / "sse_benchmark" / "demo-ngrams-subset", "--task=map", "--path_sse", tmp_path / "list.pt")
    assert result.returncode == 2 and result.stderr == f"error: {tmp_path / 'list.pt'}: not a checkpoint (it is a text file)\n"
