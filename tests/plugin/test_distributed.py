"""fairseq's own distributed data parallel with the plugin: 2 CPU processes over gloo."""
import os
import re
import socket
import subprocess
import sys
import tempfile

import pytest
import torch

from sse.frames.formats import read_vad_list, write_vad_list
from tests.helpers import REPO, run_script

LS = REPO / "training_data" / "demo"


@pytest.fixture(scope="module")
def gold_inputs(tmp_path_factory):
    """One demo speaker's 20 VADs: segments, phone n-gram labels, MFCC feature store."""
    folder = tmp_path_factory.mktemp("ddp")
    write_vad_list(folder / "vads", [v for v in read_vad_list(REPO / "training_data" / "demo-vads")
                                     if v.speaker == "1001"][:20])
    run_script("make_segments.py", folder / "vads", folder / "segments", "--max_segments", "1500", check=True)
    run_script("transcribe_timestamps.py", folder / "segments", LS / "alignments.txt", folder / "ngrams", check=True)
    run_script("extract_features.py", "--path_wavs", LS, "--path_vads", folder / "vads", "--output_dir",
               folder / "features", "--frontend", "mfcc", "--num_workers", "0", check=True)
    return folder


def gold_task(folder, epoch_updates=8):
    from sse.plugin.tasks import GoldTask, GoldTaskConfig
    cfg = GoldTaskConfig(data=str(LS), features=str(folder / "features"), segments=str(folder / "ngrams"),
                         valid_segments=str(folder / "ngrams"), pairs_per_batch=8, epoch_updates=epoch_updates,
                         seed=1)
    return GoldTask(cfg)


def test_each_rank_draws_its_own_part_of_the_batch_stream(gold_inputs):
    import fairseq  # noqa: F401  (registers the plugin)
    task = gold_task(gold_inputs)
    task.load_dataset("train")
    dataset = task.dataset("train")
    dataset.set_epoch(2)
    drawn = {}
    for rank in (0, 1):  # what fairseq-train's trainer asks for on each of 2 ranks
        iterator = task.get_batch_iterator(dataset, max_sentences=1, seed=1, num_shards=2, shard_id=rank,
                                           epoch=2, disable_iterator_cache=True)
        drawn[rank] = list(iterator.next_epoch_itr(shuffle=False))
    assert len(drawn[0]) == len(drawn[1]) == 4
    for rank, batches in drawn.items():
        for position, batch in enumerate(batches):  # rank r gets items r, r + 2, ... of epoch 2
            expected = dataset.collater([dataset[rank + 2 * position]])
            assert torch.equal(batch["net_input"]["frames"], expected["net_input"]["frames"])
    for first in drawn[0]:
        for second in drawn[1]:
            assert first["net_input"]["frames"].shape != second["net_input"]["frames"].shape or \
                not torch.equal(first["net_input"]["frames"], second["net_input"]["frames"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_two_ranks(folder, save_dir, max_epoch):
    port = free_port()
    command = [sys.executable, "-m", "fairseq_cli.train", str(LS), "--user-dir", str(REPO / "sse"),
               "--task", "sse_gold", "--segments", folder / "ngrams", "--features", folder / "features",
               "--valid-segments", folder / "ngrams", "--valid-features", folder / "features",
               "--best-checkpoint-metric", "map", "--maximize-best-checkpoint-metric",
               "--arch", "sse", "--criterion", "nt_xent", "--optimizer", "adam", "--lr", "3e-4",
               "--lr-scheduler", "fixed", "--batch-size", "1", "--max-epoch", str(max_epoch),
               "--epoch-updates", "8", "--pairs-per-batch", "8", "--save-dir", save_dir,
               "--no-epoch-checkpoints", "--cpu", "--num-workers", "0", "--log-interval", "1",
               "--log-format", "simple", "--seed", "1", "--distributed-world-size", "2",
               "--distributed-init-method", f"tcp://127.0.0.1:{port}", "--distributed-no-spawn",
               "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    # Logs go to files, not pipes: a rank blocked on a full pipe would stall the other in a collective.
    with tempfile.TemporaryFile("w+") as log0, tempfile.TemporaryFile("w+") as log1:
        outputs = (log0, log1)
        processes = [subprocess.Popen([*map(str, command), "--distributed-rank", str(rank)], env=env, cwd=REPO,
                                      stdout=output, stderr=subprocess.STDOUT, text=True)
                     for rank, output in enumerate(outputs)]
        try:
            for process in processes:
                process.wait(timeout=900)
        finally:  # a rank left waiting for a crashed or timed-out peer is not left running
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        logs = []
        for output in outputs:
            output.seek(0)
            logs.append(output.read())
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log[-3000:]
    return logs


def single_process_map(folder, checkpoint) -> float:
    """The benchmark MAP of a checkpoint's model, validated by the task in this one process."""
    from fairseq import checkpoint_utils
    task = gold_task(folder)
    task.load_dataset("valid")
    [model], _ = checkpoint_utils.load_model_ensemble([str(checkpoint)], task=task)
    with torch.no_grad():
        _, _, output = task.valid_step(task.dataset("valid").collater([0]), model.eval(), None)
    return output["map"]


@pytest.mark.slow
def test_two_cpu_ranks_train_validate_once_and_resume(gold_inputs, tmp_path):
    first, second = train_two_ranks(gold_inputs, tmp_path, max_epoch=2)
    losses = [float(x) for x in re.findall(r"train_inner \| .*?loss=([\d.]+)", first)]
    assert len(losses) == 8  # 2 epochs of 8 batches, split over 2 ranks: 4 updates each
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert "bsz=16" in first  # one update holds both ranks' 8 pairs
    # Validation once per epoch, logged by rank 0. Rank 1's share of the one benchmark item is
    # empty, so fairseq gives it that item as its dummy batch: it computes the MAP too, with
    # its result zeroed before the ranks' outputs are summed, so the logged MAP is rank 0's.
    maps = [float(x) for x in re.findall(r"valid on 'valid' subset \| map ([\d.]+)", first)]
    assert len(maps) == 2
    assert maps[-1] == pytest.approx(single_process_map(gold_inputs, tmp_path / "checkpoint_last.pt"), abs=1e-4)
    # Checkpoints are written by rank 0 only.
    assert "Saved checkpoint" in first and "Saved checkpoint" not in second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_best.pt", "checkpoint_last.pt"]

    resumed, _ = train_two_ranks(gold_inputs, tmp_path, max_epoch=3)
    # fairseq saves, at the end of epoch 2, the iterator state of the epoch to run next: it loads
    # "epoch 3 @ 8 updates" and goes on with epoch 3 alone, from update 9.
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch 3 @ 8 updates\)", resumed)
    assert re.findall(r"train_inner \| epoch (\d+):.*?num_updates=(\d+)", resumed) == \
        [("003", str(update)) for update in range(9, 13)]
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 12
