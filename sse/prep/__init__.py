"""Reusable data preparation: turning corpora into the toolkit's lists."""
