"""What Pendo accepted and never processed (``dropped``), and what the test's injected faults explain: records lost
to a fault that stopped a request, and duplicates no correct client avoids (``retry-duplicate``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from pytest_segpendo.fakes import FakePendo
from pytest_segpendo.profiles import expect
from pytest_segpendo.verify import DiffOptions, Observed, compare, diff, observed_from

STREAM = DiffOptions(view="stream")
STATE = DiffOptions(view="state")
TRACK_SECRET = "t-secret"
HEADERS = {"x-pendo-integration-key": TRACK_SECRET}
NOW_MS = int(time.time() * 1000)


def track(event: str, vid: str, ts: int = NOW_MS, **props: Any) -> dict[str, Any]:
    return {
        "kind": "track",
        "event": event,
        "visitorId": vid,
        "accountId": None,
        "timestamp": ts,
        "properties": props,
        "context": {},
    }


def body(record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "track", **{k: v for k, v in record.items() if k != "kind"}}


def segment_track(user: str, event: str, ts_ms: int, message: str) -> dict[str, Any]:
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}Z"
    return {"type": "track", "userId": user, "event": event, "properties": {}, "messageId": message, "timestamp": iso}


# -- without a server -----------------------------------------------------------------------------------------------


def test_a_dropped_record_fails_with_its_rule_and_its_missing_record_says_why() -> None:
    old = track("Old Event", "u1", ts=1_600_000_000_000)
    dropped = [
        {
            "request": 4,
            "route": "track",
            "rule": "timestamp-too-old",
            "reason": "timestamp 1600000000000 is 2,000 days old: Pendo answers 200 and never processes the event",
            "source": "https://support.pendo.io/hc/en-us/articles/360032294291-Configure-Track-Events",
            "record": old,
        }
    ]
    report = diff([old, track("Fine", "u1")], [track("Fine", "u1")], STREAM, dropped=dropped)
    assert not report.conforms
    assert report.summary["dropped"] == report.summary["missing"] == 1
    [d] = report.of("dropped")
    assert (d.kind, d.rule, d.request) == ("track", "timestamp-too-old", 4)
    [m] = report.of("missing")
    assert m.cause == "dropped by Pendo at request #4 (rule timestamp-too-old)"
    text = report.format()
    lines = text.splitlines()
    assert lines[0].endswith("1 missing, 1 dropped; 1 of 2 expected records matched")
    assert lines[1:3] == [
        "  root causes (what explains the rest):",
        "    dropped by Pendo: rule timestamp-too-old: timestamp 1600000000000 is 2,000 days old: Pendo answers 200 "
        "and never processes the event (source: https://support.pendo.io/hc/en-us/articles/360032294291-Configure-"
        'Track-Events) (e.g. track "Old Event" (visitor "u1", at 2020-09-13T12:26:40.000Z) at request #4)',
    ]
    assert "      cause: dropped by Pendo at request #4 (rule timestamp-too-old)" in lines
    assert report.as_json()["summary"]["dropped"] == 1
    assert report.as_json()["differences"][1]["rule"] == "timestamp-too-old"


def test_records_lost_to_a_fault_are_missing_with_the_fault_as_cause() -> None:
    lost = track("Lost", "u1")
    injected = [
        {"request": 2, "route": "track", "kind": "status", "status": 503, "phase": "before", "processed": False,
         "records": [lost]},
        {"request": 5, "route": "track", "kind": "drop", "phase": "before", "processed": False,
         "records": [track("Gone", "u2")]},
        {"request": 7, "route": "track", "kind": "status", "status": 503, "phase": "before", "processed": False,
         "records": [track("Retried", "u3")]},
    ]  # fmt: skip
    expected = [lost, track("Gone", "u2"), track("Retried", "u3")]
    report = diff(expected, [track("Retried", "u3")], STREAM, injected=injected)
    causes = {d.expected["event"]: d.cause for d in report.of("missing") if d.expected}
    assert causes == {
        "Lost": "lost after Pendo answered 503 at request #2",
        "Gone": "lost after Pendo dropped the connection at request #5",
    }
    assert report.summary["missing"] == 2 and not report.conforms
    causes_text = [c.line() for c in report.root_causes()]
    assert causes_text == [
        "faults injected by the test x3: status 503 x2, connection dropped (e.g. request #2 (track))"
    ]
    assert "records" not in report.as_json()["injected"][0], "would-be records are the missing ones"


def test_a_copy_from_a_processed_request_is_a_retry_duplicate_the_systems_own_copies_still_fail() -> None:
    t = track("Invite Sent", "u1")
    injected = [{"request": 3, "route": "track", "kind": "slow", "delay_ms": 6000, "phase": "after", "processed": True}]
    observed = [{**t, "source": {"route": "track", "request": 3}}, {**t, "source": {"route": "track", "request": 4}}]
    report = diff([t], observed, STREAM, injected=injected)
    assert report.conforms, report.format()
    [d] = report.of("retry-duplicate")
    assert (d.count, d.cause) == (1, "duplicated after a late answer at request #3")
    assert report.summary["retry-duplicate"] == 1 and report.summary["duplicated"] == 0
    assert "  duplicated after a retry x1 (not failing:" in report.format()
    # the system sends it a third time on its own: that one fails
    third = [*observed, {**t, "source": {"route": "track", "request": 9}}]
    report = diff([t], third, STREAM, injected=injected)
    assert [(d.cls, d.count) for d in report.differences] == [("duplicated", 1), ("retry-duplicate", 1)]
    # an error answered after processing makes the retry unavoidable too; one before processing does not
    after = [{"request": 3, "route": "track", "kind": "status", "status": 503, "phase": "after", "processed": True}]
    assert diff([t], observed, STREAM, injected=after).of("retry-duplicate")[0].cause == (
        "duplicated after Pendo answered 503 having processed request #3"
    )
    before = [{"request": 3, "route": "track", "kind": "status", "status": 503, "phase": "before", "processed": False}]
    assert not diff([t], observed, STREAM, injected=before).conforms
    # without the records' source the diff cannot tell: strict
    plain = [{k: v for k, v in r.items() if k != "source"} for r in observed]
    assert not diff([t], plain, STREAM, injected=injected).conforms


def test_observed_from_an_old_fake_a_mapping_and_records() -> None:
    class OldFake:
        rejected: list[dict[str, Any]] = []

        def records(self) -> list[dict[str, Any]]:
            return [track("E", "u1")]

    old = observed_from(OldFake())
    assert (old.records, old.dropped, old.injected) == ([track("E", "u1")], [], [])
    seen = observed_from({"records": [], "dropped": [{"rule": "r"}], "injected": [{"kind": "drop"}]})
    assert (seen.dropped, seen.injected) == ([{"rule": "r"}], [{"kind": "drop"}])
    assert "1 dropped, 1 injected" in repr(seen)
    assert Observed([track("E", "u1")]).dropped == []


# -- with the fake Pendo server, over HTTP --------------------------------------------------------------------------


@pytest.fixture
def pendo() -> Any:
    with FakePendo(track_secret=TRACK_SECRET, integration_key="k") as fake:
        yield fake


def test_an_old_track_event_and_a_write_to_an_unknown_account_are_dropped(pendo: FakePendo) -> None:
    old_ms = NOW_MS - 30 * 86_400_000
    events = [segment_track("u1", "Old", old_ms, "m1"), segment_track("u1", "New", NOW_MS, "m2")]
    expectation = expect(events, "track-api")
    for record in expectation.stream:
        assert (
            requests.post(pendo.url + "/data/track", json=body(record), headers=HEADERS, timeout=5).status_code == 200
        )
    answer = requests.post(
        pendo.url + "/api/v1/metadata/account/custom/value",
        json=[{"accountId": "acme", "values": {"plan": "pro"}}],
        headers={"x-pendo-integration-key": "k"},
        timeout=5,
    )
    assert answer.status_code == 200
    report = compare(expectation, pendo)
    assert not report.conforms
    assert sorted(d.rule or "" for d in report.of("dropped")) == ["metadata-unknown-id", "timestamp-too-old"]
    [missing] = report.of("missing")
    assert missing.cause == "dropped by Pendo at request #1 (rule timestamp-too-old)"
    text = report.format()
    assert text.splitlines()[1] == "  root causes (what explains the rest):"
    assert "dropped by Pendo: rule timestamp-too-old:" in text and "dropped by Pendo: rule metadata-unknown-id:" in text
    # the same from the inspection JSON (what a RemotePendo reads)
    inspected = requests.get(pendo.url + "/__segpendo/records", timeout=5).json()
    assert compare(expectation, inspected).as_json()["summary"] == report.as_json()["summary"]


def _send_with_one_retry(url: str, record: dict[str, Any], timeout: float) -> None:
    """A client that retries once after a timeout or an error, as Segment's delivery would."""
    for _attempt in range(2):
        try:
            answer = requests.post(url + "/data/track", json=body(record), headers=HEADERS, timeout=timeout)
        except requests.RequestException:
            continue
        if answer.status_code == 200:
            return
    return


def _settle(pendo: FakePendo, deadline_s: float = 5.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and pendo.activity()[1]:
        time.sleep(0.02)


def test_a_retry_after_a_late_answer_does_not_fail_and_a_lost_request_does(pendo: FakePendo) -> None:
    events = [segment_track("u1", "Slow", NOW_MS, "m1"), segment_track("u2", "Lost", NOW_MS + 1, "m2")]
    expectation = expect(events, "track-api")
    slow, lost = expectation.stream
    pendo.faults.add(route="track", delay_ms=600, phase="after", nth=1)
    _send_with_one_retry(pendo.url, slow, timeout=0.2)  # times out, then retried: Pendo has it twice
    _settle(pendo)
    pendo.faults.add(route="track", status=503)  # the next track request (#3): not processed
    requests.post(pendo.url + "/data/track", json=body(lost), headers=HEADERS, timeout=5)  # and not retried
    report = compare(expectation, pendo)
    assert [(d.cls, d.label.split(" (")[0]) for d in report.differences] == [
        ("missing", 'track "Lost"'),
        ("retry-duplicate", 'track "Slow"'),
    ]
    assert report.of("missing")[0].cause == "lost after Pendo answered 503 at request #3"
    assert report.of("retry-duplicate")[0].cause == "duplicated after a late answer at request #1"
    assert "faults injected by the test x2: " in report.format()


def account(id: str, **metadata: Any) -> dict[str, Any]:
    return {"kind": "account", "id": id, "metadata": metadata, "parentAccountId": None}


def test_a_write_pendo_processed_late_may_land_after_newer_ones() -> None:
    expected = [account("acme", plan="pro", seats=3), account("acme", plan="enterprise")]
    writers = ["userId:u1", "userId:u1"]
    slow = [{"request": 1, "route": "metadata", "kind": "slow", "delay_ms": 800, "phase": "before", "processed": True}]
    arrived = [  # the retry (#2), the next write (#3), then the first request, processed late
        {**account("acme", plan="pro", seats=3), "source": {"route": "metadata", "request": 2}},
        {**account("acme", plan="enterprise"), "source": {"route": "metadata", "request": 3}},
        {**account("acme", plan="pro", seats=3), "source": {"route": "metadata", "request": 1}},
    ]
    report = diff(expected, arrived, STATE, writers=writers, injected=slow)
    assert report.conforms, report.format()
    [d] = report.of("order-dependent")
    assert d.cause is not None and d.cause.startswith("metadata.plan was written again by request #1, which Pendo")
    assert "(request #1, processed late)" in report.format()
    # without the fault, the same arrival is a difference; so is a value no expected write has
    assert not diff(expected, arrived, STATE, writers=writers).conforms
    wrong = [*arrived[:2], {**account("acme", plan="free", seats=3), "source": {"route": "metadata", "request": 1}}]
    assert not diff(expected, wrong, STATE, writers=writers, injected=slow).conforms
    # a fault after processing does not delay it: no excuse
    after = [{**slow[0], "phase": "after"}]
    assert not diff(expected, arrived, STATE, writers=writers, injected=after).conforms
