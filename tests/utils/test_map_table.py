"""The bar chart of utils/map_table.py (the recipes' map.png, pretrained/demo_map.png)."""
import importlib.util
from types import SimpleNamespace

from tests.helpers import REPO

_spec = importlib.util.spec_from_file_location("map_table", REPO / "utils" / "map_table.py")
map_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(map_table)


def test_the_bar_chart_has_a_key_for_its_grey_and_blue_bars(tmp_path):
    rows = [("mean mfcc frames", 0.1288), ("untrained encoder", 0.2436), ("stage 1 (augmentation)", 0.2463)]
    map_table.plot([(name, SimpleNamespace(map=value)) for name, value in rows], tmp_path / "map.svg", "MAP")
    drawing = (tmp_path / "map.svg").read_text()
    (reference, grey), (trained, blue) = map_table.KEY
    assert f"<!-- {reference} -->" in drawing and f"<!-- {trained} -->" in drawing  # the legend's labels
    assert drawing.count(f"fill: {grey}") >= 3 and drawing.count(f"fill: {blue}") >= 2  # bars + key patches
    map_table.plot([(name, SimpleNamespace(map=value)) for name, value in rows[2:]], tmp_path / "trained.svg", "")
    assert f"<!-- {reference} -->" not in (tmp_path / "trained.svg").read_text()  # only the colours drawn
