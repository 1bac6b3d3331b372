"""The hand-written default mappings (``ActionSpec.fast``) give what the mapping engine gives, to the type.

The profiles run their default field mappings as plain Python (several times faster than the engine, which
``tests/test_mapping_differential.py`` proves equal to Segment's own). Each is checked here against the engine on
generated traffic of every scenario (the hazards included), the golden fixtures, the mapping corpus's events and
fuzzed events whose fields hold any JSON value (falsy ones, arrays, strings, numbers where objects are expected).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_segpendo.jsonl import dumps_bytes
from pytest_segpendo.mapping.js import UNDEFINED, JsFunction
from pytest_segpendo.profiles import UserMapping, get_profile
from pytest_segpendo.profiles.base import Action, Profile
from pytest_segpendo.traffic import SCENARIOS, generate

ROOT = Path(__file__).resolve().parents[1]
FAST = ["track-api", "track-api+metadata", "classic"]
SETTINGS: dict[str, dict[str, Any]] = {"classic": {"trackEvents": True}}


def shape(value: Any) -> Any:
    """A value with its types spelled out (``1``, ``1.0`` and ``True`` differ; key order counts)."""
    if type(value) is dict:
        return ("object", [(k, shape(v)) for k, v in value.items()])
    if type(value) is list:
        return ("array", [shape(v) for v in value])
    if type(value) is float and math.isnan(value):
        return ("nan",)
    if value is UNDEFINED:
        return ("undefined",)
    if type(value) is JsFunction:
        return ("function", value.name)
    return (type(value).__name__, value)


def fast_actions(profile: Profile) -> list[Action]:
    return [a for a in profile.actions if a.fast is not None]


def assert_same_payloads(profile: Profile, events: list[Any]) -> int:
    actions = fast_actions(profile)
    assert actions, f"profile {profile.name} runs no default mapping by hand"
    n = 0
    for event in events:
        for action in actions:
            want = shape(action.generic_payload(event))
            got = shape(action.payload(event))
            assert got == want, f"{profile.name} {action.name} on {json.dumps(event, default=repr)[:300]}"
            n += 1
    return n


def every_scenario() -> list[dict[str, Any]]:
    events = []
    for seed, name in enumerate(SCENARIOS):
        events.extend(generate(400, seed=seed, mix={name: 1}))
    events.extend(generate(600, seed=99, mix={name: 1 for name in SCENARIOS}))
    return events


def fixture_events() -> list[Any]:
    out: list[Any] = []
    for path in sorted((ROOT / "fixtures" / "golden" / "cases").glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            out.extend(e for e in case["events"] if isinstance(e, dict))
    for path in (
        ROOT / "fixtures" / "golden" / "traffic" / "events.jsonl",
        ROOT / "fixtures" / "mapping-kit" / "events.jsonl",
    ):
        out.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    for path in sorted((ROOT / "fixtures" / "traffic").glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:300] if line.strip())
    return [e for e in out if isinstance(e, dict)]


@pytest.mark.parametrize("name", FAST)
def test_default_mappings_by_hand_equal_the_engine_on_generated_and_golden_events(name: str) -> None:
    profile = get_profile(name, SETTINGS.get(name))
    assert assert_same_payloads(profile, every_scenario() + fixture_events()) > 3000


@pytest.mark.parametrize("name", FAST)
def test_whole_expectations_are_identical_with_and_without_the_hand_written_mappings(name: str) -> None:
    events = every_scenario() + fixture_events()
    fast = get_profile(name, SETTINGS.get(name))
    slow = get_profile(name, SETTINGS.get(name))
    for action in slow.actions:
        action.fast = None
    a, b = fast.expect(events), slow.expect(events)
    assert b"".join(dumps_bytes(r) for r in a.stream) == b"".join(dumps_bytes(r) for r in b.stream)
    assert a.origins == b.origins and a.writers == b.writers and a.ignored == b.ignored
    assert a.state == b.state


def test_an_overridden_mapping_runs_through_the_engine() -> None:
    mapping = UserMapping.from_json({"actions": {"trackEvent": {"mapping": {"event": {"@template": "x {{event}}"}}}}})
    profile = get_profile("track-api+metadata", mapping=mapping)
    by_name = {a.name: a for a in profile.actions}
    assert by_name["trackEvent"].fast is None and by_name["visitorMetadata"].fast is not None
    result = profile.expect([{"type": "track", "event": "E", "userId": "u", "timestamp": "2026-01-05T09:00:00.000Z"}])
    assert result.stream[0]["event"] == "x E"


# -- fuzzed events ------------------------------------------------------------------------------------------------

KEYS = [
    "groupId",
    "ip",
    "userAgent",
    "page",
    "url",
    "title",
    "id",
    "parentAccount",
    "__proto__",
    "constructor",
    "length",
    "0",
    "toString",
    "name",
]
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=False),
    st.sampled_from(["", "0", " ", "abc", "u1", "_PENDO_T_x", "a::b", "\ud83d\ude00"]),
    st.text(max_size=6),
)
json_values = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12,
)
field = st.one_of(json_values, st.just(UNDEFINED))  # UNDEFINED: the key is absent


@st.composite
def fuzzed_event(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"type": draw(st.sampled_from(["track", "identify", "group"]))}
    for key in ("event", "userId", "anonymousId", "groupId", "traits", "properties", "context", "timestamp"):
        value = draw(field)
        if value is not UNDEFINED:
            event[key] = value
    if draw(st.booleans()):  # the nested fields the mappings read, in objects
        event["properties"] = {"groupId": draw(json_values)} if draw(st.booleans()) else draw(json_values)
        event["context"] = {
            "groupId": draw(field),
            "ip": draw(json_values),
            "page": draw(st.one_of(json_values, st.fixed_dictionaries({"url": json_values, "title": json_values}))),
        }
        event["context"] = {k: v for k, v in event["context"].items() if v is not UNDEFINED}
        event["traits"] = {"parentAccount": draw(json_values), "id": draw(json_values)}
    return event


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(fuzzed_event(), min_size=1, max_size=5))
def test_default_mappings_by_hand_equal_the_engine_on_fuzzed_events(events: list[dict[str, Any]]) -> None:
    for name in FAST:
        assert_same_payloads(get_profile(name, SETTINGS.get(name)), events)
