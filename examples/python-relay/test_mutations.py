"""Mutation proof: each of the relay's 16 bugs (``pytest_segpendo.relay.BUGS``), a mistake relay authors make,
must be caught by the conformance check, by a difference that names the field the bug breaks. The run ends
with the table of mutants and the kill rate (``conftest.py``).

This is how to check that your own relay's tests would catch your own likely mistakes: plant them one at a
time, and require a red run that says what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from pytest_segpendo.delivery import deliver
from pytest_segpendo.relay import BUGS
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import ABSENT, DiffReport

# The fake Pendo server requires the keys the relay fixture (conftest.py) starts the relay with.
RELAY_KEYS = {"track_secret": "pendo-track-secret", "integration_key": "pendo-integration-key"}
pytestmark = pytest.mark.segpendo(keys=RELAY_KEYS)

# Generated traffic reaching the edge cases (unicode, nested traits, numeric ids, parent accounts...); three
# events with ids of digits and leading zeros, which a relay can break by sending them as numbers; and an
# identify without traits, which a relay can turn into an empty metadata write.
TRAFFIC = generate(400, seed=1, mix={"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1}) + [
    {
        "type": "identify",
        "userId": "007",
        "anonymousId": "anon-007",
        "traits": {"name": "Bond"},
        "messageId": "digits-1",
        "timestamp": "2026-01-05T09:00:00.000Z",
        "receivedAt": "2026-01-05T09:00:00.250Z",
    },
    {
        "type": "group",
        "userId": "007",
        "groupId": "0042",
        "traits": {"name": "Leading Zeros Ltd"},
        "messageId": "digits-2",
        "timestamp": "2026-01-05T09:00:01.000Z",
        "receivedAt": "2026-01-05T09:00:01.250Z",
    },
    {
        "type": "track",
        "userId": "007",
        "event": "Mission Accepted",
        "properties": {},
        "context": {"groupId": "0042"},
        "messageId": "digits-3",
        "timestamp": "2026-01-05T09:00:02.000Z",
        "receivedAt": "2026-01-05T09:00:02.250Z",
    },
    {
        "type": "identify",
        "userId": "no-traits-user",
        "anonymousId": "anon-no-traits",
        "messageId": "no-traits-1",
        "timestamp": "2026-01-05T09:00:03.000Z",
        "receivedAt": "2026-01-05T09:00:03.250Z",
    },
]
# Sent before the check's traffic, so dated now: Pendo processes it (an old one it would drop unseen).
FORGED = [
    {
        "type": "track",
        "userId": "mallory",
        "event": "Forged Event",
        "properties": {},
        "messageId": "forged-1",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
]


Field = tuple[str, str, Any, Any, str]  # kind, path, expected, actual, the line the report shows


def fields(report: DiffReport, cls: str = "changed") -> list[Field]:
    """Every field difference of class ``cls``, with the report's line for it."""
    return [
        (d.kind, f.where, f.expected, f.actual, f"{f.where}: expected {f.expected!r}, got {f.actual!r} in {d.label}")
        for d in report.of(cls)
        for f in d.fields
    ]


def field_where(test: Callable[[str, str, Any, Any], bool]) -> Callable[[DiffReport], str | None]:
    """A check that finds a changed field: returns the report's words for it, or None."""
    return lambda report: next((line for k, p, e, a, line in fields(report) if test(k, p, e, a)), None)


def record_where(cls: str, test: Callable[[Any], bool]) -> Callable[[DiffReport], str | None]:
    """A check that finds a missing/unexpected/duplicated record: returns its line, or None."""
    return lambda report: next((d.lines()[0] for d in report.of(cls) if test(d)), None)


def dropped_where(test: Callable[[Any], bool]) -> Callable[[DiffReport], str | None]:
    """A check that finds what Pendo accepted and never processed: returns its line, or None."""
    return lambda report: next((d.lines()[0] for d in report.of("dropped") if test(d)), None)


def either(*checks: Callable[[DiffReport], str | None]) -> Callable[[DiffReport], str | None]:
    return lambda report: next((found for check in checks if (found := check(report)) is not None), None)


def non_ascii(value: Any) -> bool:
    return isinstance(value, str) and any(ord(c) > 127 for c in value)


def flattened(report: DiffReport) -> str | None:
    lost = field_where(lambda k, p, e, a: p.startswith("metadata") and isinstance(e, dict) and a is ABSENT)(report)
    added = field_where(lambda k, p, e, a: e is ABSENT and "." in p.removeprefix("metadata"))(report)
    return f"{lost} / {added}" if lost and added else None


# bug -> what the report must say, as a check returning the difference that says it (None: the mutant survived)
NAMED_BY: dict[str, Callable[[DiffReport], str | None]] = {
    "non-string-traits-dropped": field_where(
        lambda k, p, e, a: p.startswith("metadata.") and a is ABSENT and not isinstance(e, str)
    ),
    "anonymous-id-first": field_where(lambda k, p, e, a: p in ("id", "visitorId")),
    "seconds-timestamps": either(  # changed, or (under Pendo's 7-day rule) dropped for its 1970 timestamp
        field_where(lambda k, p, e, a: p == "timestamp" and e // 1000 == a),
        dropped_where(lambda d: d.kind == "track" and "timestamp" in (d.reason or "")),
    ),
    "account-lost": field_where(lambda k, p, e, a: k == "track" and p == "accountId" and a is None),
    "event-name-case": field_where(lambda k, p, e, a: p == "event" and a == e.lower() != e),
    "numeric-ids-as-numbers": field_where(
        lambda k, p, e, a: p in ("id", "visitorId", "accountId") and (e, a) in (("007", "7"), ("0042", "42"))
    ),
    "double-send": record_where("duplicated", lambda d: d.kind == "track"),
    "unsigned-accepted": record_where("unexpected", lambda d: d.label.startswith('track "Forged Event"')),
    "parent-account-dropped": field_where(
        lambda k, p, e, a: k == "account" and p == "metadata.parentAccount" and a is ABSENT
    ),
    "nested-traits-flattened": flattened,
    "non-ascii-mangled": field_where(lambda k, p, e, a: non_ascii(e) and isinstance(a, str) and "?" in a),
    "batch-truncated": record_where("missing", lambda d: True),
    "properties-dropped": field_where(
        lambda k, p, e, a: k == "track" and p.startswith("properties") and a in (ABSENT, {})
    ),
    "group-traits-to-visitor": record_where("missing", lambda d: d.kind == "account"),
    "received-at-timestamps": field_where(
        lambda k, p, e, a: p == "timestamp" and isinstance(a, int) and 0 < a - e < 60_000
    ),
    "empty-traits-sent": record_where(
        "unexpected", lambda d: d.kind in ("visitor", "account") and d.observed and d.observed["metadata"] == {}
    ),
}


def test_the_bank_covers_every_bug_of_the_relay() -> None:
    assert set(NAMED_BY) == set(BUGS) and len(BUGS) >= 12


def test_the_correct_relay_passes_the_same_checks(segpendo, relay) -> None:
    forged = deliver(FORGED, relay.url, "webhook", secret="not-the-secret", max_attempts=1)
    assert forged.failed == 1
    segpendo.check(relay.url, events=TRAFFIC, via="webhook-actions", batch_size=5, secret=relay.secret)


@pytest.mark.parametrize("relay", [(bug,) for bug in BUGS], ids=list(BUGS), indirect=True)
def test_each_mutant_is_caught_by_the_field_it_breaks(segpendo, relay, record_property) -> None:
    [bug] = relay.bugs
    deliver(
        FORGED, relay.url, "webhook", secret="not-the-secret", max_attempts=1
    )  # forwarded only by a relay that does not check
    report = segpendo.verify(sut=relay.url, events=TRAFFIC, via="webhook-actions", batch_size=5, secret=relay.secret)
    evidence = NAMED_BY[bug](report)
    killed = not report.conforms and evidence is not None
    record_property(
        "mutant",
        json.dumps({"bug": bug, "killed": killed, "evidence": (evidence or "no difference names the field")[:110]}),
    )
    assert killed, f"mutant {bug} survived: no difference names the field it breaks\n{report.format(limit=5)}"
