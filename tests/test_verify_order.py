"""Order-dependent state: a record written from several delivery lanes (users) may end with any value some
admissible delivery order gives it; any other value is still a difference."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_segpendo.profiles import Expectation, expect
from pytest_segpendo.profiles.base import lane_key
from pytest_segpendo.records import state_view
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, compare, diff

STATE = DiffOptions(view="state")
Record = dict[str, Any]


def account(id: str, parent: str | None = None, **metadata: Any) -> Record:
    return {"kind": "account", "id": id, "metadata": metadata, "parentAccountId": parent}


def visitor(id: str, **metadata: Any) -> Record:
    return {"kind": "visitor", "id": id, "metadata": metadata}


def group(user: str, account_id: str, ts: str, **traits: Any) -> dict[str, Any]:
    return {
        "type": "group",
        "userId": user,
        "groupId": account_id,
        "traits": traits,
        "messageId": f"m-{user}-{ts}",
        "timestamp": ts,
    }


# -- the expectation says who wrote each record -------------------------------------------------------------------


def test_lanes_are_segments_per_user_order() -> None:
    # One rule, in pytest_segpendo.events, for the delivery's lanes and the diff's writers: the user, else the
    # browser; an event with neither (or an empty userId) is not ordered against the rest.
    assert lane_key({"userId": 42, "anonymousId": "x"}) == "userId:42"
    assert lane_key({"type": "track", "userId": "", "anonymousId": "a"}) == "anonymousId:a"
    assert lane_key({"type": "track", "userId": None, "anonymousId": ""}) == ""
    assert lane_key("not an event") == ""
    events: list[Any] = generate(300, seed=8, mix={"saas": 2, "anonymous": 1, "edge": 1})
    assert len({lane_key(e) for e in events}) > 20


def test_the_expectation_carries_the_lane_of_each_records_event() -> None:
    events = generate(200, seed=3, mix={"saas": 3, "anonymous": 1})
    result = expect(events, "track-api+metadata")
    assert len(result.writers) == len(result.stream) == len(result.origins) > 50
    assert all(w == lane_key(events[o]) for w, o in zip(result.writers, result.origins))
    assert len(set(result.writers)) > 5


def test_two_users_writing_one_account_may_leave_either_plan() -> None:
    events = [
        group("u1", "acme", "2026-01-05T09:00:00.000Z", plan="pro", seats=3),
        group("u2", "acme", "2026-01-05T09:00:01.000Z", plan="free"),
    ]
    expectation = expect(events, "track-api+metadata")
    assert expectation.state[0]["metadata"] == {"plan": "free", "seats": 3}
    arrived_the_other_way = [expectation.stream[1], expectation.stream[0]]
    report = compare(expectation, arrived_the_other_way)
    assert report.conforms, report.format()
    [d] = report.of("order-dependent")
    assert (d.label, [(f.where, f.expected, f.actual) for f in d.fields]) == (
        'account "acme"',
        [("metadata.plan", "free", "pro")],
    )
    assert d.writers == {"metadata.plan": [("userId:u1", "pro"), ("userId:u2", "free")]}
    assert report.matched == report.expected_records
    assert report.summary["order-dependent"] == 1
    text = report.format()
    assert "order-dependent x1 (metadata.plan 1; not failing:" in text
    assert 'account "acme" metadata.plan: got "pro", writers\' last values: "pro" (user "u1"), "free" (user "u2")' in (
        text
    )
    assert "order-dependent 1 (account 1)" in report.summary_line()
    assert report.as_json()["differences"][0]["writers"] == {
        "metadata.plan": [{"writer": "userId:u1", "value": "pro"}, {"writer": "userId:u2", "value": "free"}]
    }


def test_a_value_no_order_gives_is_changed_and_says_which_would_conform() -> None:
    events = [
        group("u1", "acme", "2026-01-05T09:00:00.000Z", plan="pro"),
        group("u1", "acme", "2026-01-05T09:00:01.000Z", plan="trial"),  # u1's own later write wins over "pro"
        group("u2", "acme", "2026-01-05T09:00:02.000Z", plan="free"),
    ]
    expectation = expect(events, "track-api+metadata")
    for wrong in ("pro", "enterprise"):  # "pro" is overwritten by the same user: no order leaves it
        observed = [account("acme", plan=wrong)]
        report = compare(expectation, observed)
        [d] = report.failing()
        assert d.cls == "changed" and [(f.where, f.actual) for f in d.fields] == [("metadata.plan", wrong)]
        assert d.cause == (
            'metadata.plan depends on the order Segment delivers different users\' events in: "trial" (user "u1") '
            'or "free" (user "u2") would conform'
        )
        assert "    cause: metadata.plan depends on the order" in report.format()
    assert compare(expectation, [account("acme", plan="trial")]).conforms


def test_without_writers_the_stream_order_is_the_only_one() -> None:
    events = [
        group("u1", "acme", "2026-01-05T09:00:00.000Z", plan="pro"),
        group("u2", "acme", "2026-01-05T09:00:01.000Z", plan="free"),
    ]
    expectation = expect(events, "track-api+metadata")
    observed = [account("acme", plan="pro")]
    assert not diff(expectation.stream, observed, STATE).conforms  # segpendo diff on two record files
    assert not compare(expectation.stream, observed).conforms
    assert diff(expectation.stream, observed, STATE, writers=expectation.writers).conforms
    stale = Expectation(
        expectation.profile, expectation.settings, 2, expectation.stream[:1], [], [], expectation.hints, ["userId:u1"]
    )
    stale.stream.append(expectation.stream[1])  # changed after the expectation was made: writers no longer fit
    assert not compare(stale, observed).conforms
    assert not diff(expectation.stream, observed, STATE, writers=["userId:u1"]).conforms


def test_fields_one_lane_wrote_and_absent_fields_are_strict() -> None:
    stream = [account("a", plan="pro", seats=3), account("a", plan="free"), account("a", region="EU")]
    writers = ["userId:u1", "userId:u2", "userId:u2"]
    assert diff(stream, [account("a", plan="pro", seats=3, region="EU")], STATE, writers=writers).conforms
    changed = diff(stream, [account("a", plan="pro", seats=4, region="EU")], STATE, writers=writers)
    assert [(d.cls, [f.where for f in d.fields]) for d in changed.failing()] == [("changed", ["metadata.seats"])]
    assert changed.of("order-dependent")[0].fields[0].where == "metadata.plan"
    absent = diff(stream, [account("a", seats=3, region="EU")], STATE, writers=writers)
    assert [f.where for d in absent.failing() for f in d.fields] == ["metadata.plan"]


def test_parent_account_and_nested_values_follow_the_same_rule() -> None:
    stream = [
        account("a", "p1", address={"city": "Paris", "zip": "75001"}),
        account("a", "p2", address={"city": "Lyon"}),
    ]
    writers = ["userId:u1", "userId:u2"]
    observed = [account("a", "p1", address={"city": "Paris", "zip": "75001"})]
    report = diff(stream, observed, STATE, writers=writers)
    assert report.conforms, report.format()
    assert sorted(f.where for f in report.of("order-dependent")[0].fields) == ["metadata.address", "parentAccountId"]
    mixed = [account("a", "p1", address={"city": "Lyon", "zip": "75001"})]  # no single write has this address
    assert [f.where for d in diff(stream, mixed, STATE, writers=writers).failing() for f in d.fields] == [
        "metadata.address.zip"
    ]


def test_matchers_and_visitors_written_from_several_lanes() -> None:
    stream = [visitor("u1", score=1.0), visitor("u1", score=2.0)]
    writers = ["userId:u1", "anonymousId:a9"]
    assert diff(stream, [visitor("u1", score=1.0)], STATE, writers=writers).conforms
    near = [visitor("u1", score=1.001)]
    assert not diff(stream, near, STATE, writers=writers).conforms
    from pytest_segpendo.verify import Matcher

    close = DiffOptions(view="state", matchers=(Matcher("visitor.metadata.score", lambda e, a: abs(e - a) < 0.01),))
    assert diff(stream, near, close, writers=writers).conforms


# -- the property: every admissible delivery order conforms; nothing else does -------------------------------------

LANES = ("userId:u1", "userId:u2", "anonymousId:a3")
IDS = (("account", "acme"), ("account", "initech"), ("visitor", "u1"))


@st.composite
def traffic(draw: Any) -> tuple[list[Record], list[str], list[int]]:
    """Expected writes (each tagged with its lane and its event): a few events per lane, some with several
    writes, fields sometimes absent, values drawn from a small set so collisions happen."""
    stream: list[Record] = []
    writers: list[str] = []
    origins: list[int] = []
    for event in range(draw(st.integers(1, 7))):
        lane = draw(st.sampled_from(LANES))
        for _ in range(draw(st.integers(1, 2))):
            kind, ident = draw(st.sampled_from(IDS))
            metadata = draw(
                st.dictionaries(st.sampled_from(("plan", "seats", "tier")), st.sampled_from((1, 2, "x", None)))
            )
            record: Record = {"kind": kind, "id": ident, "metadata": metadata}
            if kind == "account":
                record["parentAccountId"] = draw(st.sampled_from((None, "p1", "p2")))
            stream.append(record)
            writers.append(lane)
            origins.append(event)
    return stream, writers, origins


def interleavings(writers: list[str], origins: list[int]) -> list[list[int]]:
    """Every order of the events that keeps each lane's events in order (events are atomic)."""
    lanes: dict[str, list[int]] = {}
    for lane, event in zip(writers, origins):
        if event not in lanes.setdefault(lane, []):
            lanes[lane].append(event)
    orders: list[list[int]] = []

    def walk(positions: dict[str, int], done: list[int]) -> None:
        if len(orders) >= 400:  # bounded: enough orders to cover every reachable value in these sizes
            return
        live = [lane for lane, events in lanes.items() if positions[lane] < len(events)]
        if not live:
            orders.append(done)
            return
        for lane in live:
            walk({**positions, lane: positions[lane] + 1}, [*done, lanes[lane][positions[lane]]])

    walk(dict.fromkeys(lanes, 0), [])
    return orders


def arrive(stream: list[Record], origins: list[int], order: list[int]) -> list[Record]:
    return [copy.deepcopy(stream[i]) for event in order for i in range(len(stream)) if origins[i] == event]


@settings(max_examples=40, deadline=None)
@given(traffic(), st.randoms(use_true_random=False))
def test_every_admissible_order_conforms_and_a_value_no_order_gives_does_not(
    case: tuple[list[Record], list[str], list[int]], rnd: random.Random
) -> None:
    stream, writers, origins = case
    orders = interleavings(writers, origins)
    assert len(orders) < 400, "every order is enumerated (7 events over 3 lanes: at most 7!/(3!2!2!) = 210)"
    reachable: dict[tuple[Any, ...], set[str]] = {}
    for order in orders:
        for entity in state_view(arrive(stream, origins, order)):
            for name, value in entity["metadata"].items():
                reachable.setdefault((entity["kind"], entity["id"], name), set()).add(json.dumps(value))
    for order in rnd.sample(orders, min(len(orders), 5)):
        report = diff(stream, arrive(stream, origins, order), STATE, writers=writers)
        assert report.conforms, report.format()
    # a value no order gives, in a field some order gives several values: still a difference
    final = state_view(arrive(stream, origins, orders[0]))
    for entity in final:
        for name in entity["metadata"]:
            for candidate in (1, 2, "x", None, "never written"):
                changed = copy.deepcopy(final)
                target = next(r for r in changed if (r["kind"], r["id"]) == (entity["kind"], entity["id"]))
                target["metadata"][name] = candidate
                report = diff(stream, changed, STATE, writers=writers)
                possible = json.dumps(candidate) in reachable[(entity["kind"], entity["id"], name)]
                assert report.conforms == possible, (name, candidate, report.format())


@pytest.mark.parametrize("seed", [2026, 7])
def test_generated_traffic_delivered_in_random_lane_orders_conforms(seed: int) -> None:
    events = generate(3000, seed=seed, mix={"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1})
    expectation = expect(events, "track-api+metadata")
    rnd = random.Random(seed)
    per_lane: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        per_lane.setdefault(lane_key(event), []).append(i)
    queues = [list(reversed(q)) for q in per_lane.values()]
    order: list[int] = []
    while queues:
        q = rnd.choice(queues)
        order.append(q.pop())
        if not q:
            queues.remove(q)
    by_event: dict[int, list[Record]] = {}
    for record, origin in zip(expectation.stream, expectation.origins):
        by_event.setdefault(origin, []).append(record)
    observed = [copy.deepcopy(r) for i in order for r in by_event.get(i, [])]
    strict = diff(expectation.stream, observed, DiffOptions.from_hints(expectation.hints))
    report = compare(expectation, observed)
    assert report.conforms, report.format()
    assert report.summary["order-dependent"] == strict.summary["changed"]
    # and a wrong plan on one of those accounts is still caught
    for d in report.of("order-dependent")[:1]:
        assert d.observed is not None
        target = (d.kind, d.observed["id"])
        bad = [
            {**r, "metadata": {**r["metadata"], "plan": "no-such-plan"}} if (r["kind"], r.get("id")) == target else r
            for r in observed
        ]
        assert not compare(expectation, bad).conforms
