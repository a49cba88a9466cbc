"""sse: speech sequence embeddings trained with nearest-neighbour contrastive learning.

The library imports without fairseq. When fairseq is already loaded (``fairseq-train
--user-dir sse``), importing the package also registers the fairseq task, model and criterion.
"""
import sys

__version__ = "0.1.0"

if "fairseq" in sys.modules:
    from . import plugin  # noqa: F401  (registers the fairseq components)
