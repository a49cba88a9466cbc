"""One rule for every output of every command: an output that exists already is refused, before any
work, with one ``error:`` line and exit status 2, and left as it was, unless ``--overwrite`` is
given (``sse/core/cli.py``: ``refuse_existing``). Each case below runs a command with inputs that
exist and an output that exists too."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sse.core.commands import COMMANDS
from tests.helpers import REPO, run_inprocess

DEMO = REPO / "training_data" / "demo"
BENCHMARK = REPO / "sse_benchmark" / "demo-ngrams-subset"
MODEL = REPO / "pretrained" / "demo_unsup"
ALIGNMENTS = DEMO / "alignments.txt"
VADS = REPO / "training_data" / "demo-vads"

#: script -> {case: (arguments, with OUT for the output that exists, and the file of it that does)}.
#: OUT is a file in the test's folder; "{OUT}/checkpoint_best.pt" names a file inside a folder OUT.
CASES = {
    "vad": {"--output": (["--path_wavs", DEMO, "--output", "OUT"], "OUT")},
    "make_segments": {"OUT": ([VADS, "OUT"], "OUT"),
                      "--output": (["--path_vads", VADS, "--output", "OUT"], "OUT")},
    "transcribe_timestamps": {"OUT": ([REPO / "training_data" / "demo-segments", ALIGNMENTS, "OUT"], "OUT")},
    "make_benchmark": {"--output": (["--alignments", ALIGNMENTS, "--output", "OUT"], "OUT")},
    "mine_pairs": {"--output": (["--path_segments", BENCHMARK, "--features", "FOLDER", "--path_sse", MODEL,
                                 "--output", "OUT"], "OUT")},
    "map_dump": {"--output": (["--path_wavs", DEMO, "--path_segments", BENCHMARK, "--task=dump", "--path_sse", MODEL,
                               "--output", "OUT.npy"], "OUT.npy"),
                 "its description": (["--path_wavs", DEMO, "--path_segments", BENCHMARK, "--task=dump",
                                      "--path_sse", MODEL, "--output", "OUT.npy"], "OUT.npy.json")},
    "map_table": {"--output_table": (["--path_wavs", DEMO, "--path_segments", BENCHMARK, "--baseline",
                                      "--output_table", "OUT.md"], "OUT.md"),
                  "--output_plot": (["--path_wavs", DEMO, "--path_segments", BENCHMARK, "--baseline",
                                     "--output_plot", "OUT.png"], "OUT.png")},
    "search": {"--output": (["--embeddings", BENCHMARK, "--query_rows", "all", "--output", "OUT"], "OUT")},
    "export_model": {"torchscript": (["--path_sse", MODEL, "--format", "torchscript", "--output", "OUT.pt"], "OUT.pt"),
                     "its description": (["--path_sse", MODEL, "--format", "torchscript", "--output", "OUT.pt"],
                                         "OUT.pt.json"),
                     "compact, into an experiment folder": (["--path_sse", MODEL, "--output", "OUT"],
                                                            "OUT/checkpoint_best.pt")},
    "plot_training": {"--output": (["--log", BENCHMARK, "--output", "OUT.png"], "OUT.png")},
    "discover_terms": {"--output": (["--path_wavs", DEMO, "--path_vads", REPO / "sse_benchmark" / "demo-dev-vads",
                                     "--baseline", "mean", "--output", "OUT"], "OUT"),
                       "--html": (["--path_wavs", DEMO, "--path_vads", REPO / "sse_benchmark" / "demo-dev-vads",
                                   "--baseline", "mean", "--output", "NEW", "--html", "OUT.html"], "OUT.html")},
    "score_terms": {"--output": (["--classes", BENCHMARK, "--alignments", ALIGNMENTS, "--output", "OUT"], "OUT")},
    # A new corpus root: make_word_corpus.py refuses any folder that holds something, by its own
    # rule (sse/prep/word_corpus.py), without an --overwrite to replace it.
    "make_word_corpus": {"--output": (["--path_wavs", REPO / "tests" / "data" / "fsdd", "--output", "OUT"],
                                      "OUT/vads")},
}

#: Commands that write no file, or outputs the rule leaves alone, and why.
EXEMPT = {
    "pair_quality": "prints its report; writes nothing",
    # Resumable stores: a rerun continues them, and each checks its own stamp (frontend.json, the
    # stretched store's description, the mining manifest), refusing one made otherwise.
    "extract_features": "--output is a feature store: finished shards are kept, the others redone",
    "stretch_features": "--output is a store of stretched frames: finished versions are kept",
}


def _cases():
    for script, cases in CASES.items():
        for case, (arguments, existing) in cases.items():
            yield pytest.param(script, arguments, existing, id=f"{script} {case}")


def _substitute(arguments, folder: Path) -> list[str]:
    """The arguments with OUT, OUT.npy ... and NEW in ``folder``, and FOLDER the folder itself."""
    substituted = []
    for argument in arguments:
        stem = argument.split(".")[0] if isinstance(argument, str) else None
        if stem in ("OUT", "NEW", "FOLDER"):
            argument = str(folder if stem == "FOLDER" else folder / stem) + argument[len(stem):]
        substituted.append(str(argument))
    return substituted


def test_every_command_is_covered():
    scripts = {path.stem for path in (REPO / "utils").glob("*.py") if path.stem != "__init__"}
    assert set(CASES) | set(EXEMPT) == scripts >= set(COMMANDS.values())


@pytest.mark.parametrize(("script", "arguments", "existing"), _cases())
def test_an_existing_output_is_refused_and_left_as_it_was(script, arguments, existing, tmp_path):
    kept = tmp_path / existing
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"results of an earlier run\n")
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
    code, stdout, stderr = run_inprocess(f"{script}.py", *_substitute(arguments, tmp_path))
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    assert str(kept) in lines[0] or str(kept.parent) in lines[0], lines[0]
    if script != "make_word_corpus":
        assert "exists; give --overwrite to replace it" in lines[0], lines[0]
    assert kept.read_bytes() == b"results of an earlier run\n"
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")} == before  # nothing else written


def test_overwrite_replaces_and_a_shard_run_of_mining_writes_no_output(tmp_path):
    out = tmp_path / "segments"
    out.write_text("old\n")
    code, _, stderr = run_inprocess("make_segments.py", VADS, out, "--max_segments", "5", "--overwrite")
    assert code == 0, stderr
    assert len(out.read_text().splitlines()) == 5
    # A --shard run of mine_pairs.py embeds its piece into the work folder, not the pair list: an
    # existing list does not stop it (it stops here, later, on the feature store it is given).
    code, _, stderr = run_inprocess("mine_pairs.py", "--path_segments", BENCHMARK, "--features", tmp_path,
                                    "--path_sse", MODEL, "--output", out, "--nshards", "2", "--shard", "0")
    assert code == 2 and "--overwrite" not in stderr, stderr
    assert os.path.getsize(out) > 0
