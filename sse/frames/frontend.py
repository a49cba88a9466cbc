"""Frame front-ends: 16 kHz waveform -> frames at 50 per second.

* ``wav2vec2``: a frozen fairseq wav2vec 2.0 checkpoint (the paper: ``wav2vec_small.pt``,
  output of transformer layer 8, 768 dims).
* ``mfcc`` / ``fbank``: Kaldi features from kaldi-native-fbank at 100 frames/s, two consecutive
  frames stacked so the rate is 50 frames/s like wav2vec2. They need no weights, so the whole
  toolkit runs on a machine that has none.

Every front-end reports its name, dimension and frame rate (:meth:`Frontend.describe`); a
trained SSE model records that description, and segment times map to frames the same way
whichever front-end made them: frame ``i`` of a stretch starting at ``t`` begins at
``t + i / 50``.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np
import torch

from sse.core.errors import UserError
from sse.core.precision import autocast
from sse.defaults import (  # noqa: F401
    CMVN_MODES,
    DEFAULT_CMVN,
    DEFAULT_LAYER,
    DEFAULT_WAV2VEC2,
    FRAME_RATE,
    FRONTENDS,  # (re-exported)
)
from sse.frames.audio import SAMPLE_RATE
from sse.frames.cmvn import SpeakerStats, apply_cmvn

logger = logging.getLogger(__name__)



def canonical_description(description: dict) -> dict:
    """A recorded front-end description with the fields older files lack filled in.

    Feature stores and checkpoints written before CMVN existed hold no ``cmvn`` field; they were
    made without it, so they read as ``"none"`` and keep their behaviour.
    """
    return {**description, "cmvn": description.get("cmvn", "none")}


class Frontend:
    """Turns one 16 kHz mono waveform into a (frames, dim) float32 tensor."""

    name: str
    dim: int
    frame_rate: int = FRAME_RATE
    cmvn: str = "none"
    speaker_stats: SpeakerStats | None = None  # with cmvn "speaker": whose statistics normalise frames
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"  # wav2vec2 may run under fp16/bf16 autocast (sse/core/precision.py); frames stay fp32

    def describe(self) -> dict:
        """What a checkpoint records to rebuild this front-end."""
        return {"name": self.name, "dim": self.dim, "frame_rate": self.frame_rate, "cmvn": self.cmvn}

    def normalize(self, frames: torch.Tensor, speaker: str | None = None,
                  stats: SpeakerStats | None = None) -> torch.Tensor:
        """Apply this front-end's normalisation (:mod:`sse.frames.cmvn`) to the frames of one
        waveform or VAD of ``speaker``.

        Called once the frames are final: after cropping the context away at extraction and
        scoring, on each stretched waveform in stage 1. With ``cmvn="speaker"`` the statistics
        are ``stats``, else :attr:`speaker_stats` (which whoever builds the frames attaches).
        """
        if self.cmvn == "utterance":
            return apply_cmvn(frames)
        if self.cmvn == "speaker":
            stats = stats if stats is not None else self.speaker_stats
            if stats is None:
                raise RuntimeError("per-speaker CMVN needs speaker statistics (Frontend.speaker_stats)")
            return stats.normalize(speaker, frames)
        return frames

    def to(self, device) -> "Frontend":
        self.device = torch.device(device)
        return self

    def __call__(self, samples) -> torch.Tensor:
        """Frames of one waveform (1-D float array or tensor), on :attr:`device`."""
        raise NotImplementedError

    def batch(self, waveforms: list) -> list[torch.Tensor]:
        """Frames of several waveforms; front-ends that can batch exactly override this."""
        return [self(waveform) for waveform in waveforms]


def _as_numpy(samples) -> np.ndarray:
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    return np.ascontiguousarray(samples, dtype=np.float32)


def kaldi_deltas(features: np.ndarray, window: int = 2) -> np.ndarray:
    """Kaldi's delta regression over +-``window`` frames, edges repeated."""
    padded = np.pad(features, ((window, window), (0, 0)), mode="edge")
    count = len(features)
    numerator = sum(n * (padded[window + n:window + n + count] - padded[window - n:window - n + count])
                    for n in range(1, window + 1))
    return numerator / (2 * sum(n * n for n in range(1, window + 1)))


class KaldiFrontend(Frontend):
    """MFCC (13 + deltas + delta-deltas) or 80-bin log-mel fbank, two 10 ms frames per frame.

    Standard Kaldi settings (25 ms Povey window, 10 ms shift, ``snip_edges``), no dither so
    features are reproducible, samples scaled to the 16-bit range as Kaldi reads them. By
    default the frames of each waveform get mean and variance normalisation (``cmvn``), as
    Kaldi recipes do; :meth:`normalize` applies it.
    """

    def __init__(self, kind: str = "mfcc", cmvn: str = "utterance") -> None:
        import kaldi_native_fbank as knf  # noqa: PLC0415

        if kind not in ("mfcc", "fbank"):
            raise ValueError(kind)
        self.name = kind
        self.cmvn = cmvn
        self._knf = knf
        if kind == "mfcc":
            self.options = knf.MfccOptions()
            self.options.num_ceps = 13
            base_dim = 13 * 3
        else:
            self.options = knf.FbankOptions()
            self.options.mel_opts.num_bins = 80
            base_dim = 80
        self.options.frame_opts.samp_freq = SAMPLE_RATE
        self.options.frame_opts.dither = 0.0
        self.options.frame_opts.snip_edges = True
        self.dim = 2 * base_dim

    def _frames_100hz(self, samples: np.ndarray) -> np.ndarray:
        computer = (self._knf.OnlineMfcc if self.name == "mfcc" else self._knf.OnlineFbank)(self.options)
        computer.accept_waveform(SAMPLE_RATE, samples * 32768.0)
        computer.input_finished()
        count = computer.num_frames_ready
        if count == 0:
            return np.zeros((0, self.dim // 2), dtype=np.float32)
        frames = np.stack([computer.get_frame(i) for i in range(count)]).astype(np.float32)
        if self.name == "mfcc":
            deltas = kaldi_deltas(frames)
            frames = np.concatenate([frames, deltas, kaldi_deltas(deltas)], axis=1)
        return frames

    def __call__(self, samples) -> torch.Tensor:
        frames = self._frames_100hz(_as_numpy(samples))
        pairs = len(frames) // 2
        stacked = frames[:2 * pairs].reshape(pairs, self.dim)
        return torch.from_numpy(stacked).to(self.device)


def allow_fairseq_checkpoint_classes() -> None:
    """Let ``torch.load(weights_only=True)`` (the default since torch 2.6) read fairseq checkpoints.

    fairseq checkpoints hold an ``argparse.Namespace`` (old ``args``) and, when written by
    ``fairseq-train``, the meters of its progress logger. Only these classes are allow-listed;
    weights-only loading stays on for everything else.
    """
    allowed: list = [argparse.Namespace]
    try:
        from fairseq.logging import meters  # noqa: PLC0415
        allowed += [meters.AverageMeter, meters.TimeMeter, meters.StopwatchMeter, meters.MetersDict]
        allowed += [getattr(meters, name) for name in ("SumMeter", "ConcatTensorMeter") if hasattr(meters, name)]
    except ImportError:
        pass
    torch.serialization.add_safe_globals(allowed)


def missing_wav2vec2_message(path: str) -> str:
    """What to do without the weights, in the terms of whoever called: the recipes set
    ``SSE_RECIPE=1`` (sse/pipeline/stages.py), whose users choose with environment variables."""
    recipe = os.environ.get("SSE_RECIPE") == "1"
    point, other = ("set SSE_PATH_SSL", "SSE_FRONTEND=mfcc") if recipe else ("pass --path_ssl", "--frontend mfcc")
    return (f"{path}: no such wav2vec 2.0 checkpoint. Download fairseq's wav2vec_small.pt "
            f"(wav2vec 2.0 Base, LibriSpeech 960 h, no fine-tuning) and put it at "
            f"{DEFAULT_WAV2VEC2} or {point}; or use {other}, which needs no weights")


class Wav2Vec2Frontend(Frontend):
    """Output of one transformer layer of a frozen fairseq wav2vec 2.0 model.

    Waveforms go through the model one at a time, or in batches of equal length: the Base
    model's feature extractor group-normalises over time, so zero-padding a batch would change
    the features of its shorter members.
    """

    name = "wav2vec2"

    def __init__(self, path: str | os.PathLike = DEFAULT_WAV2VEC2, layer: int = DEFAULT_LAYER,
                 cmvn: str = "none") -> None:
        self.cmvn = cmvn
        path = str(path)
        if not Path(path).is_file():
            raise UserError(missing_wav2vec2_message(path))
        allow_fairseq_checkpoint_classes()
        from fairseq import checkpoint_utils  # noqa: PLC0415

        try:
            models, cfg, _task = checkpoint_utils.load_model_ensemble_and_task([path])
        except Exception as error:  # fairseq raises many types for a file that is not a checkpoint
            raise UserError(f"{path}: cannot load as a fairseq wav2vec 2.0 checkpoint "
                            f"({type(error).__name__}: {error})") from None
        model = models[0]
        model = getattr(getattr(model, "w2v_encoder", None), "w2v_model", model)  # fine-tuned -> base
        if not hasattr(model, "extract_features") or not hasattr(model, "encoder"):
            raise UserError(f"{path}: not a wav2vec 2.0 model ({type(model).__name__})")
        if hasattr(model, "remove_pretraining_modules"):
            model.remove_pretraining_modules()
        num_layers = len(model.encoder.layers)
        if not 0 <= layer < num_layers:
            raise UserError(f"{path}: layer {layer} does not exist; the model has layers 0..{num_layers - 1}")
        self.model = model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.path = os.path.abspath(path)  # a checkpoint that records it works from any directory
        self.layer = layer
        self.normalize_waveform = bool(getattr(cfg.task, "normalize", False))
        self.dim = int(model.cfg.encoder_embed_dim)

    def describe(self) -> dict:
        return {**super().describe(), "path": self.path, "layer": self.layer}

    def to(self, device) -> "Wav2Vec2Frontend":
        super().to(device)
        self.model.to(self.device)
        return self

    max_batch_samples = 16000 * 240  # audio per forward pass of equal-length waveforms (4 minutes)

    @torch.no_grad()
    def _forward(self, waves: torch.Tensor) -> torch.Tensor:
        if self.normalize_waveform:  # large models were trained on per-utterance normalised audio
            waves = torch.nn.functional.layer_norm(waves, waves.shape[-1:])
        with autocast(self.device, self.precision):
            output = self.model.extract_features(waves, padding_mask=None, mask=False, layer=self.layer)
        return output["x"].float()

    def __call__(self, samples) -> torch.Tensor:
        wave = torch.as_tensor(_as_numpy(samples), device=self.device)
        return self._forward(wave[None])[0]

    def batch(self, waveforms: list) -> list[torch.Tensor]:
        by_length: dict[int, list[int]] = {}
        for index, waveform in enumerate(waveforms):
            by_length.setdefault(len(waveform), []).append(index)
        results: list[torch.Tensor | None] = [None] * len(waveforms)
        for same_length in by_length.values():
            step = max(1, self.max_batch_samples // max(1, len(waveforms[same_length[0]])))
            for begin in range(0, len(same_length), step):
                indices = same_length[begin:begin + step]
                stacked = torch.stack([torch.as_tensor(_as_numpy(waveforms[i])) for i in indices]).to(self.device)
                for index, frames in zip(indices, self._forward(stacked)):
                    results[index] = frames
        return results


def resolve_cmvn(name: str, cmvn: str | None) -> str:
    """``cmvn`` if given, else the default of front-end ``name``."""
    if cmvn is None or cmvn == "":
        return DEFAULT_CMVN.get(name, "none")
    if cmvn not in CMVN_MODES:
        raise UserError(f"unknown CMVN mode {cmvn!r}; choose one of {', '.join(CMVN_MODES)}")
    return cmvn


def build_frontend(name: str, path_ssl: str | None = None, layer: int | None = None,
                   device: str | torch.device = "cpu", cmvn: str | None = None) -> Frontend:
    """The front-end called ``name`` (one of :data:`FRONTENDS`), moved to ``device``.

    ``cmvn`` (``utterance`` or ``none``) defaults to :data:`DEFAULT_CMVN` of the front-end.
    """
    if name not in FRONTENDS:
        raise UserError(f"unknown front-end {name!r}; choose one of {', '.join(FRONTENDS)}")
    cmvn = resolve_cmvn(name, cmvn)
    if name == "wav2vec2":
        frontend: Frontend = Wav2Vec2Frontend(path_ssl or DEFAULT_WAV2VEC2,
                                              DEFAULT_LAYER if layer is None else layer, cmvn)
    else:
        frontend = KaldiFrontend(name, cmvn)
    return frontend.to(device)


def frontend_from_description(description: dict, device="cpu", path_ssl: str | None = None,
                              layer: int | None = None) -> Frontend:
    """Rebuild the front-end a checkpoint or feature store recorded (path/layer may be overridden)."""
    description = canonical_description(description)
    frontend = build_frontend(description["name"], path_ssl or description.get("path"),
                              layer if layer is not None else description.get("layer"), device,
                              description["cmvn"])
    if frontend.dim != description.get("dim", frontend.dim):
        raise UserError(f"front-end {frontend.name} gives {frontend.dim}-dim frames but "
                        f"{description['dim']} were recorded")
    return frontend
