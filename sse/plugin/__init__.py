"""fairseq plugin: ``fairseq-train --user-dir <repo>/sse --task sse_augment|sse_pairs|sse_gold
--arch sse --criterion nt_xent ...``. Importing it registers the tasks, the model and the criterion.
"""
from sse.frames.frontend import allow_fairseq_checkpoint_classes
from sse.plugin import checkpointing, reporting

# fairseq resumes from checkpoint_last.pt with torch.load, weights-only by default since torch
# 2.6: allow-list the few classes its checkpoints hold, nothing more.
allow_fairseq_checkpoint_classes()
# Checkpoints are copied atomically and a damaged checkpoint_last.pt falls back cleanly;
# a user error inside fairseq-train is one "error:" line with exit status 2.
checkpointing.install()
reporting.install()

from sse.plugin import criterion, model, tasks  # noqa: E402,F401
