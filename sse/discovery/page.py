"""A self-contained HTML page of discovered classes: what a person looks at and listens to.

Classes are listed largest first, under a legend; each token has a playable snippet with its
duration (shown before it is played), its file and times and,
where gold alignments are given, the words and phones it spans (the words it overlaps, in
parentheses those it holds less than half of; the phones by the labelling rule of
``transcribe_timestamps.py``). The page loads nothing
from the network. Snippets are either embedded (``embed=True``: each token's audio as a 16 kHz
16-bit WAV ``data:`` URI, so the page can be mailed or moved on its own) or linked (the corpus
file by a path relative to the page, with a ``#t=onset,offset`` media fragment), for pages of
many tokens.
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import soundfile

from sse.core.files import atomic_open
from sse.core.progress import tqdm
from sse.discovery.terms import Discovery, Token
from sse.frames.audio import SAMPLE_RATE, read_audio
from sse.frames.formats import format_time
from sse.prep.alignments import FileAlignment
from sse.prep.labels import phone_ngram

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
section.term { border-top: 1px solid #ccc; padding: 0.4em 0; }
table { border-collapse: collapse; }
td, th { padding: 0.15em 0.6em; text-align: left; vertical-align: middle; }
td.gold { color: #555; }
audio { height: 2em; vertical-align: middle; }
span.duration { color: #555; margin-left: 0.4em; }
p#legend { color: #444; max-width: 60em; }
"""

LEGEND = ("Each row is one discovered token: its snippet, with the snippet's duration, and where it "
          "lies in its file (onset and offset, in seconds).")
GOLD_LEGEND = (" Gold words [phones]: the words of the alignment that the token overlaps, in parentheses "
               "a word it holds less than half of; in brackets, the phones whose middle lies inside it "
               "(the labelling rule of transcribe_timestamps.py); - where it holds no word.")


def wav_data_uri(samples) -> str:
    """16-bit PCM WAV bytes of 16 kHz samples, as a ``data:`` URI."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def gold_text(alignment: FileAlignment | None, token: Token) -> str:
    """``words [phones]`` of the token's stretch, or "" without an alignment."""
    if alignment is None:
        return ""
    words = []
    for word in alignment.words:
        inside = min(word.end, token.end) - max(word.start, token.start)
        if inside > 0:  # a word the token holds less than half of is shown in parentheses
            words.append(word.label if inside >= (word.end - word.start) / 2 else f"({word.label})")
    phones = phone_ngram(alignment, token.start, token.end)
    return f"{' '.join(words) or '-'} [{(phones or '').replace(',', ' ')}]"


def page_html(found: Discovery, corpus_root: str | os.PathLike, page_path: str | os.PathLike,
              gold: dict[str, FileAlignment] | None = None, max_classes: int = 50, max_tokens: int = 10,
              embed: bool = True, title: str = "Discovered terms", progress: bool = True) -> str:
    """The page's HTML text (see the module docstring)."""
    corpus_root = Path(corpus_root)
    page_folder = Path(page_path).resolve().parent
    shown = found.classes[:max_classes]
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p id=\"summary\">{html.escape(found.summary())}. Showing {len(shown)} of {len(found.classes)} "
             f"classes, at most {max_tokens} tokens each.</p>",
             f"<p id=\"legend\">{html.escape(LEGEND + (GOLD_LEGEND if gold is not None else ''))}</p>"]
    bar = tqdm(total=sum(min(len(tokens), max_tokens) for tokens in shown), desc="html page", unit="token",
               disable=not progress, leave=False)
    for number, tokens in enumerate(shown, start=1):
        parts.append(f"<section class=\"term\" id=\"class-{number}\" data-tokens=\"{len(tokens)}\">"
                     f"<h2>Class {number} <small>({len(tokens)} tokens)</small></h2><table>"
                     "<tr><th>listen (duration)</th><th>file</th><th>onset</th><th>offset</th>"
                     + ("<th>gold words [phones]</th>" if gold is not None else "") + "</tr>")
        for token in tokens[:max_tokens]:
            wav = found.wavs.get(token.file, token.file)
            if embed:
                source = wav_data_uri(read_audio(corpus_root / wav, token.start, token.end))
            else:
                relative = os.path.relpath((corpus_root / wav).resolve(), page_folder)
                source = f"{Path(relative).as_posix()}#t={format_time(token.start)},{format_time(token.end)}"
            # The player shows no duration before it loads (preload="none"): the page says it.
            cells = [f"<audio controls preload=\"none\" src=\"{html.escape(source, quote=True)}\"></audio>"
                     f"<span class=\"duration\">{token.end - token.start:.2f} s</span>",
                     html.escape(token.file), format_time(token.start), format_time(token.end)]
            if gold is not None:
                cells.append(html.escape(gold_text(gold.get(token.file), token)))
            parts.append("<tr class=\"token\">" + "".join(
                f"<td class=\"{'gold' if i == 4 else 'cell'}\">{cell}</td>" for i, cell in enumerate(cells)) + "</tr>")
            bar.update(1)
        parts.append("</table></section>")
    bar.close()
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(path: str | os.PathLike, found: Discovery, corpus_root: str | os.PathLike,
               gold: dict[str, FileAlignment] | None = None, max_classes: int = 50, max_tokens: int = 10,
               embed: bool = True, title: str = "Discovered terms") -> None:
    """Write the page of :func:`page_html` atomically."""
    text = page_html(found, corpus_root, path, gold, max_classes, max_tokens, embed, title)
    with atomic_open(path, encoding="utf-8") as out:
        out.write(text)

