"""Fixtures for the relay's conformance tests, and the mutation table printed at the end of the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_segpendo.relay import Relay

WEBHOOK_SECRET = "segment-shared-secret"


@pytest.fixture
def relay(segpendo: Any, request: pytest.FixtureRequest) -> Iterator[Relay]:
    """The system under test, pointed at the fake Pendo server. Replace this with your own relay: start it
    with ``segpendo.pendo.url`` as its Pendo base URL and the keys the fake requires (``segpendo.keys``: the
    Track Event shared secret and an integration key, made up for the session), and yield the URL Segment
    posts to."""
    bugs = getattr(request, "param", ())
    keys = segpendo.keys
    with Relay(
        segpendo.pendo.url,
        track_secret=keys.track_secret,
        integration_key=keys.integration_key,
        secret=WEBHOOK_SECRET,
        bugs=bugs,
    ) as running:
        yield running
        running.raise_errors()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The mutant table: what each test of test_mutations.py recorded as its ``mutant`` property."""
    mutants: dict[str, dict[str, Any]] = {}
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "mutant" and getattr(report, "when", "call") == "call":
                    found = json.loads(value)
                    mutants[found["bug"]] = found
    if not mutants:
        return
    tr = terminalreporter
    tr.write_sep("-", "relay mutants")
    for bug, found in sorted(mutants.items()):
        tr.write_line(f"{'killed' if found['killed'] else 'SURVIVED':8} {bug:28} {found['evidence']}")
    killed = sum(1 for m in mutants.values() if m["killed"])
    tr.write_line(f"kill rate: {killed}/{len(mutants)} ({100 * killed / len(mutants):.0f}%)")
