"""What several test modules share: the repository's paths, running a script as a user would,
the one-line-error check, and the independent MAP oracle. Fixtures live in conftest.py; the
wav2vec 2.0 checkpoint builders, which bench/ uses too, in :mod:`sse.core.testing`."""
from __future__ import annotations

import contextlib
import io
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from sse.core.errors import UserError
from sse.core.stamps import claim, fingerprint, folder_has_state
from sse.prep.alignments import FileAlignment, Interval

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
DEMO = REPO / "training_data" / "demo"
#: The description extract_features.py stores for the MFCC front-end.
MFCC_DESCRIPTION = {"name": "mfcc", "dim": 78, "frame_rate": 50, "cmvn": "speaker"}  # the default MFCC


#: Progress bars are display, not messages: this keeps them out of a stderr being checked.
NO_PROGRESS = dict(os.environ, TQDM_DISABLE="1")


def run_script(script: str, *args, check: bool = False, env: dict | None = None,
               timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``utils/<script>`` in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, str(REPO / "utils" / script), *map(str, args)],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def run_quiet(script: str, *args) -> subprocess.CompletedProcess:
    """:func:`run_script` without progress bars, stopped after 2 minutes."""
    return run_script(script, *args, env=NO_PROGRESS, timeout=120)


def recipe_env(lists: Path, exp: Path, **settings: str) -> dict:
    """The environment of a recipe run on the small lists in ``lists`` (vads, segments): MFCC on
    the CPU, no data-loading workers, outputs under ``exp``; ``settings`` (SSE_*=...) on top."""
    return {**os.environ, "SSE_FRONTEND": "mfcc", "SSE_DEVICE": "cpu", "SSE_EXP": str(exp), "SSE_NUM_WORKERS": "0",
            "SSE_VADS": str(lists / "vads"), "SSE_SEGMENTS": str(lists / "segments"), **settings}


def dominant_frequency(samples: np.ndarray, rate: int = 16000) -> float:
    """The frequency (Hz) of the strongest peak of a Hann-windowed spectrum."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, one line on stderr naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or line.startswith("usage:")
              or ": error:" in line]
    assert errors, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def assert_clean_failure(result, output: Path, *fragments: str) -> None:
    """Exit status 2, one line on stderr that names the problem, and no output written."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert not output.exists()
    assert not [path for path in output.parent.iterdir() if path.name.endswith(".part")]


def assert_half_precision_frames_close(approximate, reference) -> None:
    """bf16 keeps 8 bits of mantissa, and through a random network the error depends on the CPU's
    bf16 kernels (native on AMX): check what holds on any CPU. The frames differ (computed in
    half precision), each is still most like its own full-precision frame, and close in direction."""
    approximate, reference = (np.asarray(a, dtype=np.float32) for a in (approximate, reference))
    assert approximate.shape == reference.shape and not np.array_equal(approximate, reference)
    unit_approximate = approximate / np.linalg.norm(approximate, axis=1, keepdims=True)
    unit_reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    similarities = unit_approximate @ unit_reference.T
    assert (similarities.argmax(1) == np.arange(len(reference))).mean() > 0.9
    assert np.median(np.diag(similarities)) > 0.8


def sklearn_map(embeddings, labels) -> tuple[float, int]:
    """MAP computed independently: one scikit-learn AP per query over all other segments."""
    from sklearn.metrics import average_precision_score  # noqa: PLC0415  (a test-only dependency)

    x = torch.nn.functional.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    scores = (x @ x.T).double().numpy()
    labels = np.asarray(labels)
    aps = []
    for query in range(len(labels)):
        others = np.arange(len(labels)) != query
        relevant = labels[others] == labels[query]
        if relevant.any():
            aps.append(average_precision_score(relevant, scores[query][others]))
    return float(np.mean(aps)), len(aps)


# -- alignments and TextGrids ------------------------------------------------------------------
# Times are multiples of 1/64 s so that midpoints and durations are exact in binary and the
# tests probe the rules, not floating-point rounding.
PHONE = 0.0625
SHORT_GAP = 0.03125   # under the default 50 ms: a span may cross it
PAUSE = 0.25          # over it: a span may not


def utterance(*items, start: float = 0.0) -> FileAlignment:
    """Phones laid end to end: a str is a phone of PHONE seconds, a (str, seconds) pair a phone of
    that length, a float that much silence."""
    phones = []
    time = start
    for item in items:
        if isinstance(item, float):
            time += item
            continue
        label, duration = item if isinstance(item, tuple) else (item, PHONE)
        phones.append(Interval(time, time + duration, label))
        time += duration
    return FileAlignment([], phones)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def long_textgrid(tiers: list[tuple[str, list]], xmax: float = 1.5) -> str:
    """A TextGrid in Praat's long text layout, as MFA writes it."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             "xmin = 0 ", f"xmax = {xmax} ", "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
    for number, (name, intervals) in enumerate(tiers, start=1):
        lines += [f"    item [{number}]:", '        class = "IntervalTier" ',
                  f"        name = {_quoted(name)} ", "        xmin = 0 ", f"        xmax = {xmax} ",
                  f"        intervals: size = {len(intervals)} "]
        for index, (start, end, text) in enumerate(intervals, start=1):
            lines += [f"        intervals [{index}]:", f"            xmin = {start} ",
                      f"            xmax = {end} ", f"            text = {_quoted(text)} "]
    return "\n".join(lines) + "\n"


def short_textgrid(tiers: list[tuple[str, list]], xmax: float = 1.5) -> str:
    """The same content in Praat's short text layout (values only)."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", str(xmax),
             "<exists>", str(len(tiers))]
    for name, intervals in tiers:
        lines += ['"IntervalTier"', _quoted(name), "0", str(xmax), str(len(intervals))]
        for start, end, text in intervals:
            lines += [str(start), str(end), _quoted(text)]
    return "\n".join(lines) + "\n"


def run_inprocess(script: str, *args) -> tuple[int, str, str]:
    """Run ``utils/<script>`` as ``__main__`` here; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [str(REPO / "utils" / script), *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def assert_one_error(result, *fragments: str) -> None:
    code, _, stderr = result
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def copy_store(store, target: Path) -> Path:
    """A copy of the ``store`` fixture's feature store, to damage."""
    shutil.copytree(store / "features", target)
    return target


def stamp(stage, path, inputs=None, file=False, **settings):
    """Claim a stage's output folder (or ``file``) as sse/pipeline/stages.py does: None if accepted, else the error."""
    path = Path(path)
    record = {"stage": stage, "inputs": {name: fingerprint(p) for name, p in (inputs or {}).items()},
              "settings": {name: str(value) for name, value in settings.items()}}
    try:
        if not file:
            claim(path / "stamp.json", record, folder_has_state(path, "stamp.json"), str(path), f"delete {path}")
        else:
            claim(f"{path}.stamp", record, path.exists(), str(path), f"delete {path}")
    except UserError as error:
        return str(error)
    return None
