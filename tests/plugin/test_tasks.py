"""The fairseq tasks' own settings (sse/plugin/tasks.py), built in-process on real recordings."""
import pytest

from sse.core.errors import UserError
from sse.frames.formats import Pair, write_pair_list
from tests.helpers import REPO
from tests.method.test_stretch_store import WAVS, feature_store, vads_of

pytest.importorskip("fairseq")
from sse.plugin.tasks import PairsTask, PairsTaskConfig  # noqa: E402


@pytest.fixture
def pairs_inputs(tmp_path):
    store = feature_store(tmp_path / "features")  # mined pairs: frames of four FSDD takes
    first, second = vads_of(WAVS[:2])
    write_pair_list(tmp_path / "pairs", [Pair(first.wav, first.speaker, 0.05, 0.25,
                                              second.wav, second.speaker, 0.05, 0.25, 0.9)])
    # augmentation pairs: the demo corpus's VADs, which has speakers with enough of them for stage 1
    return dict(data=str(REPO / "training_data" / "demo"), vads=str(REPO / "training_data" / "demo-vads"),
                features=str(store.directory), pairs=str(tmp_path / "pairs"), augment_share=0.5,
                pairs_per_batch=4, cpu=True, valid_segments="unused")


def test_the_augmentation_half_of_an_iteration_takes_the_stage1_effects(pairs_inputs):
    plain = PairsTask(PairsTaskConfig(**pairs_inputs))
    assert not plain.augmenter.settings.effects.any()  # off by default, as in the paper
    pitched = PairsTask(PairsTaskConfig(**pairs_inputs, effects="pitch,noise"))
    effects = pitched.augmenter.settings.effects
    assert effects.pitch and effects.noise and not effects.reverb
    with pytest.raises(UserError, match="unknown effect"):
        PairsTask(PairsTaskConfig(**pairs_inputs, effects="vibrato"))
