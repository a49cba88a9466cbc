import numpy as np
import torch

from sse.frames.frontend import build_frontend
from sse.inference.embed import pad_frames
from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder
from sse.plugin.model import SSEModel


def test_mined_and_augmentation_pairs_share_a_batch_in_the_loss_layout():
    """forward(frames, waves) gives the rows of the two batches as the loss expects them: all
    first sides (mined, then augmented), then all second sides, each as alone."""
    torch.manual_seed(0)
    frontend = build_frontend("mfcc", cmvn="utterance")
    model = SSEModel(SSEEncoder(EncoderConfig(input_dim=frontend.dim)), ProjectionHead(512), frontend).eval()
    rng = np.random.default_rng(0)
    mined = [rng.normal(size=(n, frontend.dim)).astype(np.float32) for n in (8, 20, 12, 30)]  # 2 pairs
    frames, lengths = pad_frames(mined)
    waves = [rng.normal(scale=0.1, size=16000).astype(np.float32) for _ in range(2)]
    spans = torch.tensor([[[0, 2, 10], [1, 4, 30]], [[0, 10, 40], [1, 0, 12]], [[1, 5, 9], [0, 20, 33]]])
    with torch.no_grad():
        together = model(frames, lengths, waves=waves, spans=spans)
        alone_mined = model(frames, lengths)
        alone_waves = model(waves=waves, spans=spans)
    assert together.shape == (10, 512)
    expected = torch.cat([alone_mined[:2], alone_waves[:3], alone_mined[2:], alone_waves[3:]])
    torch.testing.assert_close(together, expected, atol=1e-5, rtol=1e-5)


def test_the_frozen_front_end_runs_where_fairseq_puts_the_model(monkeypatch):
    """--cpu keeps the stage-1 front-end on the CPU even where CUDA exists (the model is there)."""
    from sse.plugin.tasks import AugmentTaskConfig, SSETask

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    task = SSETask.__new__(SSETask)
    task.cfg = AugmentTaskConfig(cpu=True)
    assert task.device == "cpu"
    task.cfg = AugmentTaskConfig(cpu=False)
    assert task.device == "cuda"
