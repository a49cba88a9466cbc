"""The demo corpus generator: synthesis, forced alignment, OGG writing (not installed with sse)."""
