"""Spoken term discovery, the paper's second task: discovered classes (:mod:`.terms`), their
HTML page (:mod:`.page`) and their ZeroSpeech 2017 scores (:mod:`.scoring`)."""
