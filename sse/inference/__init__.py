"""Using a trained model: checkpoints, embedding segments, query-by-example search, export.

Stands on :mod:`sse.method` and below."""
