"""sse: speech sequence embeddings trained with nearest-neighbour contrastive learning.

``sse.load(path)`` returns an embedder (:mod:`sse.api`). The library imports without fairseq.
When fairseq is already loaded (``fairseq-train --user-dir sse``), importing the package also
registers the fairseq task, model and criterion.
"""
import sys

__version__ = "0.1.0"


def load(path, device=None, **options):
    """An embedder for a trained SSE checkpoint (see :func:`sse.api.load`)."""
    from sse.api import load as load_embedder  # noqa: PLC0415  (keeps `import sse` free of torch)

    return load_embedder(path, device, **options)


if "fairseq" in sys.modules:
    from sse import plugin  # noqa: F401  (registers the fairseq components)
