"""What `pip install` ships: the method, data preparation and the CLIs, not the demo generator."""
import subprocess
import sys

from tests.helpers import REPO

DEMO_ONLY = ("pocketsphinx", "espeak", "flite", "festival")


def test_the_installed_package_holds_no_synthesiser_tooling(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)], cwd=REPO,
                   check=True, capture_output=True)
    shipped = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.py"))
    assert "sse/prep/vad.py" in shipped and "sse/plugin/tasks.py" in shipped and "sse_utils/vad.py" in shipped
    library = {path.relative_to(REPO).as_posix() for path in (REPO / "sse").rglob("*.py")}
    assert library <= set(shipped)  # every subpackage, every module
    assert not [name for name in shipped if "demo" in name or "forced_alignment" in name]
    mentions = [name for name in shipped
                if any(tool in (tmp_path / name).read_text(encoding="utf-8") for tool in DEMO_ONLY)]
    assert mentions == []
