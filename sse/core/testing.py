"""Builders shared by the tests and the benches (bench/): random fairseq wav2vec 2.0 checkpoints.

No pretrained weights can be downloaded where the toolkit is tested, so these write randomly
initialised models exactly as fairseq saves its own, and the real loading path of
:class:`sse.frames.frontend.Wav2Vec2Frontend` is what reads them.

* :func:`save_tiny_wav2vec2` has the structure of fairseq's ``wav2vec_small.pt`` (same feature
  extractor strides, so the same 50 frames/s) with a narrow, shallow transformer: it loads and
  runs in well under a second (the tests).
* :func:`save_wav2vec2_checkpoint` defaults to the Base configuration (``bench/``).

fairseq is imported only when a checkpoint is built, so ``import sse.core.testing`` does not need it.
"""
from __future__ import annotations

import torch


def save_wav2vec2_checkpoint(path, model_cfg=None, seed: int = 0) -> str:
    """Save a random wav2vec 2.0 model (default: the Base architecture) as fairseq saves one."""
    from fairseq.dataclass.configs import FairseqConfig  # noqa: PLC0415  (fairseq: heavy, optional here)
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config, Wav2Vec2Model  # noqa: PLC0415
    from fairseq.tasks.audio_pretraining import AudioPretrainingConfig  # noqa: PLC0415
    from omegaconf import OmegaConf  # noqa: PLC0415

    torch.manual_seed(seed)
    model_cfg = model_cfg or Wav2Vec2Config()
    model = Wav2Vec2Model(model_cfg)
    cfg = FairseqConfig()
    cfg.model = OmegaConf.structured(model_cfg)
    cfg.model._name = "wav2vec2"
    cfg.task = OmegaConf.structured(AudioPretrainingConfig(data="/nonexistent"))
    cfg.task._name = "audio_pretraining"
    state = {
        "cfg": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True),
        "model": model.state_dict(),
        "optimizer_history": [{"criterion_name": "Wav2vecCriterion", "optimizer_name": "Adam",
                               "lr_scheduler_state": {}, "num_updates": 0}],
        "extra_state": {},
    }
    torch.save(state, str(path))
    return str(path)


def save_tiny_wav2vec2(path, embed_dim: int = 32, layers: int = 3, seed: int = 0) -> str:
    """A small random wav2vec 2.0 (``embed_dim``-wide, ``layers`` deep) saved at ``path``."""
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config  # noqa: PLC0415  (as above)

    return save_wav2vec2_checkpoint(path, Wav2Vec2Config(
        encoder_layers=layers, encoder_embed_dim=embed_dim, encoder_ffn_embed_dim=2 * embed_dim,
        encoder_attention_heads=2, conv_pos=16, conv_pos_groups=4, final_dim=16,
        latent_vars=8, latent_groups=2, conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2",
    ), seed)
