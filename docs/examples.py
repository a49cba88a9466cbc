"""Runs the examples of the README and docs/ and checks (or rewrites) the output they show.

An example is a fenced ``bash`` or ``python`` block holding lines that start with ``#>``: those
lines are the output of the command or statement just above them. Blocks without ``#>`` lines
are not run (they need a corpus or a GPU the repository does not ship).

- bash: each command (with its ``\\`` continuation lines) runs in turn in one scratch folder
  that links the repository's top-level entries but :data:`OUTPUTS`, the folder the examples
  write into, so outputs land in the scratch folder and a run never meets those of an earlier
  one (or of the examples run by hand); what it prints on stdout and stderr together is its output.
- python: the top-level statements of the block run in turn in one namespace; what a statement
  prints on stdout is its output.

Before comparing, output is cleaned as a reader would see it in a log: timestamps and progress
lines are dropped, faiss's loader chatter is dropped, and the scratch folder's path is removed.
Numbers with a decimal point may differ by ``TOLERANCE`` (other CPUs round differently);
everything else must match. A ``#> ...`` line stands for any number of lines.

    python docs/examples.py            # check every example (exit 1 and a diff when one drifted)
    python docs/examples.py --write    # run them and write what they print into the files
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]
TOLERANCE = 2e-3
#: The folder the examples write into (git-ignored); each check starts without it.
OUTPUTS = "examples_out"
OUTPUT = "#> "
ELLIPSIS = "..."
_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d ")
_NOISE = re.compile(r"^(DEBUG|INFO):faiss|^(WARNING|INFO) progress: |^\s*$")
_MARK = "\x00example statement done\x00"


@dataclass
class Step:
    """One command or statement, and the output lines the document shows under it."""
    source: str
    first_line: int                       # 0-based index in the document of the step's first line
    expected: list = field(default_factory=list)
    output_at: int = -1                   # index of the first #> line (or where they would go)


@dataclass
class Block:
    language: str
    start: int                            # index of the opening fence
    end: int                              # index of the closing fence
    steps: list


def _expected(line: str) -> str | None:
    stripped = line.strip()
    if stripped == OUTPUT.strip():
        return ""
    return stripped[len(OUTPUT):] if stripped.startswith(OUTPUT) else None


def find_blocks(lines: list[str]) -> list[Block]:
    """The fenced bash/python blocks that show output."""
    blocks, index = [], 0
    while index < len(lines):
        match = re.match(r"^```(bash|python)\s*$", lines[index])
        if not match:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        body = range(index + 1, end)
        if any(_expected(lines[i]) is not None for i in body):
            steps = (_bash_steps if match.group(1) == "bash" else _python_steps)(lines, index + 1, end)
            blocks.append(Block(match.group(1), index, end, steps))
        index = end + 1
    return blocks


def _attach_outputs(lines, steps, end) -> list[Step]:
    for step, following in zip(steps, [*(s.first_line for s in steps[1:]), end]):
        index = step.output_at
        while index < following and (value := _expected(lines[index])) is not None:
            step.expected.append(value)
            index += 1
    return steps


def _bash_steps(lines, start, end) -> list[Step]:
    steps, index = [], start
    while index < end:
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            index += 1
            continue
        first, command = index, [line]
        while index + 1 < end and not _complete("\n".join(command)):  # continuation lines, open quotes
            index += 1
            command.append(lines[index])
        index += 1
        steps.append(Step("\n".join(command), first, output_at=index))
    return _attach_outputs(lines, steps, end)


def _complete(command: str) -> bool:
    """Whether bash parses ``command`` as whole (no open quote, no trailing backslash)."""
    if command.rstrip().endswith("\\"):
        return False
    return subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode == 0


def _python_steps(lines, start, end) -> list[Step]:
    code = ["" if _expected(line) is not None else line for line in lines[start:end]]
    steps = []
    for statement in ast.parse("\n".join(code)).body:
        source = "\n".join(code[statement.lineno - 1:statement.end_lineno])
        steps.append(Step(source, start + statement.lineno - 1, output_at=start + statement.end_lineno))
    return _attach_outputs(lines, steps, end)


def clean(text: str, scratch: str) -> list[str]:
    """Output as a reader compares it: no timestamps, progress, faiss chatter or scratch paths."""
    kept = []
    for line in text.splitlines():
        line = _TIMESTAMP.sub("", line.rstrip()).replace(scratch + os.sep, "").replace(str(ROOT) + os.sep, "")
        if not _NOISE.search(line):
            kept.append(line)
    return kept


def scratch_folder() -> str:
    """A folder whose entries link to the repository's, so examples run 'from the root' (all but
    :data:`OUTPUTS`, which the examples create anew there)."""
    folder = tempfile.mkdtemp(prefix="sse-examples-")
    for entry in ROOT.iterdir():
        if not entry.name.startswith(".") and entry.name != OUTPUTS:
            os.symlink(entry, os.path.join(folder, entry.name))
    return os.path.realpath(folder)


def run_bash(block: Block, scratch: str) -> list[list[str]]:
    outputs = []
    for step in block.steps:
        done = subprocess.run(["bash", "-c", step.source], cwd=scratch, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=_environment())
        outputs.append(clean(done.stdout, scratch) + ([f"(exit status {done.returncode})"] if done.returncode else []))
    return outputs


_RUNNER = f"""
import sys
statements = {{statements!r}}
namespace = {{{{"__name__": "__main__"}}}}
for source in statements:
    exec(compile(source, "<example>", "exec"), namespace)
    sys.stdout.flush()
    print({_MARK!r}, flush=True)
"""


def run_python(block: Block, scratch: str) -> list[list[str]]:
    program = _RUNNER.format(statements=[step.source for step in block.steps])
    done = subprocess.run([sys.executable, "-c", program], cwd=scratch, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=_environment())
    parts = done.stdout.split(_MARK + "\n")
    if done.returncode != 0:  # the failing statement shows the error; later ones did not run
        parts[-1] += done.stderr + f"(exit status {done.returncode})"
        parts += ["(not run)"] * (len(block.steps) - len(parts))
    return [clean(part, scratch) for part in parts[:len(block.steps)]]


def _environment() -> dict:
    environment = dict(os.environ, PYTHONWARNINGS="ignore")
    environment.pop("CUDA_VISIBLE_DEVICES", None)
    return environment


def same_line(expected: str, actual: str, tolerance: float = TOLERANCE) -> bool:
    """Equal, except that numbers with a decimal point may differ by ``tolerance``."""
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    return all(abs(float(a) - float(b)) <= tolerance
               for a, b in zip(_NUMBER.findall(expected), _NUMBER.findall(actual)))


def matches(expected: list[str], actual: list[str], tolerance: float = TOLERANCE) -> bool:
    """Whether ``actual`` shows ``expected``, where a line ``...`` stands for any lines."""
    if not expected:
        return not actual
    if expected[0] == ELLIPSIS:
        return any(matches(expected[1:], actual[skip:], tolerance) for skip in range(len(actual) + 1))
    return bool(actual) and same_line(expected[0], actual[0], tolerance) and \
        matches(expected[1:], actual[1:], tolerance)


def shown(expected: list[str], actual: list[str]) -> list[str]:
    """What ``--write`` puts in the document: the output, shortened where the document elides."""
    if ELLIPSIS not in expected:
        return actual
    head = expected.index(ELLIPSIS)
    tail = len(expected) - head - 1
    if head + tail >= len(actual):
        return actual
    return actual[:head] + [ELLIPSIS] + (actual[len(actual) - tail:] if tail else [])


def process(document: str, write: bool) -> list[str]:
    """Runs a document's examples; returns the drift found (and fixes it with ``write``)."""
    path = ROOT / document
    lines = path.read_text().split("\n")
    problems, replacements = [], []
    scratch = scratch_folder()
    for block in find_blocks(lines):
        outputs = (run_bash if block.language == "bash" else run_python)(block, scratch)
        for step, actual in zip(block.steps, outputs):
            failed = bool(actual) and actual[-1].startswith(("(exit status", "(not run)"))
            if not failed and (matches(step.expected, actual) or not step.expected and block.language == "bash"):
                continue  # as shown, or a command whose output the document does not show
            problems.append(f"{document}:{step.first_line + 1}: {step.source.splitlines()[0].strip()}\n"
                            + "".join(f"    shown: {line}\n" for line in step.expected)
                            + "".join(f"    got:   {line}\n" for line in actual))
            if not failed:  # a failure is never written in as the output to expect
                replacements.append((step, shown(step.expected, actual)))
    if write and replacements:
        for step, new in sorted(replacements, key=lambda item: -item[0].output_at):
            indent = re.match(r"\s*", lines[step.first_line]).group(0)
            lines[step.output_at:step.output_at + len(step.expected)] = \
                [f"{indent}{OUTPUT}{line}".rstrip() for line in new]
        path.write_text("\n".join(lines))
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--write", action="store_true", help="write the outputs into the documents")
    parser.add_argument("documents", nargs="*", default=DOCUMENTS, help="documents, relative to the root")
    args = parser.parse_args(argv)
    problems = [problem for document in args.documents for problem in process(document, args.write)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems and not args.write:
        print(f"{len(problems)} example(s) drifted; `python docs/examples.py --write` rewrites them",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
