"""The README's examples print what the README shows (docs/examples.py), and its lists are whole."""
import importlib.util
import os
import re
import sys
from pathlib import Path

from sse.core.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("sse_examples", ROOT / "docs" / "examples.py")
examples = sys.modules["sse_examples"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(examples)


def test_every_shown_output_is_what_the_example_prints():
    problems = [problem for document in examples.DOCUMENTS for problem in examples.process(document, write=False)]
    assert not problems, "examples drifted (python docs/examples.py --write rewrites them):\n" + "\n".join(problems)


def test_the_readme_runs_examples_with_output():
    lines = (ROOT / "README.md").read_text().split("\n")
    blocks = examples.find_blocks(lines)
    languages = {block.language for block in blocks}
    assert languages == {"bash", "python"}
    assert sum(len(step.expected) for block in blocks for step in block.steps) >= 20
    assert len(lines) <= 262  # about 250: a guide; measurements and contracts live in docs/


def test_the_readme_examples_write_only_into_a_git_ignored_folder_the_checker_starts_without(tmp_path, monkeypatch):
    """Run by hand, then checked (or run twice), the examples never meet an earlier run's outputs:
    they write into examples_out/, which git ignores and the checker's scratch folder leaves out."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    commands = [line for block in blocks for line in block.splitlines() if not line.startswith("#")]
    written = [path for line in commands for path in re.findall(r"(?:--output\w*|--html| >)\s+(\S+)", line)]
    assert len(written) >= 6 and all(path.startswith(examples.OUTPUTS + "/") for path in written), written
    assert f"/{examples.OUTPUTS}/" in (ROOT / ".gitignore").read_text().split()
    root = tmp_path / "repository"
    (root / examples.OUTPUTS).mkdir(parents=True)
    (root / "README.md").write_text("")
    monkeypatch.setattr(examples, "ROOT", root)
    assert sorted(os.listdir(examples.scratch_folder())) == ["README.md"]


def test_numbers_may_differ_by_the_tolerance_and_nothing_else_may():
    shown = "MAP: 0.2420 (exact MAP; 2499 queries)"
    assert examples.same_line(shown, "MAP: 0.2431 (exact MAP; 2499 queries)")
    assert not examples.same_line(shown, "MAP: 0.2460 (exact MAP; 2499 queries)")
    assert not examples.same_line(shown, "MAP: 0.2420 (exact MAP; 2498 queries)")
    assert not examples.same_line(shown, "MAP: 0.2420 (exact MAP; 2499 query)")
    assert examples.matches(["a", "...", "z 1.0"], ["a", "b", "c", "z 1.0005"])
    assert not examples.matches(["a", "...", "z"], ["a", "b"])
    assert not examples.matches(["a"], ["a", "b"])
    assert examples.shown(["a", "...", "z"], ["a", "b", "c", "z"]) == ["a", "...", "z"]


def test_a_drifted_or_failing_example_is_caught_and_rewritten(tmp_path, monkeypatch):
    document = tmp_path / "doc.md"
    document.write_text("\n".join([
        "```bash", "echo 'MAP: 0.5000'", "#> MAP: 0.4000", "echo one;\\", "  echo two", "#> one", "#> two",
        "false", "```", "", "```python", "x = 3", "print(x * 2)", "#> 6", "print(x + 1)", "#> 5", "```", ""]))
    monkeypatch.setattr(examples, "ROOT", tmp_path)
    problems = examples.process("doc.md", write=False)
    assert len(problems) == 3
    assert "got:   MAP: 0.5000" in problems[0]
    assert "(exit status 1)" in problems[1]
    assert "got:   4" in problems[2]
    examples.process("doc.md", write=True)
    assert "#> MAP: 0.5000" in document.read_text() and "#> 4" in document.read_text()
    assert examples.process("doc.md", write=False) == ["doc.md:8: false\n    got:   (exit status 1)\n"]


def test_the_readme_names_every_installed_command():
    text = (ROOT / "README.md").read_text()
    start = text.index("installs the scripts as commands")
    paragraph = text[start:text.index("\n\n", start)]
    assert set(re.findall(r"`(sse-[a-z-]+)`", paragraph)) == set(COMMANDS)



def test_the_demo_time_is_stated_from_one_place():
    """run_demo.sh prints DEMO_MINUTES; the README states the same; neither writes its own."""
    from sse.defaults import DEMO_MINUTES
    assert f"about {DEMO_MINUTES} minutes on 2 idle CPU cores" in (ROOT / "README.md").read_text()
    script = (ROOT / "run_demo.sh").read_text()
    assert "DEMO_MINUTES" in script and not re.search(r"about \d+ minutes", script)
