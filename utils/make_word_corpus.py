#!/usr/bin/env python
"""Turn a corpus of isolated word recordings into the toolkit's inputs (``sse/prep/word_corpus.py``).

Each speaker's training tokens are joined into continuous sessions (a few words, short gaps of
low noise), written as 16 kHz audio with a VAD list, for unsupervised training; the labelled
tokens inside the sessions become a segment list for ``launch_gold.sh``; held-out tokens stay
isolated and form a labelled MAP benchmark. OUTPUT is the corpus root of all three lists:

    OUTPUT/vads  OUTPUT/tokens  OUTPUT/benchmark  OUTPUT/sessions/...  OUTPUT/isolated/...

Speakers and labels come from the file names (``--pattern``, default: the Free Spoken Digit
Dataset's ``{digit}_{speaker}_{take}.wav``) or from a ``<wav> <speaker> <label>`` list (``--list``).

    python utils/make_word_corpus.py --path_wavs fsdd/recordings --output fsdd_corpus
    python utils/make_word_corpus.py --path_wavs words/ --list words.txt --output corpus \\
        --heldout_speakers spk7,spk8
"""
from __future__ import annotations

import logging
import math
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.defaults import FSDD_PATTERN  # noqa: E402
from sse.frames.formats import read_segment_list, read_vad_list  # noqa: E402
from sse.method.sampling import AugmentationSettings  # noqa: E402
from sse.prep.word_corpus import (  # noqa: E402
    SessionSettings,
    build_word_corpus,
    tokens_from_list,
    tokens_from_pattern,
)


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--path_wavs", required=True, help="folder of isolated word recordings")
    parser.add_argument("--output", required=True, output="dir",
                        help="new folder: the corpus root of the lists written")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pattern", default=FSDD_PATTERN,
                        help="regex with groups (?P<speaker>) and (?P<label>), searched in each path "
                             "without extension")
    source.add_argument("--list", help="<wav> <speaker> <label> lines instead of --pattern")
    parser.add_argument("--heldout_fraction", type=cli.real(0, 1, below=True), default=0.2,
                        help="share of each speaker's tokens of each label kept for the benchmark")
    parser.add_argument("--heldout_speakers", default="",
                        help="comma-separated speakers whose tokens all go to the benchmark")
    parser.add_argument("--min_words", type=cli.integer(1), default=4, help="words per session, at least")
    parser.add_argument("--max_words", type=cli.integer(1), default=8, help="words per session, at most")
    parser.add_argument("--min_gap", type=cli.real(0), default=0.10, help="seconds between words, at least")
    parser.add_argument("--max_gap", type=cli.real(0), default=0.40, help="seconds between words, at most")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the split and the sessions")
    return parser


def stage1_shortfall(root: Path, recordings: Counter, heldout_fraction: float) -> str | None:
    """A warning if some speaker got fewer long sessions than stage 1 needs (``AugmentationSampler``:
    a speaker takes part with ``min_vads_per_speaker`` VADs of ``min_vad_duration`` s), saying how
    many recordings of that speaker would give enough at the same number of words a session."""
    rule = AugmentationSettings()
    vads = read_vad_list(root / "vads")
    long = Counter(vad.speaker for vad in vads if vad.duration >= rule.min_vad_duration)
    words = Counter(segment.speaker for segment in read_segment_list(root / "tokens"))
    short = sorted(speaker for speaker in words if long[speaker] < rule.min_vads_per_speaker)
    if not short:
        return None
    shown = []
    for speaker in short[:5]:
        if long[speaker]:
            needed = math.ceil(rule.min_vads_per_speaker * words[speaker] / long[speaker] / (1 - heldout_fraction))
            shown.append(f"{speaker} {long[speaker]} from {recordings[speaker]} recordings (about {needed} "
                         "would give enough)")
        else:
            shown.append(f"{speaker} none from {recordings[speaker]} recordings (more words a session: --min_words)")
    more = f"; and {len(short) - 5} more" if len(short) > 5 else ""
    effect = ("so stage 1 cannot train on this corpus" if len(short) == len(words) else
              "so stage 1 leaves them out")
    return (f"stage 1 needs {rule.min_vads_per_speaker} sessions of at least {rule.min_vad_duration:g} s from a "
            f"speaker, and {len(short)} of {len(words)} speakers have fewer: {'; '.join(shown)}{more}; {effect}")


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    tokens = tokens_from_list(args.list) if args.list else tokens_from_pattern(args.path_wavs, args.pattern)
    settings = SessionSettings(args.min_words, args.max_words, args.min_gap, args.max_gap)
    corpus = build_word_corpus(args.path_wavs, tokens, args.output, args.heldout_fraction,
                               [s for s in args.heldout_speakers.split(",") if s], settings, args.seed)
    logging.getLogger("make_word_corpus").info(
        "wrote %s: %d sessions (%.1f min) of %d tokens; benchmark of %d isolated tokens; %d speakers, %d labels",
        corpus.root, corpus.sessions, corpus.session_seconds / 60, corpus.training_tokens,
        corpus.benchmark_tokens, corpus.speakers, corpus.labels)
    warning = stage1_shortfall(corpus.root, Counter(token.speaker for token in tokens), args.heldout_fraction)
    if warning:
        logging.getLogger("make_word_corpus").warning("%s", warning)


if __name__ == "__main__":
    cli.run(main)
