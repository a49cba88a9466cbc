"""The shared command surface (sse/core/cli.py): names, spellings, help, numeric validation, output checks."""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

import pytest

from sse.core import cli
from sse.core.errors import UserError
from tests.helpers import REPO, run_script

SCRIPTS = ["vad.py", "make_segments.py", "extract_features.py", "transcribe_timestamps.py", "make_benchmark.py",
           "mine_pairs.py", "map_dump.py", "map_table.py", "search.py", "export_model.py", "demo/make_demo_corpus.py",
           "plot_training.py", "make_word_corpus.py", "pair_quality.py"]


pytestmark = pytest.mark.usefixtures("restore_logging")  # scripts run in this process


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name[:-3]}", REPO / "utils" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line_error(result, *fragments):
    """Exit status 2 and exactly one line on stderr, starting with 'error:'."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_help_of_every_script_loads_no_torch_and_does_no_work(tmp_path):
    """One interpreter runs every script's --help; torch must not be imported by any of them."""
    program = f"""
import runpy, sys
for script in {SCRIPTS!r}:
    sys.argv = [script, "--help"]
    try:
        runpy.run_path({str(REPO / 'utils')!r} + "/" + script, run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (0, None), (script, exit.code)
    assert "torch" not in sys.modules, script + " imported torch for --help"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
    assert "--kebab-case" in result.stdout and "(default: 10)" in result.stdout  # search.py --k
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_option_is_documented(name):
    parser = load_script(name).build_parser()
    assert isinstance(parser, cli.Parser)
    parser.format_help()  # adds the common options
    for action in parser._actions:
        assert action.help and action.help.strip(), f"{name}: {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("name", SCRIPTS)
def test_one_name_per_kind_of_input(name):
    """Where a script takes one of these inputs, it takes it under the shared name."""
    parser = load_script(name).build_parser()
    parser.format_help()
    options = {option for action in parser._actions for option in action.option_strings}
    forbidden = {"--output_file", "--output_dir", "--vads", "--jobs", "--model", "--segments"}
    assert not options & forbidden, f"{name} declares {options & forbidden}; declare them as aliases"
    for kind in ("--path_wavs", "--path_vads", "--path_segments", "--path_sse", "--output", "--num_workers"):
        spelt = {option for option in options if option.replace("-", "_") == kind and option != kind}
        assert not spelt, f"{name}: {spelt} instead of {kind}"


def test_spellings_and_aliases_reach_the_same_option():
    parser = cli.Parser()
    parser.add_argument("--output", aliases=["--output_file"])
    parser.add_argument("--num_workers", type=cli.integer(0), default=2, aliases=["--jobs"])
    parser.add_argument("--dev-fraction", type=float, default=0.5)
    for argv in (["--output", "a"], ["--output_file", "a"], ["--output-file=a"], ["--output=a"]):
        assert parser.parse_args(argv).output == "a", argv
    for argv in (["--num_workers", "3"], ["--num-workers", "3"], ["--jobs=3"]):
        assert parser.parse_args(argv).num_workers == 3, argv
    assert parser.parse_args(["--dev_fraction", "0.25"]).dev_fraction == 0.25
    assert parser.normalize(["--jobs", "1", "--", "--output_file"]) == ["--num_workers", "1", "--", "--output_file"]


def test_defaults_are_shown_once_and_aliases_listed():
    parser = cli.Parser()
    parser.add_argument("--batch_size", type=cli.integer(1), default=256, help="rows at once")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    parser.add_argument("--output", aliases=["--output_file"], help="where")
    text = " ".join(parser.format_help().split())
    assert "rows at once (default: 256)" in text
    assert "seed (default: 0)" in text
    assert "where [also: --output_file]" in text
    assert "(default: None)" not in text


@pytest.mark.parametrize("kind, text, ok", [
    (cli.integer(1), "3", 3), (cli.integer(1), "0", None), (cli.integer(0), "-1", None),
    (cli.integer(1), "2.5", None), (cli.real(0, 1), "nan", None), (cli.real(0), "inf", None),
    (cli.real(0, 1), "1", 1.0), (cli.real(0, 1, above=True), "0", None), (cli.real(0, 1, below=True), "1", None),
    (cli.real(0, 1), "-0.1", None), (cli.real(), "1e3", 1000.0), (cli.real(), "x", None),
])
def test_numeric_types(kind, text, ok):
    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError):
            kind(text)
    else:
        assert kind(text) == ok


# Every numeric option of every script, refused before any work with one line.
BAD_NUMBERS = [
    ("map_dump.py", ["--batch_size", "0"], "--batch_size: 0 is out of range"),
    ("map_dump.py", ["--layer", "-1"], "--layer: -1 is out of range"),
    ("extract_features.py", ["--num_workers", "-1"], "--num_workers: -1 is out of range"),
    ("extract_features.py", ["--jobs", "-1"], "--num_workers: -1 is out of range"),
    ("extract_features.py", ["--nshards", "0"], "--nshards: 0 is out of range"),
    ("extract_features.py", ["--nshards", "2", "--shard", "2"], "--shard 2 is out of range"),
    ("mine_pairs.py", ["--coverage", "nan"], "--coverage: expected a finite number"),
    ("mine_pairs.py", ["--coverage", "0"], "--coverage: 0 is out of range"),
    ("mine_pairs.py", ["--pca_dim", "0"], "--pca_dim: 0 is out of range"),
    ("mine_pairs.py", ["--k", "1"], "--k: 1 is out of range"),
    ("mine_pairs.py", ["--nms_overlap", "1.5"], "--nms_overlap: 1.5 is out of range"),
    ("mine_pairs.py", ["--max_pca_fit", "1"], "--max_pca_fit: 1 is out of range"),
    ("mine_pairs.py", ["--batch-size", "-3"], "--batch_size: -3 is out of range"),
    ("vad.py", ["--threshold", "1"], "--threshold: 1 is out of range"),
    ("vad.py", ["--min_speech", "-0.1"], "--min_speech: -0.1 is out of range"),
    ("vad.py", ["--speech_pad", "inf"], "--speech_pad: expected a finite number"),
    ("vad.py", ["--jobs", "0"], "--num_workers: 0 is out of range"),
    ("make_segments.py", ["--max_segments", "0"], "--max_segments: 0 is out of range"),
    ("make_benchmark.py", ["--max_gap", "-1"], "--max_gap: -1 is out of range"),
    ("search.py", ["--k", "0"], "--k: 0 is out of range"),
    ("demo/make_demo_corpus.py", ["--dev-fraction", "1"], "--dev_fraction: 1 is out of range"),
    ("demo/make_demo_corpus.py", ["--minutes", "nan"], "--minutes: expected a finite number"),
]
REQUIRED = {
    "map_dump.py": ["--path_wavs", "W", "--path_segments", "S", "--task", "dump", "--baseline", "mean"],
    "extract_features.py": ["--path_wavs", "W", "--path_vads", "V"],
    "mine_pairs.py": ["--path_segments", "S", "--features", "F", "--path_sse", "M"],
    "vad.py": ["--path_wavs", "W"],
    "make_segments.py": ["VADS"],
    "make_benchmark.py": ["--alignments", "A"],
    "search.py": ["--embeddings", "E.npy", "--query_rows", "all"],
    "demo/make_demo_corpus.py": [],
}
OUTPUTS = {"map_dump.py": ("--output", "out.npy"), "extract_features.py": ("--output", "feats"),
           "mine_pairs.py": ("--output", "pairs"), "vad.py": ("--output", "vads"),
           "make_segments.py": (None, "segments"), "make_benchmark.py": ("--output", "bench"),
           "search.py": ("--output", "found"), "demo/make_demo_corpus.py": (None, "corpus")}


def run_in_process(script, argv, capsys):
    """Run a script's main as ``python utils/SCRIPT`` would, in this process (no interpreter start)."""
    module = load_script(script)
    with pytest.raises(SystemExit) as exit:
        cli.run(lambda: module.main([str(arg) for arg in argv]))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess([script, *argv], exit.value.code, captured.out, captured.err)


def output_args(script, path):
    option, _ = OUTPUTS[script]
    return [option, str(path)] if option else [str(path)]


@pytest.mark.parametrize("script, bad, message", BAD_NUMBERS)
def test_numeric_options_are_validated(tmp_path, capsys, script, bad, message):
    out = tmp_path / OUTPUTS[script][1]
    result = run_in_process(script, [*REQUIRED[script], *output_args(script, out), *bad], capsys)
    one_line_error(result, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script", sorted(OUTPUTS))
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys, script):
    # The inputs do not exist: a refusal that names the output proves the check came first.
    (tmp_path / "a_file").write_text("x")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    below_a_file = tmp_path / "a_file" / "sub" / OUTPUTS[script][1]
    one_line_error(run_in_process(script, [*REQUIRED[script], *output_args(script, below_a_file)], capsys),
                   "cannot be created", "is a file, not a folder")
    if script not in ("extract_features.py", "demo/make_demo_corpus.py"):  # their output is a folder
        one_line_error(run_in_process(script, [*REQUIRED[script], *output_args(script, folder)], capsys),
                       "is a folder")
    else:
        one_line_error(run_in_process(script, [*REQUIRED[script], *output_args(script, tmp_path / "a_file")],
                                      capsys), "is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder"]
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(UserError, match="cannot write in"):
            cli.check_output(folder / "x.txt")
    finally:
        folder.chmod(0o755)


def test_check_output_accepts_a_folder_still_to_make(tmp_path):
    cli.check_output(tmp_path / "new" / "deeper" / "x.txt")
    cli.check_output(tmp_path / "new" / "store", "dir")
    assert list(tmp_path.iterdir()) == []  # checked, nothing made


def test_a_real_process_gives_one_line_too(tmp_path):
    result = run_script("mine_pairs.py", *REQUIRED["mine_pairs.py"], "--output", tmp_path / "pairs", "--pca_dim", "0")
    one_line_error(result, "--pca_dim: 0 is out of range")
    result = run_script("vad.py", "--path_wavs", "W", "--output", tmp_path)
    one_line_error(result, "is a folder")
    assert list(tmp_path.iterdir()) == []


def test_wrong_extensions_are_refused_before_any_work(tmp_path):
    (tmp_path / "S").write_text("a.wav s 0 1 0 1 x\n")
    inputs = ["--path_wavs", tmp_path, "--path_segments", tmp_path / "S"]
    result = run_script("map_dump.py", *inputs, "--task", "dump", "--baseline", "mean", "--output", tmp_path / "emb.txt")
    one_line_error(result, "must end in .npy")
    result = run_script("map_table.py", *inputs, "--baseline", "--output_plot", tmp_path / "map.jpeg")
    one_line_error(result, "--output_plot must end in .png or .pdf or .svg")
    assert [path.name for path in tmp_path.iterdir()] == ["S"]


def test_positional_and_named_inputs_give_the_same_segments(tmp_path):
    vads = tmp_path / "vads"
    vads.write_text("a.wav s 0 1.0\nb.wav s 0.5 1.3\n")
    run_script("make_segments.py", vads, tmp_path / "one", check=True)
    run_script("make_segments.py", "--path-vads", vads, "--output", tmp_path / "two", "--quiet", check=True)
    assert (tmp_path / "one").read_text() == (tmp_path / "two").read_text() != ""
    one_line_error(run_script("make_segments.py", vads, tmp_path / "o", "--path_vads", tmp_path / "one"),
                   "VADS is given twice")
    one_line_error(run_script("make_segments.py"), "required: VADS")


@pytest.mark.parametrize("recipe", ["launch_init.sh", "iteration.sh", "launch_gold.sh", "run_demo.sh",
                                    "utils/demo/prepare_demo_data.sh"])
def test_recipes_answer_help_without_doing_work(tmp_path, recipe):
    env = dict(os.environ, SSE_EXP=str(tmp_path / "exp"), SSE_DEVICE="cpu")
    result = subprocess.run(["bash", str(REPO / recipe), "--help"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "bash " in result.stdout and result.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_console_entry_points_name_existing_scripts():
    """The installed sse-* commands call sse.core.commands, which runs utils/<script>.py (shipped as sse_utils)."""
    import importlib.metadata

    from sse.core import commands

    entries = {point.name: point.value for point in importlib.metadata.distribution("sse").entry_points
               if point.group == "console_scripts"}
    assert set(entries) == set(commands.COMMANDS) and len(entries) >= 10
    for command, function in entries.items():
        assert function == "sse.core.commands:main" and callable(commands.main), command
        assert (REPO / "utils" / f"{commands.COMMANDS[command]}.py").is_file(), command
    setup = (REPO / "setup.py").read_text()
    assert 'package_dir={"sse_utils": "utils"}' in setup and (REPO / "utils" / "__init__.py").is_file()


def test_a_command_runs_its_script(tmp_path, monkeypatch, capsys):
    """sse.core.commands runs the script module as __main__ with the command's own argv."""
    import types

    from sse.core import commands

    package = types.ModuleType("sse_utils")
    package.__path__ = [str(REPO / "utils")]
    monkeypatch.setitem(sys.modules, "sse_utils", package)
    (tmp_path / "vads").write_text("a.wav s 0 0.5\n")
    monkeypatch.setattr(sys, "argv", ["/usr/bin/sse-segments", str(tmp_path / "vads"), str(tmp_path / "out"),
                                      "--quiet"])
    commands.main()
    assert (tmp_path / "out").read_text().splitlines()[0] == "a.wav s 0 0.5 0 0.16"
    monkeypatch.setattr(sys, "argv", ["sse-segments"])
    with pytest.raises(SystemExit) as exit:
        commands.main()
    assert exit.value.code == 2 and "see sse-segments --help" in capsys.readouterr().err


def test_progress_is_a_log_line_off_a_terminal_and_nothing_when_quiet(caplog):
    import logging

    from sse.core import progress

    caplog.set_level(logging.INFO, logger="progress")
    for _ in progress.tqdm(range(3), desc="frames", unit="vad"):
        pass
    bar = progress.tqdm(total=0.25, desc="features", unit="h")
    bar.update(0.25)
    bar.close()
    messages = [record.getMessage() for record in caplog.records if record.name == "progress"]
    assert messages[-2].startswith("frames: 3/3 vad [") and messages[-1].startswith("features: 0.25/0.25 h [")
    assert not any("\r" in m or "\x1b[" in m for m in messages)
    caplog.clear()
    progress.configure(quiet=True)
    for _ in progress.tqdm(range(3), desc="frames"):
        pass
    assert not [record for record in caplog.records if record.name == "progress"]


@pytest.mark.parametrize("command", [["utils/map_dump.py", "--help"], ["-m", "sse.pipeline.stages", "init", "--help"],
                                     ["-m", "sse.defaults"]])
def test_a_reader_that_stops_early_gets_no_traceback(command):
    """`... --help | head -1`: the pipe's reader is gone before anything is written (deterministic here)."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, *command], cwd=REPO, stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=60)
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode in (0, 1)  # argparse itself ignores the closed pipe
