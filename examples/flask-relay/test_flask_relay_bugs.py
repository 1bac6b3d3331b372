"""The Flask relay's bug bank against the DEFAULT checks: each bug must fail ``segpendo.check(url)`` (the
fixture, given only the relay's URL; the relay has the fixture's keys) and ``segpendo check --sut URL --via
webhook`` (the command line, given the port and keys the relay sends with), and the first lines of the report
must name what the bug breaks.

"The first lines": the first :data:`FIRST_LINES` lines of the failure message (the fixture), or of what the
command prints (the CLI: the delivery line, then the report). A reader sees them without scrolling.

``Bug.needs`` says which default of the check each bug takes: hazardous traffic, the keys the fakes require, or
the check's bad days (Pendo's faults and Segment's re-deliveries, on by default). The run ends with the bank's
table (``conftest.py``).
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import pytest
from flask_relay_bugs import BANK, Bug, running

from pytest_segpendo import cli

FIRST_LINES = 15
REQUIRED = ("ids-trimmed", "nested-properties-flattened", "acks-then-drops", "swapped-keys")

pytestmark = pytest.mark.slow  # 32 default checks of 200 events: about a minute


def first_lines(text: str) -> str:
    return "\n".join(text.splitlines()[:FIRST_LINES])


def record(record_property: Any, bug: Bug, by: str, caught: bool) -> None:
    row = {"bug": bug.name, "by": by, "caught": caught, "needs": bug.needs}
    record_property("flask-bug", json.dumps(row))


def test_the_bank() -> None:
    assert set(REQUIRED) <= set(BANK) and len(BANK) >= 14
    assert len({bug.description for bug in BANK.values()}) == len(BANK)
    for bug in BANK.values():
        re.compile(bug.names)


@pytest.mark.parametrize("flask_relay", [(name,) for name in BANK], ids=list(BANK), indirect=True)
def test_the_default_fixture_check_names_the_bug(segpendo: Any, flask_relay: str, record_property: Any) -> None:
    bug = BANK[segpendo.request.node.callspec.id]
    try:
        segpendo.check(flask_relay)
    except pytest.fail.Exception as failed:
        message = str(failed.msg)
    else:
        record(record_property, bug, "fixture", False)
        pytest.fail(f"{bug.name} survived the default check (it needs: {bug.needs})", pytrace=False)
    named = re.search(bug.names, first_lines(message)) is not None
    record(record_property, bug, "fixture", named)
    assert named, f"{bug.name}: the first {FIRST_LINES} lines do not match {bug.names!r}:\n{first_lines(message)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("name", list(BANK))
def test_the_default_cli_check_names_the_bug(
    name: str, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    bug = BANK[name]
    port = free_port()
    with running(f"http://127.0.0.1:{port}", "track-secret", "integration-key", (name,)) as url:
        code = cli.main(
            ["check", "--sut", url, "--via", "webhook", "--pendo-port", str(port)]
            + ["--track-secret", "track-secret", "--integration-key", "integration-key"]
        )
    out = capsys.readouterr().out
    named = code == 1 and re.search(bug.names, first_lines(out)) is not None
    record(record_property, bug, "cli", named)
    assert code == 1, f"{name} survived the default CLI check (exit {code}; it needs: {bug.needs}):\n{first_lines(out)}"
    assert named, f"{name}: the first {FIRST_LINES} lines do not match {bug.names!r}:\n{first_lines(out)}"


# -- the two bugs the bad days catch, caught on a harder day too ---------------------------------------------------


@pytest.mark.parametrize("flask_relay", [("acks-then-drops",)], indirect=True)
def test_acks_then_drops_is_caught_when_pendo_fails_now_and_then(segpendo: Any, flask_relay: str) -> None:
    segpendo.pendo.faults.add(route="*", status=503, probability=0.1, seed=1)
    report = segpendo.verify(sut=flask_relay)
    assert segpendo.delivery is not None and segpendo.delivery.ok, "Segment got its 200 for every event"
    assert report.of("missing"), report.format()


@pytest.mark.parametrize("flask_relay", [("no-idempotency",)], indirect=True)
def test_no_idempotency_is_caught_when_segment_delivers_again(segpendo: Any, flask_relay: str) -> None:
    report = segpendo.verify(sut=flask_relay, redeliver=0.3, redeliver_seed=1)
    assert report.of("duplicated"), report.format()
