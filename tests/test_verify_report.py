"""The report reads root causes first and stays short; its JSON holds every difference; compare's keyword
overrides apply on top of the options; importing the verify package does not import DeepDiff."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from pytest_segpendo.profiles import expect
from pytest_segpendo.verify import Cause, DiffOptions, Matcher, compare, diff


def track(event: str, vid: str, ts: int = 1_767_600_000_000, **props: Any) -> dict[str, Any]:
    return {
        "kind": "track",
        "event": event,
        "visitorId": vid,
        "accountId": None,
        "timestamp": ts,
        "properties": props,
        "context": {},
    }


def visitor(id: str, **metadata: Any) -> dict[str, Any]:
    return {"kind": "visitor", "id": id, "metadata": metadata}


STREAM = DiffOptions(view="stream")

# -- compare: keyword overrides beside options --------------------------------------------------------------------


def test_compare_applies_keyword_overrides_on_top_of_the_options() -> None:
    expected = [track("E", "u1", ts=1_000, n=1)]
    observed = [{**track("E", "u1", ts=1_400, n=1), "context": {"ip": "203.0.113.9"}}]
    options = DiffOptions(view="stream", ignore_paths=("track.context",), limit=3)
    assert not compare(expected, observed, options).conforms  # 400 ms apart
    report = compare(expected, observed, options, timestamp_tolerance_ms=500, limit=1)
    assert report.conforms, report.format()
    assert report.limit == 1 and report.view == "stream"
    # tuples extend what the options hold: track.context stays ignored
    with_more = compare(expected, observed, options, timestamp_tolerance_ms=500, ignore_paths=("track.properties.n",))
    assert with_more.conforms
    # a matcher given beside options is used, and so are the options' own
    bumped = [{**observed[0], "properties": {"n": 2}}]
    close = Matcher("track.properties.n", lambda e, a: abs(e - a) <= 1)
    assert compare(expected, bumped, options, timestamp_tolerance_ms=500, matchers=[close]).conforms
    assert not compare(expected, bumped, options, timestamp_tolerance_ms=500).conforms
    # and a view given beside options changes the view
    assert compare(expected, observed, DiffOptions(view="state"), view="stream").view == "stream"


def test_compare_overrides_on_an_expectation_with_options_too() -> None:
    events = [
        {"type": "track", "userId": "u1", "event": "E", "messageId": "m1", "timestamp": "2026-01-05T09:00:00.000Z"}
    ]
    expectation = expect(events, "track-api")
    late = [{**expectation.stream[0], "timestamp": expectation.stream[0]["timestamp"] + 900}]
    assert not compare(expectation, late, DiffOptions(view="stream")).conforms
    assert compare(expectation, late, DiffOptions(view="stream"), timestamp_tolerance_ms=1000).conforms
    assert compare(expectation, late, timestamp_tolerance_ms=1000).conforms  # on top of the hints, as before


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="unknown diff option 'tolerance'"):
        compare([], [], DiffOptions(), tolerance=5)
    assert DiffOptions(ignore_paths=("track.context",)).with_overrides(ignore_paths="*.metadata.x").ignore_paths == (
        "track.context",
        "*.metadata.x",
    )


# -- DeepDiff is imported only when a pair of records differs -------------------------------------------------------


def test_importing_verify_does_not_import_deepdiff() -> None:
    code = (
        "import sys, pytest_segpendo.verify as v\n"
        "assert 'deepdiff' not in sys.modules, 'imported at start'\n"
        "r = v.diff([{'kind': 'visitor', 'id': 'u', 'metadata': {}}], "
        "[{'kind': 'visitor', 'id': 'u', 'metadata': {}}])\n"
        "assert r.conforms and 'deepdiff' not in sys.modules, 'imported for equal records'\n"
        "r = v.diff([{'kind': 'visitor', 'id': 'u', 'metadata': {'a': 1}}], "
        "[{'kind': 'visitor', 'id': 'u', 'metadata': {'a': 2}}])\n"
        "assert 'deepdiff' in sys.modules and r.of('changed')[0].fields[0].where == 'metadata.a'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# -- root causes first ----------------------------------------------------------------------------------------------


def _many_failures(n_tracks: int, every: int = 3) -> Any:
    """A big failure with every kind of cause: refusals, drops, faults, a delivery cause, and changed tracks (one
    in ``every``), the last 50 missing."""
    expected = [track("View", f"u{i % 500}", ts=1_767_600_000_000 + i, n=i) for i in range(n_tracks)]
    observed = [{**r, "accountId": "wrong"} if i % every == 0 else r for i, r in enumerate(expected[: n_tracks - 50])]
    rejected = [
        {"request": i, "method": "POST", "path": "/data/track", "status": 400, "reason": f"reason {i % 7}"}
        for i in range(300)
    ]
    dropped = [
        {
            "request": 1000 + i,
            "route": "track",
            "rule": "timestamp-too-old",
            "reason": f"timestamp {1767603600 + i} is {20437 + i:,}.9 days old",  # the numbers vary: one group
            "source": "https://support.pendo.io/x",
            "record": expected[n_tracks - 50 + i],
        }
        for i in range(20)
    ]
    injected = [
        {"request": 2000 + i, "route": "track", "kind": "status", "status": 503, "processed": False, "records": []}
        for i in range(4)
    ] + [{"request": 3000, "route": "track", "kind": "slow", "delay_ms": 900, "processed": True}]
    report = diff(expected, observed, STREAM, rejected=rejected, dropped=dropped, injected=injected)
    report.add_cause("delivery", "the system under test did not acknowledge them: HTTP 500", 12, "event 4 (m-4)")
    return report


def test_the_report_opens_with_root_causes_then_fields_then_records() -> None:
    report = _many_failures(3000)
    lines = report.format(limit=3).splitlines()
    assert lines[0].startswith(
        "segpendo: Pendo did not get what was expected (stream view): 50 missing, 984 changed, 300 rejected, "
        "20 dropped; 1,966 of 3,000 expected records matched"
    )
    assert lines[1] == "  root causes (what explains the rest):"
    causes = lines[2 : lines.index("  fields that differ most:")]
    assert [c.split(":")[0].split(" x")[0].strip() for c in causes] == [
        *["rejected"] * 5,
        "rejected",  # "... and N more, for other reasons"
        "dropped by Pendo",
        "faults injected by the test",
        "delivery",
    ]
    assert causes[0].startswith("    rejected x43: HTTP 400: reason 0 (e.g. request POST /data/track)")
    assert causes[5] == "    rejected: ... and 85 more, for other reasons (the JSON report lists them all)"
    assert causes[6].startswith(
        "    dropped by Pendo x20: rule timestamp-too-old: timestamp 1767603600 is 20,437.9 days old (and 19 more like "
        "it) (source: https://"
    )
    assert causes[7] == (
        "    faults injected by the test x5: status 503 x4, slow answer (900 ms) (e.g. request #2000 (track))"
    )
    assert causes[8] == (
        "    delivery x12: the system under test did not acknowledge them: HTTP 500 (e.g. event 4 (m-4))"
    )
    fields_at = lines.index("  fields that differ most:")
    assert lines[fields_at + 1].startswith("    track accountId: 984 records")
    assert lines[fields_at + 2].startswith("  missing track")
    assert lines[-1].startswith("summary: missing 50 (track 50); unexpected 0; changed 984 (track 984);")


@pytest.mark.slow
def test_a_failure_of_ten_to_the_five_records_reads_in_a_few_dozen_lines() -> None:
    report = _many_failures(100_000, every=50)
    text = report.format()
    assert len(text.splitlines()) <= 60
    assert max(len(line) for line in text.splitlines()) <= 400


def test_the_json_report_holds_every_difference_and_the_causes() -> None:
    report = _many_failures(3000)
    data = json.loads(json.dumps(report.as_json()))
    assert len(data["differences"]) == len(report.differences) == 50 + 984 + 300 + 20
    assert data["summary"]["rejected"] == 300 and data["summary"]["dropped"] == 20
    assert [c["what"] for c in data["causes"]][-3:] == ["dropped by Pendo", "faults injected by the test", "delivery"]
    assert sum(c["count"] for c in data["causes"] if c["what"] == "rejected") == 300
    assert len(data["injected"]) == 5
    assert len(report.as_json(limit=10)["differences"]) == 10, "a caller that asks gets fewer"


def test_a_report_without_causes_keeps_its_shape() -> None:
    report = diff([visitor("u1", plan="pro"), visitor("u2", plan="pro")], [visitor("u1"), visitor("u2")])
    lines = report.format().splitlines()
    assert lines[1] == "  fields that differ most:"
    assert report.root_causes() == []
    assert lines[-1] == (
        "summary: missing 0; unexpected 0; changed 2 (visitor 2); duplicated 0; rejected 0; ignored 0; warnings 0"
    )


def test_a_cause_added_by_a_caller_shows_even_when_the_records_conform() -> None:
    report = diff([visitor("u1")], [visitor("u1")])
    cause = report.add_cause("delivery", "3 events retried after HTTP 503, all acknowledged", 3)
    assert isinstance(cause, Cause) and report.conforms
    assert report.format().splitlines()[1:3] == [
        "  on the way (faults and causes the system coped with):",
        "    delivery x3: 3 events retried after HTTP 503, all acknowledged",
    ]


def test_a_difference_cause_can_be_extended_by_a_caller() -> None:
    injected = [
        {"request": 2, "route": "track", "kind": "status", "status": 503, "processed": False,
         "records": [track("Lost", "u1")]},
    ]  # fmt: skip
    report = diff([track("Lost", "u1")], [], STREAM, injected=injected)
    [missing] = report.of("missing")
    missing.cause = f"{missing.cause}, although Segment's delivery was acknowledged"
    assert (
        "      cause: lost after Pendo answered 503 at request #2, although Segment's delivery was acknowledged"
        in report.format()
    )
    assert report.as_json()["differences"][0]["cause"].endswith("although Segment's delivery was acknowledged")


def test_junit_properties_name_every_class() -> None:
    props = dict(_many_failures(600).junit_properties())
    assert props["segpendo_dropped"] == "20" and props["segpendo_order_dependent"] == "0"
    assert props["segpendo_conforms"] == "false"


def test_a_long_string_value_is_cut_inside_its_quotes() -> None:
    long_id = "tenant:us-east-1:" + "b" * 200
    report = diff([track("E", "u1", ts=1, account=long_id)], [track("E", "u1", ts=1, account=None)], STREAM)
    line = next(x for x in report.format().splitlines() if x.startswith("      properties.account:"))
    assert line.startswith('      properties.account: expected "tenant:us-east-1:bbb') and '..." got null' in (
        line.replace(",", "")
    )
