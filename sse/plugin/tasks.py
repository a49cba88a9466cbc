"""fairseq tasks of the three training stages.

* ``sse_augment`` (stage 1, ``launch_init.sh``): pairs from time-stretch augmentation, frames
  from the frozen front-end computed on the fly.
* ``sse_pairs`` (stage 2, ``iteration.sh``): a mined pair list, frames from the feature store (or,
  with ``--stretched-features``, from time-stretched versions of the VADs, computed once).
* ``sse_gold`` (weakly supervised, ``launch_gold.sh``): labelled segments, frames from the store.

One dataset item is one whole batch of positive pairs (so run with ``--batch-size 1``), drawn
from ``(seed, epoch, index)``; ``--epoch-updates`` items make an epoch.

Validation, after every epoch: with ``--valid-segments`` (a benchmark segment list with
transcriptions) the task logs ``map``, the exact MAP of ``sse/evaluation/metrics.py`` computed with the
same embedding code as ``map_dump.py``; when the benchmark names several speakers, the speaker
diagnostics of ``sse/evaluation/metrics.py`` (``map_across``, ``map_within``: MAP with only other speakers'
or only the query's own speaker's segments ranked; ``spk10``: the share of each segment's 10
nearest neighbours of its own speaker); and two embedding-health figures of ``sse/method/health.py``
(``cos``, the mean cosine of random pairs, and ``erank``, the effective rank), which show a
collapsed model at once (select with ``--best-checkpoint-metric map
--maximize-best-checkpoint-metric``); without one, the loss on ``--valid-batches`` batches drawn
from a held-out ``--heldout-fraction`` of the training data (fully unsupervised selection).
"""

import dataclasses
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from fairseq import metrics
from fairseq.data import FairseqDataset
from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from sse.core.device import resolve_device
from sse.core.errors import UserError
from sse.core.precision import frontend_precision
from sse.defaults import BATCH_SIZE, EFFECTS, HELDOUT_FRACTION, STAGES
from sse.evaluation.metrics import mean_average_precision, speaker_report
from sse.frames.cmvn import SpeakerStats, stats_key
from sse.frames.feature_store import FeatureStore
from sse.frames.features import MIN_VAD
from sse.frames.formats import read_pair_list, read_segment_list, read_vad_list
from sse.frames.frontend import (
    CMVN_MODES,
    DEFAULT_LAYER,
    DEFAULT_WAV2VEC2,
    FRONTENDS,
    build_frontend,
    canonical_description,
    frontend_from_description,
)
from sse.inference.embed import embed_frames, frames_from_store, frames_on_the_fly, pad_frames, vad_statistics
from sse.method.augment import Effects
from sse.method.health import embedding_health
from sse.method.sampling import (
    AugmentationSampler,
    AugmentationSettings,
    LabelBatch,
    LabelSampler,
    PairSampler,
    StretchedPairSampler,
    batch_rng,
    split_heldout,
)
from sse.method.stretch_store import StretchStore

logger = logging.getLogger(__name__)

TRAIN_STREAM, VALID_STREAM = 0, 1


@dataclass
class SSETaskConfig(FairseqDataclass):
    data: str = field(default="", metadata={"help": "corpus root that the lists' wav paths are relative to ($LS)"})
    valid_segments: str = field(default="", metadata={
        "help": "benchmark segment list with transcriptions: validate by its MAP (else by held-out loss)"})
    valid_features: str = field(default="", metadata={
        "help": "feature store holding the benchmark's VADs (else its frames are computed once at start)"})
    valid_batches: int = field(default=20, metadata={"help": "held-out batches for loss validation"})
    heldout_fraction: float = field(default=HELDOUT_FRACTION, metadata={
        "help": "share of the training data held out for loss validation (when no --valid-segments)"})
    epoch_updates: int = field(default=STAGES["iteration"].epoch_updates, metadata={
        "help": "batches (= updates) per epoch"})
    pairs_per_batch: int = field(default=STAGES["iteration"].pairs_per_batch, metadata={
        "help": "positive pairs per batch"})
    embed_batch_size: int = field(default=BATCH_SIZE, metadata={"help": "segments per forward pass when embedding"})
    seed: int = II("common.seed")
    cpu: bool = II("common.cpu")
    # Each epoch needs fresh workers: they hold the dataset, whose epoch decides the batches.
    reuse_dataloader: bool = False
    persistent_workers: bool = False


class _OneItemBatches(FairseqDataset):
    """Every item is already a whole batch: one item per step, whatever the batching flags say."""

    def batch_by_size(self, indices, *args, **kwargs):
        return [np.array([index]) for index in indices]

    def num_tokens(self, index: int) -> int:
        return 1

    def size(self, index: int) -> int:
        return 1


#: How often a data-loader worker looks whether its trainer is still there, in seconds.
TRAINER_CHECK = 0.5
_worker_watching = 0  # the id of the data-loader worker process that watches already


def _watch_trainer(trainer: int) -> None:
    while os.getppid() == trainer:
        time.sleep(TRAINER_CHECK)
    os._exit(1)  # the trainer is gone: nothing will read this worker's batches


def exit_with_trainer(trainer: int) -> None:
    """In a data-loader worker (a process other than ``trainer``, the one that made the dataset):
    end it within :data:`TRAINER_CHECK` s of the trainer, however the trainer ends (SIGTERM from
    a scheduler, ``kill -9``). torch's workers look for their parent only between items, and one
    whose batch is still on its way to the dead trainer waits for it forever: fairseq-train ended
    by SIGTERM used to leave its workers running. A thread watches the parent process (not the
    kernel's parent-death signal, which follows the thread that started the worker: fairseq
    starts them from a thread that ends before they do). Once per worker; nothing in the trainer."""
    global _worker_watching
    pid = os.getpid()
    if pid == trainer or _worker_watching == pid:
        return
    _worker_watching = pid
    threading.Thread(target=_watch_trainer, args=(trainer,), name="watch-trainer", daemon=True).start()


class BatchDataset(_OneItemBatches):
    """Item ``i`` of epoch ``e`` is the batch ``make_batch(rng(seed, stream, e, i))``. A
    data-loader worker that draws items dies with the trainer (:func:`exit_with_trainer`)."""

    def __init__(self, make_batch, size: int, seed: int, stream: int, fixed_epoch: bool = False) -> None:
        self.make_batch, self.count, self.seed, self.stream = make_batch, size, seed, stream
        self.fixed_epoch = fixed_epoch  # validation batches are the same every epoch
        self.epoch = 1
        self.trainer = os.getpid()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int):
        exit_with_trainer(self.trainer)
        epoch = 0 if self.fixed_epoch else self.epoch
        return self.make_batch(batch_rng(self.seed, epoch, index, self.stream))

    def __len__(self) -> int:
        return self.count

    def collater(self, samples):
        return samples[0] if samples else {}


class BenchmarkDataset(_OneItemBatches):
    """A single item that tells ``valid_step`` to compute the benchmark MAP."""

    def __getitem__(self, index: int):
        return index

    def __len__(self) -> int:
        return 1

    def collater(self, samples):
        if not samples:  # a rank with no share of the single item: fairseq runs a dummy batch
            return {}
        return {"benchmark": True, "id": torch.zeros(1, dtype=torch.long), "nsentences": 1, "ntokens": 1}


class SSETask(FairseqTask):
    """What the three stages share: front-end bookkeeping, batches as items, validation."""

    cfg: SSETaskConfig

    def __init__(self, cfg: SSETaskConfig) -> None:
        super().__init__(cfg)
        self.frontend_description: dict = {}
        self.live_frontend = None
        self._benchmark = None

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        return cls(cfg)

    @property
    def device(self) -> str:
        """Where the frozen front-end runs: where fairseq puts the model (--cpu, else CUDA if any)."""
        return resolve_device("cpu" if self.cfg.cpu is True else None).type  # unresolved outside fairseq: unset

    @property
    def input_dim(self) -> int:
        return int(self.frontend_description["dim"])

    # The checkpoint's task state is how map_dump.py knows which front-end a model needs.
    def state_dict(self):
        return {"frontend": dict(self.frontend_description)}

    def load_state_dict(self, state_dict) -> None:
        recorded = state_dict.get("frontend")
        if recorded and canonical_description(recorded) != canonical_description(self.frontend_description):
            logger.warning("resuming a checkpoint trained with front-end %s; now using %s",
                           recorded, self.frontend_description)

    # Each stage sets its samplers and turns what they draw into a fairseq sample.
    sampler = None
    heldout_sampler = None

    def _collate(self, drawn) -> dict:
        raise NotImplementedError

    def train_batch(self, rng: np.random.Generator) -> dict:
        return self._collate(self.sampler.draw(rng))

    def heldout_batch(self, rng: np.random.Generator) -> dict:
        return self._collate(self.heldout_sampler.draw(rng))

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs) -> None:
        if split == "train":
            self.datasets[split] = BatchDataset(self.train_batch, self.cfg.epoch_updates, self.cfg.seed, TRAIN_STREAM)
        elif self.cfg.valid_segments:
            self._load_benchmark()
            self.datasets[split] = BenchmarkDataset()
        else:
            self.datasets[split] = BatchDataset(self.heldout_batch, self.cfg.valid_batches, self.cfg.seed,
                                                VALID_STREAM, fixed_epoch=True)

    def _benchmark_frontend(self):
        return self.live_frontend or frontend_from_description(self.frontend_description)

    def _load_benchmark(self) -> None:
        if self._benchmark is not None:
            return
        segments = read_segment_list(self.cfg.valid_segments, require_transcriptions=True)
        if self.cfg.valid_features:
            store = FeatureStore(self.cfg.valid_features)
            store.require_frontend(self.frontend_description, "training")
            items = frames_from_store(store, segments)
        else:
            items = frames_on_the_fly(self._benchmark_frontend(), self.cfg.data, segments)
        frames = [None] * len(segments)
        for index, segment_frames in items:
            frames[index] = np.asarray(segment_frames, dtype=np.float16)
        speakers = [s.speaker for s in segments]
        self._benchmark = (frames, [s.transcription for s in segments], speakers if len(set(speakers)) > 1 else None)
        logger.info("validation: exact MAP on %d segments of %s", len(segments), self.cfg.valid_segments)

    def valid_step(self, sample, model, criterion):
        if not sample.get("benchmark"):
            return super().valid_step(sample, model, criterion)
        frames, labels, speakers = self._benchmark
        device = next(model.encoder.parameters()).device
        embeddings = embed_frames(model.encoder, enumerate(frames), len(frames), self.cfg.embed_batch_size,
                                  device, progress=False)
        result = mean_average_precision(embeddings, labels, device)
        health = embedding_health(embeddings)
        if health.collapsed:
            logger.warning("validation: the embeddings look collapsed (%s)", health)
        # Outputs may arrive summed over ranks: map_count says how many results each sum holds.
        output = {"map": result.map, "map_count": 1, "map_queries": result.num_queries,
                  "cos": health.mean_cosine, "erank": health.effective_rank,
                  "sample_size": 1, "nsentences": 1, "ntokens": 1}
        if speakers is not None:  # does the model encode the voice rather than the word?
            report = speaker_report(embeddings, labels, speakers, device)
            output.update(map_across=report.map_across, map_within=report.map_within, spk10=report.neighbours)
        return torch.zeros(()), 1, output

    def reduce_metrics(self, logging_outputs, criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        maps = [log for log in logging_outputs if "map" in log]
        if maps:  # outputs may arrive summed over ranks: divide by how many results they hold
            count = sum(log.get("map_count", 1) for log in maps)
            # MAP, the speaker diagnostics (when the benchmark names speakers), embedding health
            for name, digits in (("map", 4), ("map_across", 4), ("map_within", 4), ("spk10", 3),
                                 ("cos", 3), ("erank", 1)):
                if all(name in log for log in maps):
                    metrics.log_scalar(name, sum(log[name] for log in maps) / count, count, round=digits)

    def max_positions(self):
        return None

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return None


# --------------------------------------------------------------------------- stage 1

_STAGE1 = AugmentationSettings()  # the library's defaults are the flags' defaults


EFFECTS_HELP = f"stage-1 pairs: extra effects, comma-separated, off by default: {','.join(EFFECTS)}"


def parse_effects(names: str) -> Effects:
    """``--effects`` (comma-separated names) as :class:`Effects`; an unknown name is a UserError."""
    try:
        return Effects.from_names([name for name in names.split(",") if name])
    except ValueError as error:
        raise UserError(str(error)) from None


@dataclass
class AugmentTaskConfig(SSETaskConfig):
    vads: str = field(default="", metadata={"help": "VAD list of the training corpus"})
    frontend: str = field(default="wav2vec2", metadata={"help": f"one of {', '.join(FRONTENDS)}"})
    path_ssl: str = field(default=DEFAULT_WAV2VEC2, metadata={"help": "fairseq wav2vec 2.0 checkpoint"})
    layer: int = field(default=DEFAULT_LAYER, metadata={"help": "wav2vec 2.0 layer whose output is used"})
    cmvn: str = field(default="", metadata={
        "help": f"mean/variance normalisation of the frames, one of {', '.join(CMVN_MODES)} "
                f"(default: utterance for mfcc/fbank, none for wav2vec2)"})
    cmvn_stats: str = field(default="", metadata={
        "help": "with --cmvn speaker: a feature store of the training VADs (or a statistics .npz) whose "
                "per-speaker statistics normalise the frames; empty: computed from --vads at start"})
    epoch_updates: int = STAGES["init"].epoch_updates
    pairs_per_batch: int = _STAGE1.pairs_per_batch
    min_vads_per_speaker: int = field(default=_STAGE1.min_vads_per_speaker, metadata={
        "help": "speakers need this many long VADs"})
    min_vad_duration: float = field(default=_STAGE1.min_vad_duration, metadata={
        "help": "VADs shorter than this are not used"})
    max_vads_per_batch: int = field(default=_STAGE1.max_vads_per_batch, metadata={
        "help": "at most this many VADs per batch"})
    max_batch_duration: float = field(default=_STAGE1.max_batch_duration, metadata={
        "help": "stop adding VADs past this many seconds"})
    min_stretch: float = field(default=_STAGE1.min_stretch, metadata={"help": "smallest tempo factor"})
    max_stretch: float = field(default=_STAGE1.max_stretch, metadata={"help": "largest tempo factor"})
    effects: str = field(default="", metadata={"help": EFFECTS_HELP})
    frontend_precision: str = field(default="auto", metadata={
        "help": "frozen front-end under autocast: fp32, fp16, bf16, or auto (as training: --fp16/--bf16)"})
    fp16: bool = II("common.fp16")
    bf16: bool = II("common.bf16")


@register_task("sse_augment", dataclass=AugmentTaskConfig)
class AugmentTask(SSETask):
    cfg: AugmentTaskConfig

    def __init__(self, cfg: AugmentTaskConfig) -> None:
        super().__init__(cfg)
        if not cfg.vads:
            raise UserError("sse_augment needs --vads (the training VAD list)")
        self.live_frontend = build_frontend(cfg.frontend, cfg.path_ssl, cfg.layer, self.device, cfg.cmvn or None)
        self.frontend_description = self.live_frontend.describe()
        self.live_frontend.precision = frontend_precision(cfg.frontend_precision, cfg.fp16, cfg.bf16)
        effects = parse_effects(cfg.effects)
        settings = AugmentationSettings(cfg.pairs_per_batch, cfg.min_vads_per_speaker, cfg.min_vad_duration,
                                        cfg.max_vads_per_batch, cfg.max_batch_duration, cfg.min_stretch,
                                        cfg.max_stretch, effects, self.live_frontend.frame_rate)
        vads = read_vad_list(cfg.vads)
        if self.live_frontend.cmvn == "speaker":
            self.live_frontend.speaker_stats = training_statistics(self.live_frontend, cfg.data, vads, cfg.cmvn_stats)
        train_vads, heldout_vads = (vads, []) if cfg.valid_segments else split_heldout(vads, cfg.heldout_fraction, cfg.seed)
        self.sampler = AugmentationSampler(train_vads, cfg.data, settings)
        if heldout_vads:
            relaxed = dataclasses.replace(settings, min_vads_per_speaker=1)  # held-out VADs are few
            self.heldout_sampler = AugmentationSampler(heldout_vads, cfg.data, relaxed)
        logger.info("stage 1: %d speakers with >= %d VADs of >= %g s", len(self.sampler.speakers),
                    cfg.min_vads_per_speaker, cfg.min_vad_duration)

    def _collate(self, batch) -> dict:
        return waves_sample(batch)


def training_statistics(frontend, corpus_root, vads, source: str = "") -> SpeakerStats:
    """Per-speaker CMVN statistics of the training ``vads``: from ``source`` (a feature store of
    them, or a statistics ``.npz``) if given, else computed here with ``frontend``."""
    if source:
        stats = FeatureStore(source).stats if Path(source).is_dir() else SpeakerStats.load(source)
        if stats is None:
            raise UserError(f"{source}: this feature store was not made with --cmvn speaker, so it holds no "
                            f"per-speaker statistics")
    else:
        logger.info("per-speaker CMVN: statistics of %d training VADs", len(vads))
        stats = vad_statistics(frontend, corpus_root, [vad for vad in vads if vad.duration >= MIN_VAD])
    missing = sorted({stats_key(vad) for vad in vads} - set(stats.speakers))
    if missing:
        raise UserError(f"{source}: no CMVN statistics for {len(missing)} speaker(s) of the VAD list "
                        f"({', '.join(missing[:5])})")
    return stats


def waves_sample(batch) -> dict:
    """A fairseq sample of pairs given as waveforms and spans (an ``AugmentedBatch``)."""
    waves = list(batch.waves)  # numpy, so that --fp16/--bf16 leave the audio in fp32
    pairs = len(batch.spans)
    speakers = [stats_key(vad) for vad in batch.sources]  # whose statistics, with per-speaker CMVN
    return {"net_input": {"waves": waves, "spans": torch.from_numpy(batch.spans), "speakers": speakers},
            "nsentences": pairs, "ntokens": pairs, "id": torch.zeros(1, dtype=torch.long)}


# --------------------------------------------------------------------------- stages 2 and 3

@dataclass
class StoreTaskConfig(SSETaskConfig):
    features: str = field(default="", metadata={"help": "feature store of the training VADs"})


class StoreTask(SSETask):
    """Stages whose frames come from the feature store."""

    cfg: StoreTaskConfig

    def __init__(self, cfg: StoreTaskConfig) -> None:
        super().__init__(cfg)
        if not cfg.features:
            raise UserError(f"{self.__class__.__name__} needs --features (the training feature store)")
        self.store = FeatureStore(cfg.features)
        self.frontend_description = dict(self.store.frontend)

    def _collate(self, pairs) -> dict:
        return frames_sample([(self.store.frames(*first), self.store.frames(*second)) for first, second in pairs])

    def _check_spans(self, spans) -> None:
        """Fail at start, not mid-epoch, if the store lacks a segment the sampler may draw."""
        for span in spans:
            self.store.locate(*span)


@dataclass
class PairsTaskConfig(StoreTaskConfig):
    pairs: str = field(default="", metadata={"help": "mined pair list"})
    augment_share: float = field(default=0.0, metadata={
        "help": "share of each batch's pairs drawn as stage-1 augmentation pairs (time-stretched spans of "
                "--vads, frames computed on the fly with the store's front-end); 0: mined pairs only"})
    stretched_features: str = field(default="", metadata={
        "help": "store of time-stretched frames of the training VADs (utils/stretch_features.py): each side of "
                "every mined pair is read from a random stretched version of its VAD; empty: unstretched"})
    vads: str = field(default="", metadata={"help": "training VAD list, for --augment-share"})
    max_batch_duration: float = field(default=_STAGE1.max_batch_duration, metadata={
        "help": "augmentation pairs: stop adding VADs past this many seconds"})
    effects: str = field(default="", metadata={"help": EFFECTS_HELP + " (the augmentation pairs of --augment-share)"})
    path_ssl: str = field(default="", metadata={
        "help": "wav2vec 2.0 checkpoint for --augment-share (default: the one the store recorded)"})


@register_task("sse_pairs", dataclass=PairsTaskConfig)
class PairsTask(StoreTask):
    cfg: PairsTaskConfig

    def __init__(self, cfg: PairsTaskConfig) -> None:
        super().__init__(cfg)
        if not 0 <= cfg.augment_share < 1:
            raise UserError(f"--augment-share must be in [0, 1), got {cfg.augment_share}")
        augmented = int(round(cfg.augment_share * cfg.pairs_per_batch))
        mined = cfg.pairs_per_batch - augmented
        pairs = read_pair_list(cfg.pairs)
        train, heldout = (pairs, []) if cfg.valid_segments else split_heldout(pairs, cfg.heldout_fraction, cfg.seed)
        self.sampler = PairSampler(train, mined)
        self.heldout_sampler = PairSampler(heldout, mined) if heldout else None
        self._check_spans(span for pair in self.sampler.pairs for span in pair)
        self.augmenter = self.stretcher = None
        if cfg.stretched_features:
            stretched = StretchStore(cfg.stretched_features, self.store)
            self.stretcher = StretchedPairSampler(train, stretched, mined)
        if augmented:
            if not cfg.vads:
                raise UserError("--augment-share needs --vads (the training VAD list)")
            self.live_frontend = frontend_from_description(self.frontend_description, self.device,
                                                           cfg.path_ssl or None)
            self.live_frontend.speaker_stats = self.store.stats  # per-speaker CMVN: the store's statistics
            settings = AugmentationSettings(pairs_per_batch=augmented, max_batch_duration=cfg.max_batch_duration,
                                            effects=parse_effects(cfg.effects),
                                            frame_rate=self.live_frontend.frame_rate)
            self.augmenter = AugmentationSampler(read_vad_list(cfg.vads), cfg.data, settings)
        stretch = (f" (each side read from one of {self.stretcher.store.versions} time-stretched versions of its "
                   f"VAD)" if self.stretcher else "")
        logger.info("stage 2: %d pairs across files (%d same-file pairs not trained on); a batch holds %d "
                    "mined pairs%s and %d augmentation pairs", len(self.sampler.pairs),
                    self.sampler.dropped_same_file, mined, stretch, augmented)

    def train_batch(self, rng: np.random.Generator) -> dict:
        if self.stretcher is not None:
            sample = frames_sample(self.stretcher.draw(rng))
        else:
            sample = self._collate(self.sampler.draw(rng))
        if self.augmenter is not None:  # the model joins them to the mined pairs (SSEModel.forward)
            augmented = waves_sample(self.augmenter.draw(rng))
            sample["net_input"].update(augmented["net_input"])
            count = sample["nsentences"] + augmented["nsentences"]
            sample.update(nsentences=count, ntokens=count)
        return sample


def frames_sample(pairs) -> dict:
    """A fairseq sample of pairs given as the frames of their two sides."""
    frames, lengths = pad_frames([first for first, _ in pairs] + [second for _, second in pairs])
    return {"net_input": {"frames": frames, "lengths": lengths}, "nsentences": len(pairs),
            "ntokens": len(pairs), "id": torch.zeros(1, dtype=torch.long)}


@dataclass
class GoldTaskConfig(StoreTaskConfig):
    segments: str = field(default="", metadata={"help": "segment list with phone n-gram transcriptions"})
    epoch_updates: int = STAGES["gold"].epoch_updates
    pairs_per_batch: int = STAGES["gold"].pairs_per_batch


@register_task("sse_gold", dataclass=GoldTaskConfig)
class GoldTask(StoreTask):
    cfg: GoldTaskConfig

    def _collate(self, batch: LabelBatch) -> dict:
        sample = super()._collate(batch.pairs)
        sample["pair_labels"] = torch.from_numpy(batch.labels)  # same-label pairs are masked in the loss
        return sample

    def __init__(self, cfg: GoldTaskConfig) -> None:
        super().__init__(cfg)
        segments = read_segment_list(cfg.segments, require_transcriptions=True)
        self.sampler = LabelSampler(segments, cfg.pairs_per_batch)
        if not cfg.valid_segments:
            labels = sorted({s.transcription for s in segments})
            _, heldout_labels = split_heldout(labels, cfg.heldout_fraction, cfg.seed)
            heldout_labels = set(heldout_labels)
            self.sampler = LabelSampler([s for s in segments if s.transcription not in heldout_labels],
                                        cfg.pairs_per_batch)
            self.heldout_sampler = LabelSampler([s for s in segments if s.transcription in heldout_labels],
                                                cfg.pairs_per_batch)
        self._check_spans(span for tokens in self.sampler.tokens for span in tokens)
        logger.info("weak supervision: %d labels with >= 2 tokens", len(self.sampler.labels))
