"""Training curves read from fairseq-train's log (sse/evaluation/curves.py, utils/plot_training.py)."""
from sse.evaluation.curves import read_training_log
from tests.helpers import run_script

LOG = """\
2026-11-25 19:12:07 | INFO | fairseq_cli.train | begin training epoch 1
2026-11-25 19:12:07 | INFO | train_inner | epoch 001:     20 / 40 loss=4.3, accuracy=0.1, num_updates=20
2026-11-25 19:12:07 | INFO | valid | epoch 001 | valid on 'valid' subset | map 0.3038 | loss -1 | wps 0 | num_updates 40
2026-11-25 19:12:07 | INFO | train | epoch 001 | loss 4.1499 | accuracy 0.148 | wps 10.3 | num_updates 40 | lr 0.0001
2026-11-25 19:13:07 | INFO | valid | epoch 002 | valid on 'valid' subset | map 0.3100 | loss -1 | num_updates 80
2026-11-25 19:13:07 | INFO | train | epoch 002 | loss 3.9 | accuracy 0.2 | num_updates 80
2026-11-25 19:14:00 | INFO | fairseq.checkpoint_utils | Loaded checkpoint checkpoint_last.pt (epoch 2 @ 80 updates)
2026-11-25 19:15:07 | INFO | valid | epoch 002 | valid on 'valid' subset | map 0.3200 | loss -1 | num_updates 80
2026-11-25 19:15:07 | INFO | train | epoch 002 | loss 3.8 | accuracy 0.2 | num_updates 80
2026-11-25 19:16:07 | INFO | valid | epoch 003 | valid on 'valid' subset | loss 2.5 | num_updates 120
2026-11-25 19:16:07 | INFO | train | epoch 003 | loss 3.5 | num_updates 120
"""


def test_epochs_are_read_and_a_repeated_epoch_keeps_its_last_line(tmp_path):
    (tmp_path / "train.log").write_text(LOG)
    epochs = read_training_log(tmp_path / "train.log")
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert [e.train_loss for e in epochs] == [4.1499, 3.8, 3.5]
    assert [e.valid_map for e in epochs] == [0.3038, 0.32, None]
    assert [e.valid_loss for e in epochs] == [None, None, 2.5]  # -1 is fairseq's placeholder
    assert [e.num_updates for e in epochs] == [40, 80, 120]


def test_plot_training_writes_one_plot_for_several_stages(tmp_path):
    (tmp_path / "a.log").write_text(LOG)
    (tmp_path / "b.log").write_text(LOG.replace("map 0.3", "map 0.4"))
    run_script("plot_training.py", "--log", f"one={tmp_path / 'a.log'}", "--log", f"two={tmp_path / 'b.log'}",
               "--output", tmp_path / "curves.png", check=True)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "empty.log").write_text("nothing here\n")
    result = run_script("plot_training.py", "--log", tmp_path / "empty.log", "--output", tmp_path / "x.png")
    assert result.returncode == 2 and "no finished epoch" in result.stderr
    assert not (tmp_path / "x.png").exists()
