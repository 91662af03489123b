"""Every docstring example in turngym.trainers.advantages runs and gives what it shows;
every estimator documents its formula, its paper and a worked example."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import turngym.trainers.advantages as advantages
from turngym.trainers.advantages import get_estimator, list_estimators

MODULES = sorted(
    f"{advantages.__name__}.{info.name}" for info in pkgutil.iter_modules(advantages.__path__)
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.parametrize("name", list_estimators())
def test_each_estimator_documents_formula_paper_and_example(name):
    doc = get_estimator(name).__doc__ or ""
    assert ">>>" in doc, f"{name}: no worked example"
    assert "A = " in doc or "A_{i,t}" in doc or "A_i" in doc, f"{name}: no formula"
    if name != "combine":
        assert "arXiv:" in doc, f"{name}: no paper reference"
    tests = doctest.DocTestFinder().find(get_estimator(name))
    assert sum(len(t.examples) for t in tests) >= 2


def test_empg_and_combine_have_examples():
    for fn in (advantages.empg, advantages.combine, advantages.TurnBatch):
        assert ">>>" in (fn.__doc__ or "")
