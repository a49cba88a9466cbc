"""Plumbing every other layer stands on: user errors, atomic files, stamps, shards, progress,
devices and precision, and the shared command-line conventions of ``utils/``.

Imports nothing of ``sse`` but :mod:`sse.defaults`."""
