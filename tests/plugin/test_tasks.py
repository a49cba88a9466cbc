"""The fairseq tasks' own settings (sse/plugin/tasks.py), built in-process on real recordings, and
their data-loader workers, which end with the trainer."""
import os
import signal
import subprocess
import sys
import time

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


#: A trainer with two data-loader workers that each hold a drawn batch it has not read yet (4 MB,
#: more than a pipe holds): what fairseq-train is while it trains. It prints the workers' ids.
TRAINER = """
import time, torch
import sse.plugin.tasks as tasks
dataset = tasks.BatchDataset(lambda rng: {"frames": bytes(4 << 20)}, 100, 0, tasks.TRAIN_STREAM)
batches = iter(torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2))
next(batches)
print(" ".join(str(worker.pid) for worker in batches._workers), flush=True)
time.sleep(120)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_data_loader_workers_end_with_a_trainer_killed_by_sigterm():
    """SIGTERM (a scheduler's time limit) or kill -9 ends the trainer at once; its workers must
    not outlive it (torch's own check misses a worker whose batch is on its way to the trainer)."""
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER], stdout=subprocess.PIPE, text=True, cwd=REPO)
    workers = []
    try:
        workers = [int(pid) for pid in trainer.stdout.readline().split()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
        trainer.send_signal(signal.SIGTERM)
        trainer.wait(timeout=30)
        deadline = time.monotonic() + 8  # torch's own check alone would end idle workers within 5 s
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers)
    finally:
        trainer.kill()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
