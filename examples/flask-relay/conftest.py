"""The Flask relay under test, started on the plugin's fake Pendo server with the keys the plugin's fakes
require, and the table of the bug bank printed at the end of the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask_relay_bugs import running


@pytest.fixture
def flask_relay(segpendo: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """The system under test: the Flask relay, sending to the fake Pendo server with the session's keys. With
    ``indirect`` parametrisation, the parameter is the tuple of bugs to plant."""
    bugs = getattr(request, "param", ())
    with running(segpendo.pendo.url, segpendo.keys.track_secret, segpendo.keys.integration_key, bugs) as url:
        yield url


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The bank's table: each bug, whether the default fixture check and the default CLI check caught it."""
    found: dict[str, dict[str, Any]] = {}
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            for name, value in getattr(report, "user_properties", []):
                if name == "flask-bug":
                    row = json.loads(value)
                    found.setdefault(row["bug"], {"needs": row["needs"]})[row["by"]] = row["caught"]
    if not found:
        return
    tr = terminalreporter
    tr.write_sep("-", "flask relay bug bank: caught by the default check?")
    tr.write_line(f"{'bug':28} {'fixture':8} {'cli':8} needs")
    for bug, row in found.items():
        cells = [{True: "yes", False: "NO"}.get(row.get(by), "-") for by in ("fixture", "cli")]
        tr.write_line(f"{bug:28} {cells[0]:8} {cells[1]:8} {row['needs']}")
