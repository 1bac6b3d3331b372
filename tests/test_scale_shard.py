"""The sharded diff gives the report the in-memory diff gives: same classes, fields, causes, order and counts, for
random records with planted bugs of every kind, any number of shards, every view and option that changes how
records are keyed, and the fake's refusals, drops and faults."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_segpendo.profiles import get_profile
from pytest_segpendo.scale import diff_sharded
from pytest_segpendo.scale.partition import identity_stripped
from pytest_segpendo.verify import DiffOptions, DiffReport, Matcher, diff

VISITORS = ["u1", "u2", "u3", "_PENDO_T_*", "_PENDO_T_x9", 7]
ACCOUNTS = ["a1", "a2", "p1::a3", None]
EVENTS = ["Signed Up", "Clicked", "Paid"]
LANES = ["userId:u1", "userId:u2", "anonymousId:x", ""]


def snapshot(report: DiffReport) -> dict[str, Any]:
    """Everything a report says, each difference in full and in order."""
    return {
        "json": report.as_json(),
        "text": report.format(limit=1000),
        "counts": (report.view, report.expected_records, report.observed_records, report.matched),
        "differences": [
            (
                d.cls,
                d.kind,
                d.label,
                d.expected,
                d.observed,
                [(f.path, repr(f.expected), repr(f.actual)) for f in d.fields],
                d.reason,
                d.count,
                d.sort_key,
                d.cause,
                d.rule,
                d.source,
                d.request,
                d.writers,
            )
            for d in report.differences
        ],
    }


metadata = st.dictionaries(
    st.sampled_from(["plan", "seats", "name", "language"]),
    st.one_of(st.sampled_from(["pro", "free", "x"]), st.integers(0, 3), st.none()),
    max_size=3,
)
properties = st.dictionaries(st.sampled_from(["sku", "n", "ok"]), st.integers(0, 2), max_size=2)


@st.composite
def record(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["visitor", "account", "parentAccount", "track", "track", "track"]))
    if kind == "track":
        return {
            "kind": "track",
            "event": draw(st.sampled_from(EVENTS)),
            "visitorId": draw(st.sampled_from(VISITORS)),
            "accountId": draw(st.sampled_from(ACCOUNTS)),
            "timestamp": draw(st.one_of(st.none(), st.integers(1_000, 1_006))),
            "properties": draw(properties),
            "context": draw(st.sampled_from([{}, {"ip": "1"}])),
        }
    if kind == "visitor":
        return {"kind": "visitor", "id": draw(st.sampled_from(VISITORS)), "metadata": draw(metadata)}
    if kind == "account":
        return {
            "kind": "account",
            "id": draw(st.sampled_from(ACCOUNTS[:3])),
            "metadata": draw(metadata),
            "parentAccountId": draw(st.sampled_from([None, "p1"])),
        }
    return {"kind": "parentAccount", "id": draw(st.sampled_from(["p1", "p2"])), "metadata": draw(metadata)}


def plant(draw: Any, expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a buggy system might send for ``expected``: records lost, changed, renamed, moved to another visitor,
    duplicated, sent with a number id or a made-up anonymous id, unexpected ones, in any order."""
    observed = []
    for r in expected:
        bug = draw(
            st.sampled_from(["ok", "ok", "ok", "lose", "change", "who", "name", "dup", "id", "time", "anon", "agent"])
        )
        r = copy.deepcopy(r)
        if bug == "lose":
            continue
        if bug == "change":
            r["properties" if r["kind"] == "track" else "metadata"]["planted"] = draw(st.integers(0, 1))
        elif bug == "who" and r["kind"] == "track":
            r["visitorId"] = draw(st.sampled_from(VISITORS))
        elif bug == "name" and r["kind"] == "track":
            r["event"] = draw(st.sampled_from(EVENTS))
        elif bug == "id" and r["kind"] != "track":
            r["id"] = draw(st.sampled_from(["u9", "a9", 42]))
        elif bug == "time" and r["kind"] == "track" and isinstance(r["timestamp"], int):
            r["timestamp"] += draw(st.integers(-2, 2))
        elif bug == "agent":  # a field the client adds (an agent field when the options say so)
            r["properties" if r["kind"] == "track" else "metadata"]["ok" if r["kind"] == "track" else "language"] = 1
        elif bug == "anon" and r["kind"] in ("visitor", "track"):
            r["id" if r["kind"] == "visitor" else "visitorId"] = draw(st.sampled_from(["_PENDO_T_abc", "_PENDO_T_x9"]))
        observed.append(r)
        if bug == "dup":
            observed.append(copy.deepcopy(r))
    observed.extend(draw(st.lists(record(), max_size=3)))
    return draw(st.permutations(observed))


options_strategy = st.builds(
    DiffOptions,
    view=st.sampled_from(["state", "stream"]),
    timestamp_tolerance_ms=st.sampled_from([None, 0, 2]),
    ignore_paths=st.sampled_from([(), ("track.context",), ("*.metadata.seats",)]),
    agent_fields=st.sampled_from([(), ("visitor.metadata.language",), ("track.properties.ok",)]),
    anonymous_ids=st.booleans(),
    ids_as_strings=st.booleans(),
    collapse_repeats=st.booleans(),
)


@st.composite
def faults(draw: Any, observed: list[dict[str, Any]], expected: list[dict[str, Any]]) -> dict[str, Any]:
    """The fake's side: observed records tagged with the request that brought them, faults on some requests
    (processed or not), drops of records, refusals and warnings."""
    requests = draw(st.integers(1, 4))
    tagged = [{**r, "source": {"request": draw(st.integers(1, requests))}} for r in observed]
    injected = []
    for request in range(1, requests + 1):
        if draw(st.booleans()):
            kind = draw(st.sampled_from(["status", "slow", "drop"]))
            injected.append(
                {
                    "request": request,
                    "kind": kind,
                    "status": 503,
                    "phase": draw(st.sampled_from(["before", "after"])),
                    "processed": draw(st.booleans()),
                    "records": draw(st.lists(st.sampled_from(expected), max_size=2)) if expected else [],
                }
            )
    dropped = (
        [
            {"request": 9, "rule": "timestamp-too-old", "reason": "old", "source": "https://x", "record": r}
            for r in draw(st.lists(st.sampled_from(expected), max_size=2))
        ]
        if expected
        else []
    )
    rejected = [{"method": "POST", "path": "/data/track", "status": 400, "reason": "bad", "request": 3}]
    warnings = [{"rule": "w", "request": 2, "route": "track", "detail": "careful"}]
    return {"observed": tagged, "injected": injected, "dropped": dropped, "rejected": rejected, "warnings": warnings}


def both(
    expected: list[dict[str, Any]], observed: list[dict[str, Any]], options: DiffOptions, shards: int, **kw: Any
) -> tuple[DiffReport, DiffReport]:
    whole = diff(copy.deepcopy(expected), copy.deepcopy(observed), options, **copy.deepcopy(kw))
    sharded = diff_sharded(expected, observed, options, shards=shards, workers=1, **kw)
    return whole, sharded


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_sharded_diff_is_the_diff(data: Any) -> None:
    expected = data.draw(st.lists(record(), max_size=14))
    observed = plant(data.draw, expected)
    options = data.draw(options_strategy)
    writers = data.draw(
        st.one_of(st.none(), st.lists(st.sampled_from(LANES), min_size=len(expected), max_size=len(expected)))
    )
    shards = data.draw(st.integers(1, 6))
    whole, sharded = both(expected, observed, options, shards, writers=writers)
    assert snapshot(sharded) == snapshot(whole)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_sharded_diff_with_the_fakes_findings_is_the_diff(data: Any) -> None:
    expected = data.draw(st.lists(record(), max_size=10))
    observed = plant(data.draw, expected)
    fake = data.draw(faults(observed, expected))
    options = data.draw(options_strategy)
    shards = data.draw(st.integers(1, 5))
    ignored = [{"type": "page", "index": n, "reason": "page calls produce nothing"} for n in range(2)]
    whole, sharded = both(
        expected,
        fake["observed"],
        options,
        shards,
        injected=fake["injected"],
        dropped=fake["dropped"],
        rejected=fake["rejected"],
        warnings=fake["warnings"],
        ignored=ignored,
        profile="classic",
        seed=3,
        reproduce="pytest -p seed=3",
    )
    assert snapshot(sharded) == snapshot(whole)


def test_the_same_record_object_twice_and_a_matcher_are_handled_as_the_diff_does() -> None:
    r = {
        "kind": "track",
        "event": "E",
        "visitorId": "u1",
        "accountId": None,
        "timestamp": 5,
        "properties": {"n": 1},
        "context": {},
    }
    other = {**r, "event": "F", "visitorId": "u2", "timestamp": 9, "properties": {"n": 2}}
    options = DiffOptions(view="stream", matchers=(Matcher("track.properties.n", lambda e, a: abs(e - a) < 2),))
    whole, sharded = both([r, r, other], [r, r, r, {**other, "visitorId": "u3", "properties": {"n": 3}}], options, 3)
    assert snapshot(sharded) == snapshot(whole)
    assert sharded.summary["duplicated"] == 1 and sharded.summary["changed"] == 1
    assert [f.where for f in sharded.of("changed")[0].fields] == ["visitorId"]  # the matcher let n: 2 vs 3 pass


def test_generated_traffic_with_bugs_gives_the_same_report_on_worker_processes() -> None:
    from pytest_segpendo.traffic import generate

    events = generate(600, seed=5)
    for name in ("track-api+metadata", "web-actions"):
        expectation = get_profile(name).expect(events)
        rng = __import__("random").Random(4)
        observed = []
        for r in expectation.stream:
            x = rng.random()
            if x < 0.03:
                continue
            r = copy.deepcopy(r)
            if x < 0.06:
                r["properties" if r["kind"] == "track" else "metadata"]["planted"] = 1
            elif x < 0.08 and r["kind"] == "track":
                r["visitorId"] = "someone-else"
            elif x < 0.1:
                observed.append(r)
            observed.append(r)
        rng.shuffle(observed)
        options = DiffOptions.from_hints(expectation.hints)
        whole = diff(expectation.stream, observed, options, writers=expectation.writers, profile=name)
        sharded = diff_sharded(
            expectation.stream, observed, options, writers=expectation.writers, profile=name, shards=5, workers=2
        )
        assert not whole.conforms and whole.summary["changed"] > 0
        assert snapshot(sharded) == snapshot(whole)


@pytest.mark.parametrize(
    "path, stripped",
    [("track.visitorId", True), ("*.id", True), ("visitor.*", True), ("track.context", False), ("*.metadata.x", False)],
)
def test_an_ignored_identity_field_keeps_the_diff_in_one_shard(path: str, stripped: bool) -> None:
    options = DiffOptions(ignore_paths=(path,))
    assert identity_stripped(options) is stripped
    a = {
        "kind": "track",
        "event": "E",
        "visitorId": "u1",
        "accountId": None,
        "timestamp": 1,
        "properties": {},
        "context": {"x": 1},
    }
    whole, sharded = both([a], [{**a, "visitorId": "u2"}], options, 4)
    assert snapshot(sharded) == snapshot(whole)


def test_an_entity_whose_id_changed_keeps_its_writer_lanes_across_shards() -> None:
    # two users write account a1 (a final plan of either is admissible); Pendo got it under another id
    expected = [
        {"kind": "account", "id": "a1", "metadata": {"plan": "pro", "seats": 3}, "parentAccountId": None},
        {"kind": "account", "id": "a1", "metadata": {"plan": "free"}, "parentAccountId": None},
    ] + [{"kind": "visitor", "id": f"v{n}", "metadata": {"n": n}} for n in range(8)]
    writers = ["userId:u1", "userId:u2"] + [f"userId:v{n}" for n in range(8)]
    observed = [{"kind": "account", "id": "a-9", "metadata": {"plan": "pro", "seats": 3}, "parentAccountId": None}]
    observed += expected[2:]
    whole, sharded = both(expected, observed, DiffOptions(view="state"), 4, writers=writers)
    assert snapshot(sharded) == snapshot(whole)
    assert [d.cls for d in sharded.differences] == ["changed", "order-dependent"]
    assert [f.where for f in sharded.of("changed")[0].fields] == ["id"]
