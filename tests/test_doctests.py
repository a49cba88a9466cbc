"""The examples in the public API's docstrings run, from the repository root, as written."""
import doctest

import pytest

import sse.api
import sse.evaluation.metrics
import sse.frames.formats
from tests.helpers import REPO


@pytest.mark.parametrize("module", [sse.api, sse.frames.formats, sse.evaluation.metrics], ids=lambda module: module.__name__)
def test_docstring_examples(module, monkeypatch):
    monkeypatch.chdir(REPO)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted >= 2, f"{module.__name__} lost its examples"
    assert result.failed == 0
