"""Reusable data preparation: turning a corpus into the toolkit's lists.

* :mod:`~sse.prep.vad`: speech regions of every file -> VAD list (Silero, or pyannote);
* :mod:`~sse.prep.speakers`: a file's speaker, from its path or its folder;
* :mod:`~sse.prep.alignments`, :mod:`~sse.prep.textgrid`: word and phone alignments, in the
  toolkit's text format or as MFA TextGrids;
* :mod:`~sse.prep.labels`: the phone n-gram of a segment (the midpoint rule);
* :mod:`~sse.prep.benchmark`: a labelled benchmark segment list from an aligned corpus;
* :mod:`~sse.prep.word_corpus`: isolated word recordings -> sessions, token labels, a benchmark.

Importing them loads no torch (the Silero and pyannote detectors load it when they run).
"""
