"""Each default lives in one place: sse/defaults.py and the library dataclasses; the fairseq
flags and the bash recipes read them from there."""
import dataclasses

from sse import defaults
from sse.method.model import EncoderConfig
from sse.method.sampling import AugmentationSettings, LabelSampler, PairSampler


def plugin_configs():
    import fairseq  # noqa: F401  (registers the plugin's tasks)

    from sse.plugin.model import SSEModelConfig
    from sse.plugin.tasks import AugmentTaskConfig, GoldTaskConfig, PairsTaskConfig
    return SSEModelConfig(), AugmentTaskConfig(), PairsTaskConfig(), GoldTaskConfig()


def test_fairseq_flags_default_to_the_library_settings():
    model, augment, pairs, gold = plugin_configs()
    for field in dataclasses.fields(EncoderConfig):
        if field.name != "input_dim":  # the front-end decides it
            assert getattr(model, field.name) == getattr(EncoderConfig(), field.name), field.name
    stage1 = AugmentationSettings()
    for name in ("pairs_per_batch", "min_vads_per_speaker", "min_vad_duration", "max_vads_per_batch",
                 "max_batch_duration", "min_stretch", "max_stretch"):
        assert getattr(augment, name) == getattr(stage1, name), name
    for config, stage in ((augment, "init"), (pairs, "iteration"), (gold, "gold")):
        assert config.epoch_updates == defaults.STAGES[stage].epoch_updates
        assert config.pairs_per_batch == defaults.STAGES[stage].pairs_per_batch
    assert augment.layer == defaults.DEFAULT_LAYER and augment.path_ssl == defaults.DEFAULT_WAV2VEC2
    assert pairs.embed_batch_size == defaults.BATCH_SIZE


def test_samplers_default_to_the_stage_table():
    init, iteration, gold = (defaults.STAGES[name] for name in ("init", "iteration", "gold"))
    assert AugmentationSettings().pairs_per_batch == init.pairs_per_batch
    assert AugmentationSettings().max_batch_duration == defaults.MAX_BATCH_DURATION
    signature = PairSampler.__init__.__defaults__, LabelSampler.__init__.__defaults__
    assert signature == ((iteration.pairs_per_batch,), (gold.pairs_per_batch,))
