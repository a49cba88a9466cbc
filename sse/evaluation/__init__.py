"""Measuring: exact MAP and its speaker diagnostics, scoring a model on a segment list,
training curves, and the quality of pair lists (mined or oracle).

Stands on :mod:`sse.inference` and below."""
