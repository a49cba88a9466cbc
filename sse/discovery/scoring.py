"""Scoring discovered terms with the ZeroSpeech 2017 tool (``zerospeech-tde``, module ``tde``).

The measures are the tool's own; this module only prepares its inputs and collects its outputs:

* **gold files** (:func:`write_gold`): the toolkit's word/phone alignments (its alignment file or
  a folder of TextGrids, as ``transcribe_timestamps.py`` reads them) become the tool's ``.phn``
  and ``.wrd`` files, ``<file ID> <onset> <offset> <label>`` per line, the file ID being the wav
  path without extension (as in the class file). Phones lose their stress digits (the labels of
  ``transcribe_timestamps.py``); silences are left out, as the toolkit's alignments leave them;
  gaps between phones are silence to the tool as well. With ``vads`` only the phones and words
  inside those VADs count, so coverage is measured over the speech that discovery searched.
* **the run** (:func:`score_classes`): ``tde.readers`` and ``tde.measures`` are called as its own
  ``eval.py`` calls them (which is not used: it only scores the corpora the tool ships). The tool
  prints to stdout; that output is captured and logged at debug level.

What the tool needs to run here (docs/term_discovery.md): it imports ``pandas`` without declaring it
(the ``tde`` extra of setup.py adds it), and its token/type F-score asserts a non-zero precision
and recall: when one of them is zero, the F-score is reported as 0, the limit of the F-score.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from sse.core.errors import UserError
from sse.discovery.terms import file_id, format_class_file, read_class_file
from sse.frames.formats import Vad
from sse.prep.alignments import Alignments, FileAlignment, Interval, is_silence
from sse.prep.labels import load_alignments, normalise_phone

logger = logging.getLogger(__name__)

MEASURES = ("ned", "coverage", "grouping", "token_type", "boundary")


class Gold(NamedTuple):
    phones: Path
    words: Path
    files: int
    phone_count: int
    word_count: int


def _inside(interval: Interval, spans: list[tuple[float, float]] | None) -> bool:
    if spans is None:
        return True
    middle = (interval.start + interval.end) / 2
    return any(start <= middle < end for start, end in spans)


def gold_alignments(alignments: Alignments, vads: Sequence[Vad] | None = None) -> dict[str, FileAlignment]:
    """Per file ID, the non-silent words and phones (stress dropped) to score against: every
    aligned file, or with ``vads`` the files they name and the intervals whose middle is inside one."""
    spans: dict[str, list[tuple[float, float]]] | None = None
    if vads is not None:
        spans = {}
        for vad in vads:
            spans.setdefault(vad.wav, []).append((vad.start, vad.end))
        missing = [wav for wav in spans if wav not in alignments]
        if missing:
            raise UserError(f"{len(missing)} file(s) of the VAD list have no alignment, e.g. {missing[0]}")
        wavs = list(spans)
    else:
        wavs = [wav for wav, _ in alignments.items()]
    gold = {}
    for wav in wavs:
        alignment = alignments.get(wav)
        within = spans.get(wav) if spans is not None else None
        words = [w for w in alignment.words if not is_silence(w.label) and _inside(w, within)]
        phones = [Interval(p.start, p.end, normalise_phone(p.label)) for p in alignment.phones
                  if not is_silence(p.label) and _inside(p, within)]
        gold[file_id(wav)] = FileAlignment(words, phones)
    return gold


def write_gold(gold: dict[str, FileAlignment], folder: str | os.PathLike) -> Gold:
    """Write ``gold.phn`` and ``gold.wrd`` (the tool's format) into ``folder``."""
    folder = Path(folder)
    phone_count = sum(len(a.phones) for a in gold.values())
    if phone_count == 0:
        raise UserError("the alignments hold no phones: NED and coverage are counted in phones; "
                        "give phone alignments (the 'phone' tier)")
    word_count = sum(len(a.words) for a in gold.values())
    for name, tier in (("gold.phn", "phones"), ("gold.wrd", "words")):
        with open(folder / name, "w", encoding="utf-8") as out:
            for fid, alignment in sorted(gold.items()):
                for interval in getattr(alignment, tier):
                    if " " in fid:
                        raise UserError(f"{fid}: a file ID with a space cannot be scored by the tool")
                    out.write(f"{fid} {interval.start:.4f} {interval.end:.4f} {interval.label}\n")
    return Gold(folder / "gold.phn", folder / "gold.wrd", len(gold), phone_count, word_count)


class TermScores(NamedTuple):
    """The tool's measures (NaN where not computed), with what was scored."""

    ned: float
    coverage: float
    pairs: int            # pairs of tokens within classes (NED's denominator)
    classes: int
    tokens: int           # tokens of the class file (what discover_terms.py counts)
    scored: int           # of those, the tokens the tool scores: those that hold a gold phone
    grouping: tuple       # (precision, recall, F)
    token: tuple
    type: tuple
    boundary: tuple

    def values(self) -> list[tuple[str, float | int | None]]:
        """``(measure, value)``: counts as integers, measures rounded to 4 decimals, None where
        not computed; what ``score_terms.py --output`` writes as JSON."""
        def number(value):
            return None if value is None or math.isnan(value) else round(float(value), 4)

        rows = [("NED", number(self.ned)), ("coverage", number(self.coverage)), ("classes", self.classes),
                ("tokens", self.tokens), ("tokens scored", self.scored), ("pairs", self.pairs)]
        for name in ("grouping", "token", "type", "boundary"):
            precision, recall, fscore = getattr(self, name)
            rows += [(f"{name} precision", number(precision)), (f"{name} recall", number(recall)),
                     (f"{name} F-score", number(fscore))]
        return rows

    def rows(self) -> list[tuple[str, str]]:
        """:meth:`values` as the table shows them ("-" where not computed)."""
        return [(name, "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
                for name, value in self.values()]

    def table(self) -> str:
        lines = ["| measure | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in self.rows()]
        return "\n".join(lines)

    def note(self) -> str:
        """What the token counts are, when the tool left some tokens out."""
        left = self.tokens - self.scored
        if not left:
            return ""
        return (f"{self.tokens} tokens in the class file (as discover_terms.py counts them); {left} hold no gold "
                "phone (the tool's rule: a token holds a phone when it covers 30 ms of it, or half of it if "
                f"the phone is shorter than 60 ms) and are left out of every measure, so {self.scored} are scored")


def _fscore(precision: float, recall: float) -> float:
    if math.isnan(precision) or math.isnan(recall):
        return float("nan")
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


NAN3 = (float("nan"),) * 3


def check_files(classes_path: str | os.PathLike, gold: dict[str, FileAlignment]) -> list:
    """The classes of a class file; one that names a file the gold does not hold is refused (the
    tool would crash on it)."""
    classes = read_class_file(classes_path)
    for tokens in classes:
        for token in tokens:
            if token.file not in gold:
                raise UserError(f"{classes_path}: file {token.file} is not in the gold alignments "
                                f"(file IDs are wav paths without extension)")
    return classes


def score_classes(classes_path: str | os.PathLike, gold: dict[str, FileAlignment],
                  measures: Iterable[str] = MEASURES) -> TermScores:
    """Run the tool's measures on a class file against ``gold`` (:func:`gold_alignments`)."""
    try:
        from tde.measures.boundary import Boundary  # noqa: PLC0415
        from tde.measures.coverage import Coverage  # noqa: PLC0415
        from tde.measures.grouping import Grouping  # noqa: PLC0415
        from tde.measures.ned import Ned  # noqa: PLC0415
        from tde.measures.token_type import TokenType  # noqa: PLC0415
        from tde.readers.disc_reader import Disc  # noqa: PLC0415
        from tde.readers.gold_reader import Gold as TdeGold  # noqa: PLC0415
    except ImportError as error:
        raise UserError(f"the ZeroSpeech scorer is not installed ({error}); run: pip install -e '.[tde]'") from None
    measures = set(measures)
    unknown = measures - set(MEASURES)
    if unknown:
        raise ValueError(f"unknown measures {sorted(unknown)}")
    classes = check_files(classes_path, gold)
    count = len(classes)
    listed = sum(len(tokens) for tokens in classes)
    printed = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="tde-") as folder, contextlib.redirect_stdout(printed):
        files = write_gold(gold, folder)
        # The tool's reader wants single spaces and a final blank line: it reads a normalised copy.
        normalised = Path(folder) / "classes.txt"
        normalised.write_text(format_class_file(classes), encoding="utf-8")
        tde_gold = TdeGold(wrd_path=str(files.words), phn_path=str(files.phones))
        disc = Disc(str(normalised), tde_gold) if count else None
        ned = coverage = float("nan")
        pairs = tokens = 0
        grouping = token = type_ = boundary = NAN3
        if disc is not None:
            tokens = len(disc.intervals)
            if "ned" in measures:
                measure = Ned(disc)
                measure.compute_ned()
                ned, pairs = float(measure.ned) if measure.n_pairs else float("nan"), measure.n_pairs
            if "coverage" in measures:
                measure = Coverage(tde_gold, disc)
                measure.compute_coverage()
                coverage = float(measure.coverage)
            if "grouping" in measures:
                measure = Grouping(disc)
                measure.compute_grouping()
                grouping = (float(measure.precision), float(measure.recall),
                            _fscore(float(measure.precision), float(measure.recall)))
            if "token_type" in measures:
                measure = TokenType(tde_gold, disc)
                measure.compute_token_type()
                (token_p, type_p), (token_r, type_r) = measure.precision, measure.recall
                token = (float(token_p), float(token_r), _fscore(float(token_p), float(token_r)))
                type_ = (float(type_p), float(type_r), _fscore(float(type_p), float(type_r)))
            if "boundary" in measures:
                measure = Boundary(tde_gold, disc)
                measure.compute_boundary()
                boundary = (float(measure.precision), float(measure.recall),
                            _fscore(float(measure.precision), float(measure.recall)))
        else:
            coverage = 0.0
    logger.debug("zerospeech-tde said: %s", printed.getvalue().strip())
    return TermScores(ned, coverage, pairs, count, listed, tokens, grouping, token, type_, boundary)


def load_gold(alignments_path: str | os.PathLike, vads: Sequence[Vad] | None = None) -> dict[str, FileAlignment]:
    """:func:`gold_alignments` of an alignment file or TextGrid folder (missing: one-line error)."""
    if not Path(alignments_path).exists():
        raise UserError(f"{alignments_path}: no such alignment file or folder")
    return gold_alignments(load_alignments(alignments_path), vads)
