"""The examples in the package's docstrings run: each module's doctests pass (they are documentation a user
reads in their editor, so they must stay true)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import pytest_segpendo

# Modules that only run something when executed (``python -m ...``), or that exist for old import paths.
SKIP = {"pytest_segpendo.__main__", "pytest_segpendo.relay.__main__", "pytest_segpendo._compat"}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(pytest_segpendo.__path__, "pytest_segpendo."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_package_has_doctests() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        counted = sum(len(doctest.DocTestFinder().find(importlib.import_module(m))) for m in MODULES)
    assert counted >= 10, "docstring examples were lost"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module) if t.examples]
    if not tests:
        return
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} docstring examples of {name} failed"
