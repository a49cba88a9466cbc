"""utils/discover_terms.py and utils/score_terms.py, run as a user runs them, on a tiny corpus of
repeated words, with the ZeroSpeech tool as the judge and the page opened in headless Chromium."""
from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import soundfile

from sse.discovery.terms import overlapping_tokens, read_class_file
from tests.helpers import DEMO, REPO, assert_clean_failure, run_quiet

WORDS = ("window", "garden", "yellow", "market")


class RepeatedWords(NamedTuple):
    root: Path
    vads: Path
    alignments: Path
    words: int  # word tokens in the corpus


@pytest.fixture(scope="module")
def repeated_words(tmp_path_factory) -> RepeatedWords:
    """Eight files of three words each (every third ordered choice of three of four words, one
    voice), 0.4 s of low noise between words; the VAD list has one VAD per word, 50 ms around it.

    The gold alignment has the real word times; its "phones" are the word's letters spread evenly
    over the word (the tool only compares symbols, and espeak-ng gives no phone times).
    """
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: run `bash install.sh --dev`")
    root = tmp_path_factory.mktemp("repeated_words")
    spoken = {}
    for word in WORDS:
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(root / "raw.wav"), word], check=True, capture_output=True)
        samples, rate = soundfile.read(root / "raw.wav", dtype="float32")
        voiced = np.flatnonzero(np.abs(samples) > 0.02)
        spoken[word] = samples[voiced[0]:voiced[-1] + 1]
    (root / "raw.wav").unlink()
    rng = np.random.default_rng(0)
    vad_lines, alignment_lines, count = [], [], 0
    pause = np.zeros(int(0.4 * rate), dtype=np.float32)
    for number, order in enumerate(list(itertools.permutations(WORDS, 3))[::3][:8]):
        name = f"f{number}.wav"
        pieces, time = [pause], len(pause) / rate
        for word in order:
            duration = len(spoken[word]) / rate
            vad_lines.append(f"{name} spk0 {time - 0.05:.4f} {time + duration + 0.05:.4f}")
            alignment_lines.append(f"{name} word {time:.4f} {time + duration:.4f} {word}")
            step = duration / len(word)
            alignment_lines += [f"{name} phone {time + i * step:.4f} {time + (i + 1) * step:.4f} {letter.upper()}"
                                for i, letter in enumerate(word)]
            pieces += [spoken[word], pause]
            time += duration + len(pause) / rate
            count += 1
        audio = np.concatenate(pieces)
        soundfile.write(root / name, audio + rng.normal(0, 1e-3, len(audio)).astype(np.float32), rate)
    (root / "vads").write_text("\n".join(vad_lines) + "\n")
    (root / "alignments.txt").write_text("\n".join(alignment_lines) + "\n")
    return RepeatedWords(root, root / "vads", root / "alignments.txt", count)


MEAN_MFCC = ("--baseline", "mean", "--frontend", "mfcc", "--cmvn", "none")


@pytest.fixture(scope="module")
def discovered(repeated_words, tmp_path_factory):
    folder = tmp_path_factory.mktemp("discovered")
    result = run_quiet("discover_terms.py", "--path_wavs", repeated_words.root, "--path_vads", repeated_words.vads,
                       *MEAN_MFCC, "--output", folder / "classes.txt", "--html", folder / "page" / "classes.html",
                       "--alignments", repeated_words.alignments)
    assert result.returncode == 0, result.stderr
    return folder


def test_discovered_classes_are_the_repeated_words_by_the_zerospeech_tool(repeated_words, discovered):
    classes = read_class_file(discovered / "classes.txt")
    assert overlapping_tokens(classes) == []
    assert all(token.file in {f"f{i}" for i in range(8)} for tokens in classes for token in tokens)
    result = run_quiet("score_terms.py", "--classes", discovered / "classes.txt", "--alignments",
                       repeated_words.alignments, "--path_vads", repeated_words.vads, "--output", discovered / "s.json")
    assert result.returncode == 0, result.stderr
    scores = json.loads((discovered / "s.json").read_text())
    assert re.search(r"^\| NED \| 0\.\d{4} \|$", result.stdout, re.M)
    # Mean-pooled frames of one voice: the classes must be the words, nearly all of each.
    # (measured: NED 0, coverage 0.97, grouping F 1; four classes of six tokens)
    assert len(classes) == len(WORDS), result.stdout
    assert float(scores["NED"]) <= 0.1, result.stdout
    assert float(scores["coverage"]) >= 0.8, result.stdout
    assert float(scores["grouping F-score"]) >= 0.9, result.stdout
    # "tokens" are the class file's, as discover_terms.py counts them (the tool scores those it can).
    assert scores["tokens"] == sum(len(tokens) for tokens in classes) >= scores["tokens scored"]


def test_bad_inputs_give_one_error_line_and_write_nothing(repeated_words, tmp_path):
    output = tmp_path / "classes.txt"
    base = ("--path_wavs", repeated_words.root, "--output", output)
    broken_model = tmp_path / "model.pt"
    broken_model.write_text("not a checkpoint")
    result = run_quiet("discover_terms.py", *base, "--path_vads", repeated_words.vads, "--path_sse", broken_model)
    assert_clean_failure(result, output, str(broken_model))
    empty = tmp_path / "empty_vads"
    empty.write_text("")
    result = run_quiet("discover_terms.py", *base, "--path_vads", empty, *MEAN_MFCC)
    assert_clean_failure(result, output, "empty")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_quiet("discover_terms.py", "--path_wavs", repeated_words.root, "--path_vads", repeated_words.vads,
                       *MEAN_MFCC, "--output", blocker / "classes.txt")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and "cannot be created" in result.stderr
    assert blocker.read_text() == "" and list(tmp_path.glob(".*.part")) == []
    missing = tmp_path / "no_alignments.txt"
    result = run_quiet("score_terms.py", "--classes", output, "--alignments", missing, "--output", output)
    assert_clean_failure(result, output, str(missing))


def test_the_page_has_a_legend_and_each_snippet_its_duration(discovered):
    """The player shows no duration before it is played (preload="none"): the page does; and a
    legend says what the columns and the parenthesised words mean."""
    text = (discovered / "page" / "classes.html").read_text(encoding="utf-8")
    legend = re.search(r'<p id="legend">(.*?)</p>', text, re.S).group(1)
    assert "duration" in legend and "in parentheses a word it holds less than half of" in legend
    rows = re.findall(r'<span class="duration">([0-9.]+) s</span></td><td class="cell">[^<]*</td>'
                      r'<td class="cell">([0-9.]+)</td><td class="cell">([0-9.]+)</td>', text)
    assert len(rows) == text.count("<audio ") > 0
    assert all(abs(float(shown) - (float(offset) - float(onset))) <= 0.005 for shown, onset, offset in rows)


def _two_files(folder: Path) -> Path:
    """Alignments of x.wav ('ab cd') and y.wav ('cd ab'): words of two 0.1 s phones, no silence."""
    lines = []
    for wav, words in (("x.wav", ("ab", "cd")), ("y.wav", ("cd", "ab"))):
        for number, word in enumerate(words):
            start = 0.2 * number
            lines += [f"{wav} word {start:.1f} {start + 0.2:.1f} {word}",
                      f"{wav} phone {start:.1f} {start + 0.1:.1f} {word[0].upper()}",
                      f"{wav} phone {start + 0.1:.1f} {start + 0.2:.1f} {word[1].upper()}"]
    (folder / "alignments.txt").write_text("\n".join(lines) + "\n")
    return folder / "alignments.txt"


def test_score_terms_writes_numbers_and_says_what_it_counts(tmp_path):
    """The JSON holds numbers (not "0.5000"); "tokens" counts the class file's tokens, as
    discover_terms.py does, "tokens scored" those the tool scores, and a line says why they differ."""
    alignments = _two_files(tmp_path)
    classes = tmp_path / "classes.txt"
    classes.write_text("Class 1\nx 0.0 0.2\ny 0.2 0.4\nx 0.39 0.4\n\n")  # the last holds 10 ms of a phone
    result = run_quiet("score_terms.py", "--classes", classes, "--alignments", alignments, "--output",
                       tmp_path / "scores.json")
    assert result.returncode == 0, result.stderr
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["NED"] == 0.0 and isinstance(scores["coverage"], float) and scores["classes"] == 1
    assert scores["tokens"] == 3 and scores["tokens scored"] == 2 and scores["pairs"] == 1
    assert all(value is None or isinstance(value, (int, float)) for value in scores.values()), scores
    assert "| tokens | 3 |" in result.stdout and "| tokens scored | 2 |" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("3 tokens in the class file"), result.stdout


@pytest.mark.parametrize("times", ["0.1 inf", "nan 0.2", "-inf 0.2"])
def test_score_terms_refuses_token_times_that_are_not_finite(tmp_path, times):
    classes = tmp_path / "classes.txt"
    classes.write_text(f"Class 1\nx 0.0 0.2\ny {times}\n\n")
    output = tmp_path / "scores.json"
    result = run_quiet("score_terms.py", "--classes", classes, "--alignments", _two_files(tmp_path), "--output", output)
    assert_clean_failure(result, output, f"{classes}:3:")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


PROBE = """<script>
window.addEventListener('load', () => {
  const out = document.createElement('pre'); out.id = 'probe'; document.body.appendChild(out);
  const sections = document.querySelectorAll('section.term');
  const audio = document.querySelector('section.term audio');
  const result = {classes: sections.length, sizes: Array.from(sections, s => Number(s.dataset.tokens)),
                  first: sections.length ? sections[0].querySelector('h2').textContent : null,
                  gold: document.querySelector('td.gold') ? document.querySelector('td.gold').textContent : null,
                  token: audio ? Number(audio.closest('tr').children[3].textContent)
                                 - Number(audio.closest('tr').children[2].textContent) : null};
  const report = () => { out.textContent = JSON.stringify(result); };
  if (!audio) { report(); return; }
  audio.preload = 'metadata';
  audio.addEventListener('loadedmetadata', () => { result.duration = audio.duration; report(); });
  audio.addEventListener('error', () => { result.error = audio.error ? audio.error.code : -1; report(); });
  audio.load();
});
</script>"""


def _open_in_chromium(page: Path, tmp_path: Path) -> dict:
    """Open a copy of ``page`` with a probe script appended; the probe's JSON from the final DOM."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                             "--dump-dom", probe.as_uri()],
                            capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)})
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, (result.stdout[-2000:], result.stderr[-2000:])
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (bash install.sh --dev installs it)")
def test_the_page_lists_the_classes_and_plays_in_a_real_browser(discovered, tmp_path):
    page = discovered / "page" / "classes.html"
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text  # nothing from the network
    shown = _open_in_chromium(page, tmp_path)
    classes = read_class_file(discovered / "classes.txt")
    assert shown["classes"] == min(len(classes), 50) and shown["classes"] >= 3
    assert shown["sizes"] == [len(tokens) for tokens in classes][:50]
    assert shown["sizes"] == sorted(shown["sizes"], reverse=True) and shown["first"].startswith("Class 1")
    assert shown["gold"] and any(word in shown["gold"] for word in WORDS)
    # The snippet decodes, and lasts as long as the token it plays.
    assert "error" not in shown and abs(shown["duration"] - shown["token"]) < 0.01, shown


def test_ctrl_c_stops_at_once_and_says_so_last(tmp_path):
    """Ctrl-C while the candidates are embedded (tens of seconds on the demo), the loop that reads
    their frames left open: exit status 130 within seconds, "interrupted" as the last line (no
    progress line of that loop after it), no class file."""
    output = tmp_path / "classes.txt"
    run = subprocess.Popen([sys.executable, str(REPO / "utils" / "discover_terms.py"), "--path_wavs", DEMO,
                            "--path_vads", REPO / "sse_benchmark" / "demo-dev-vads", "--path_sse",
                            REPO / "pretrained" / "demo_gold", "--output", output, "--device", "cpu"],
                           stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        lines = []
        while not any("candidate segments" in line for line in lines):
            lines.append(run.stderr.readline())
            assert lines[-1], "".join(lines)  # ended before embedding
        time.sleep(6.0)  # past the frames (a few seconds), into the embedding of the batches (30 s)
        run.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        rest = run.communicate(timeout=60)[1]
        took = time.monotonic() - interrupted
    finally:
        run.kill()
    assert run.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == "interrupted", rest
    assert took < 10, took
    assert not output.exists() and list(tmp_path.glob(".*.part")) == []
