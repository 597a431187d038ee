"""The public measures' Examples sections run as doctests (the fast tier)."""

import doctest
import importlib

import pytest

MODULES = ["homology", "dtm", "classwise", "intrinsic", "phdim", "cka", "rtd"]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_run(name):
    module = importlib.import_module(f"reptopo.measures.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"reptopo.measures.{name} has no Examples to run"
    assert result.failed == 0
