#!/usr/bin/env python
"""Score a class file of discovered terms with the ZeroSpeech 2017 measures (zerospeech-tde).

    python utils/score_terms.py --classes classes.txt --alignments training_data/demo/alignments.txt \\
        --path_vads sse_benchmark/demo-dev-vads

ALIGNMENTS is the toolkit's alignment file (``<wav> word|phone <start> <end> <label>``) or a
folder of TextGrids, as transcribe_timestamps.py reads them; it must hold phones (NED and
coverage count phones). They become the tool's gold ``.phn``/``.wrd`` files, keyed by the wav path
without extension (the file IDs of the class file). With --path_vads, the gold is the files of
that VAD list and the words and phones inside its VADs: coverage is then measured over the speech
that discovery searched. The measures are the tool's own (sse/discovery/scoring.py only runs it);
printed as one table: NED, coverage, and grouping, token, type and boundary precision / recall /
F-score. --output also writes the table as JSON, numbers as numbers (null where not computed).

"tokens" counts the tokens of the class file, as discover_terms.py does; "tokens scored" those
the tool scores: it leaves out every token that holds no gold phone (a token holds a phone when
it covers 30 ms of it, or half of it if the phone is shorter than 60 ms), and a line under the
table says how many it left out.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from sse.core import cli  # noqa: E402
from sse.core.files import atomic_open  # noqa: E402
from sse.discovery.scoring import MEASURES, load_gold, score_classes  # noqa: E402
from sse.frames.formats import read_vad_list  # noqa: E402


def build_parser() -> cli.Parser:
    parser = cli.Parser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--classes", required=True, help="class file (ZeroSpeech 2017 format) to score")
    parser.add_argument("--alignments", required=True,
                        help="word and phone alignments: the toolkit's alignment file, or a folder of TextGrids")
    parser.add_argument("--path_vads", aliases=["--vads"], default=None,
                        help="score against the words and phones inside these VADs only (default: every aligned file)")
    parser.add_argument("--measures", default=",".join(MEASURES),
                        help=f"comma-separated subset of {','.join(MEASURES)} (grouping is the slowest)")
    parser.add_argument("--output", output="file", default=None, help="also write the scores here as JSON")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    measures = [name.strip() for name in args.measures.split(",") if name.strip()]
    unknown = [name for name in measures if name not in MEASURES]
    if unknown or not measures:
        parser.error(f"--measures: {','.join(unknown) or 'none given'}: choose among {','.join(MEASURES)}")
    vads = read_vad_list(args.path_vads) if args.path_vads else None
    gold = load_gold(args.alignments, vads)
    scores = score_classes(args.classes, gold, measures)
    print(scores.table())
    if scores.note():
        print(scores.note())
    if args.output:
        with atomic_open(args.output, encoding="utf-8") as out:
            json.dump(dict(scores.values()), out, indent=1)
            out.write("\n")


if __name__ == "__main__":
    cli.run(main)
