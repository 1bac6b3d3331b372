"""Hooks of pytest-segpendo (registered through ``pytest_addhooks``): implement them in a ``conftest.py`` or a
plugin to adapt a conformance check to your system. ``segpendo.check()``, ``segpendo.verify()``,
``segpendo.expect()`` and ``segpendo.observed()`` apply them alike. See ``docs/pytest.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .verify import DiffReport, Matcher

hookspec = pytest.hookspec


@hookspec
def pytest_segpendo_adjust_expected(
    records: list[dict[str, Any]], profile: str, request: pytest.FixtureRequest
) -> None:
    """Change the expected records (the stream view) in place before they are compared: for example, add the
    records your system is known to send besides the mapping, or drop what it deliberately does not send."""


@hookspec
def pytest_segpendo_normalise_observed(
    records: list[dict[str, Any]], profile: str, request: pytest.FixtureRequest
) -> None:
    """Change the records the fake Pendo server received (the stream view; copies) in place before they are
    compared: for example, strip a field your system adds that the mapping cannot predict."""


@hookspec
def pytest_segpendo_add_matchers(matchers: list[Matcher], profile: str, request: pytest.FixtureRequest) -> None:
    """Append :class:`~pytest_segpendo.verify.Matcher` objects: field paths where two different values count
    as equal (a generated id, a rounded number)."""


@hookspec
def pytest_segpendo_report(report: DiffReport, nodeid: str, config: pytest.Config) -> None:
    """Receive every conformance report the ``segpendo`` fixture produces (pass or fail), in the process that
    ran the test."""
