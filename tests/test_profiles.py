"""Reference profiles: golden cases (the destination's published tests, the real agent's behaviour), settings,
user mappings, subscriptions, the state view, and the generated mapping reference."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.profiles import PROFILES, ProfileError, UserMapping, expect, get_profile
from pytest_segpendo.profiles.doc import render
from pytest_segpendo.profiles.subscriptions import SubscriptionError, parse_subscription
from pytest_segpendo.records import collapse_repeats, record_errors, state_view

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden"


def golden_cases() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((GOLDEN / "cases").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            case.setdefault("profile", data.get("profile"))
            out.append((f"{path.stem}: {case['name']}", case))
    return out


CASES = golden_cases()


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[n[:90] for n, _ in CASES])
def test_golden_case(case: dict[str, Any]) -> None:
    result = expect(case["events"], case["profile"], case.get("settings"))
    assert result.stream == case["stream"]
    if "state" in case:
        assert result.state == case["state"]
    assert [{"index": i.index, "type": i.type} for i in result.ignored] == case["ignored"]
    for record in result.stream:
        assert record_errors(record) == []


def test_golden_cases_include_the_destination_published_tests() -> None:
    names = " | ".join(n for n, _ in CASES)
    for needle in (
        "identify: visitor with traits",
        "group: account with traits",
        "parentAccount lifted",
        "track: event with properties",
    ):
        assert needle in names
    assert {c["profile"] for _, c in CASES} == set(PROFILES)


def read_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_regression_goldens_on_generated_traffic(profile: str) -> None:
    spec = importlib.util.spec_from_file_location("golden_regenerate", GOLDEN / "regenerate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    RECIPE = module.RECIPE
    events = read_jsonl(GOLDEN / "traffic" / "events.jsonl")
    from pytest_segpendo.traffic import generate

    assert events == generate(RECIPE["count"], RECIPE["seed"], mix=RECIPE["mix"]), "regenerate fixtures/golden"
    result = expect(events, profile)
    assert result.stream == read_jsonl(GOLDEN / "traffic" / f"{profile}.stream.jsonl")
    assert result.state == read_jsonl(GOLDEN / "traffic" / f"{profile}.state.jsonl")
    ignored = [{"index": i.index, "type": i.type, "reason": i.reason} for i in result.ignored]
    assert ignored == read_jsonl(GOLDEN / "traffic" / f"{profile}.ignored.jsonl")


# -- web-actions specifics ---------------------------------------------------------------------------------


def test_web_actions_every_identified_track_carries_the_current_visitor() -> None:
    from pytest_segpendo.traffic import generate

    events = generate(3000, seed=5, scenario="saas")
    result = expect(events, "web-actions")
    for record, origin in zip(result.stream, result.origins):
        if record["kind"] == "track":
            event = events[origin]
            # the traffic holds numeric userIds: analytics.js reads them back as strings
            expected = str(event["userId"]) if event["userId"] else "_PENDO_T_" + event["anonymousId"]
            assert record["visitorId"] == expected
            assert record["event"] == event["event"] and record["properties"] == event["properties"]
    assert {i.type for i in result.ignored} == {"page"}
    state_accounts = [r for r in result.state if r["kind"] == "account"]
    assert any("::" in r["id"] and r["parentAccountId"] for r in state_accounts), "parent accounts are joined"


def test_web_actions_page_loads_setting() -> None:
    events = [
        {
            "type": "identify",
            "anonymousId": "a",
            "userId": "u",
            "traits": {"x": 1},
            "timestamp": "2026-01-05T09:00:00.000Z",
        },
        {
            "type": "group",
            "anonymousId": "a",
            "userId": "u",
            "groupId": "g",
            "traits": {"t": 1},
            "timestamp": "2026-01-05T09:00:01.000Z",
        },
        {"type": "page", "anonymousId": "a", "userId": "u", "timestamp": "2026-01-05T09:00:02.000Z"},
    ]
    visit = expect(events, "web-actions")
    page = expect(events, "web-actions", {"pageLoads": "page"})
    # the page load re-initializes with the group's traits: a new account write only when pages are loads
    assert len(page.stream) == len(visit.stream) + 2
    assert page.stream[-1] == {"kind": "account", "id": "g", "metadata": {"t": 1}, "parentAccountId": None}


def test_web_actions_repeated_identical_identify_sends_nothing_more() -> None:
    event = {
        "type": "identify",
        "anonymousId": "a",
        "userId": "u",
        "traits": {"x": 1},
        "timestamp": "2026-01-05T09:00:00.000Z",
    }
    result = expect([event, {**event, "timestamp": "2026-01-05T09:00:05.000Z"}], "web-actions")
    # page load (anonymous visitor), then the identify event and the metadata of the first identify only
    assert [(r["id"], r["metadata"]) for r in result.stream] == [("_PENDO_T_a", {}), ("u", {}), ("u", {"x": 1})]
    assert result.origins == [0, 0, 0]


def test_web_actions_events_without_anonymous_id_get_a_made_up_anonymous_visitor() -> None:
    """analytics.js makes up a random anonymousId: the visitor `_PENDO_T_<random>` is matched by pattern."""
    result = expect(
        [{"type": "track", "event": "Server Side", "userId": None, "timestamp": "2026-01-05T09:00:00.000Z"}],
        "web-actions",
    )
    assert result.stream[-1]["visitorId"] == "_PENDO_T_*"
    assert result.hints.anonymous_id_pattern


# analytics.js's memory (analytics-next 1.84.3): the traffic event is the page's call; the destination gets the
# event analytics.js builds from it. examples/web-actions checks these rules with the real analytics-next.


def _call(kind: str, second: int, browser: str = "a", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "anonymousId": browser, "timestamp": f"2026-01-05T09:00:{second:02d}.000Z", **fields}


def _metadata(result: Any, kind: str, record_id: str) -> list[dict[str, Any]]:
    """The metadata writes of one visitor or account, in order, without the agent's empty identity writes."""
    return [r["metadata"] for r in result.stream if r["kind"] == kind and r["id"] == record_id and r["metadata"]]


def test_web_actions_identify_merges_the_remembered_traits_for_the_same_user() -> None:
    events = [
        _call("identify", 0, userId="u", traits={"email": "u@example.com", "plan": "free"}),
        _call("identify", 1, userId="u", traits={"plan": "pro", "logins": 2}),  # only what changed
        _call("identify", 2, userId=None, traits={"seen": True}),  # no user id: the remembered user
    ]
    result = expect(events, "web-actions")
    assert _metadata(result, "visitor", "u") == [
        {"email": "u@example.com", "plan": "free"},
        {"email": "u@example.com", "plan": "pro", "logins": 2},
        {"email": "u@example.com", "plan": "pro", "logins": 2, "seen": True},
    ]


def test_web_actions_another_user_id_replaces_the_traits_and_forgets_the_anonymous_id() -> None:
    events = [
        _call("identify", 0, userId="u1", traits={"email": "one@example.com", "role": "admin"}),
        _call("identify", 1, userId="u2", traits={"email": "two@example.com"}),
        _call("track", 2, userId="u2", event="Opened", properties={}),
    ]
    profile = get_profile("web-actions")
    sent = profile.analytics_events(events)
    assert [e["anonymousId"] for e in sent[:1]] == ["a"]
    assert all("anonymousId" not in e for e in sent[1:])  # a random id analytics.js made up
    assert sent[1]["traits"] == {"email": "two@example.com"}
    result = expect(events, "web-actions")
    assert _metadata(result, "visitor", "u2") == [{"email": "two@example.com"}]  # no `role` from u1


def test_web_actions_group_keeps_parent_account_for_the_same_group_only() -> None:
    parent = {"id": "p", "name": "Parent"}
    events = [
        _call("identify", 0, userId="u", traits={}),
        _call("group", 1, userId="u", groupId="g", traits={"name": "Child", "parentAccount": parent}),
        _call("group", 2, userId="u", groupId="g", traits={"seats": 5}),  # parentAccount remembered
        _call("track", 3, userId="u", event="Seat Added", properties={}),
        _call("group", 4, userId="u", groupId="h", traits={"name": "Other"}),  # another group: traits reset
    ]
    result = expect(events, "web-actions")
    accounts = [(r["id"], r["metadata"]) for r in result.stream if r["kind"] == "account" and r["metadata"]]
    assert accounts == [("p::g", {"name": "Child"}), ("p::g", {"name": "Child", "seats": 5}), ("h", {"name": "Other"})]
    (track,) = [r for r in result.stream if r["kind"] == "track"]
    assert track["accountId"] == "p::g"


def test_web_actions_numeric_ids_come_back_as_strings_and_stay_the_same_user() -> None:
    events = [
        _call("track", 0, userId=7, event="Known Already", properties={}),  # analytics.js already knew user 7
        _call("identify", 1, userId=7, traits={"a": 1}),
        _call("identify", 2, userId="7", traits={"b": 2}),
    ]
    sent = get_profile("web-actions").analytics_events(events)
    assert [e["userId"] for e in sent] == ["7", "7", "7"]
    assert sent[2]["traits"] == {"a": 1, "b": 2}


@pytest.mark.parametrize("properties", [["a", "list"], "text", 12, None, True])
def test_web_actions_track_properties_that_are_not_an_object_arrive_empty(properties: Any) -> None:
    result = expect([_call("track", 0, event="Clicked", properties=properties)], "web-actions")
    assert result.stream[-1]["kind"] == "track" and result.stream[-1]["properties"] == {}


@pytest.mark.parametrize("name", ["", None, 42, ["x"]])
def test_web_actions_track_without_a_name_is_refused_by_analytics_js(name: Any) -> None:
    event = _call("track", 0, event=name, properties={"x": 1})
    if name is None:
        del event["event"]
    result = expect([event], "web-actions")
    assert [r["kind"] for r in result.stream] == ["visitor"]  # the page load only
    (ignored,) = result.ignored
    assert "analytics.js refuses a track without an event name" in ignored.reason and "Event missing" in ignored.reason


def test_web_actions_analytics_events_match_the_golden_sent_events() -> None:
    """The golden cases that say what analytics.js hands the destination (`sent`, checked in the browser)."""
    cases = [c for _, c in CASES if "sent" in c]
    assert len(cases) >= 8
    for case in cases:
        built = get_profile("web-actions").analytics_events(case["events"])
        assert [_sent(e) for e in built] == case["sent"], case["name"]


def _sent(event: Any) -> Any:
    """The fields of an analytics.js event that the destination's default mappings read (as the golden `sent`)."""
    if not isinstance(event, dict):
        return None
    out = {"type": event["type"], "userId": event.get("userId")}
    for key in {"identify": ("traits",), "group": ("groupId", "traits"), "track": ("event", "properties")}.get(
        event["type"], ()
    ):
        out[key] = event.get(key)
    context = event.get("context")
    if event["type"] == "identify" and isinstance(context, dict) and context.get("groupId") is not None:
        out["contextGroupId"] = context["groupId"]
    return out


# -- settings, mappings, errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("web", None, "unknown profile 'web' (choose from web-actions, classic, track-api, track-api+metadata)"),
        (
            "web-actions",
            {"pageLoad": "visit"},
            "profile web-actions has no setting 'pageLoad' (its settings: disableUserTraitsOnLoad, "
            "disableGroupIdAndTraitsOnLoad, pageLoads)",
        ),
        ("web-actions", {"pageLoads": "always"}, "setting pageLoads takes one of visit, page (got 'always')"),
        (
            "web-actions",
            {"disableUserTraitsOnLoad": "maybe"},
            "setting disableUserTraitsOnLoad takes true or false (got 'maybe')",
        ),
        (
            "track-api",
            {"anonymousTracks": "drop"},
            "setting anonymousTracks takes one of skip, anonymousId, pendoAnonymous (got 'drop')",
        ),
    ],
)
def test_bad_profile_or_setting(name: str, settings: dict | None, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        get_profile(name, settings)
    assert str(info.value) == message


def test_settings_from_text_as_the_cli_passes_them() -> None:
    profile = get_profile("web-actions", {"disableUserTraitsOnLoad": "true", "pageLoads": "page"})
    assert profile.settings == {
        "disableUserTraitsOnLoad": True,
        "disableGroupIdAndTraitsOnLoad": False,
        "pageLoads": "page",
    }


def test_user_mapping_overrides_fields_subscription_and_adds_actions() -> None:
    mapping = UserMapping.from_json(
        {
            "profile": "track-api",
            "settings": {"anonymousTracks": "anonymousId"},
            "actions": {
                "trackEvent": {
                    "subscribe": 'type = "track" and event != "Debug"',
                    "mapping": {"event": {"@case": {"operator": "lower", "value": {"@path": "$.event"}}}},
                },
                "pageViews": {
                    "kind": "trackEvent",
                    "subscribe": 'type = "page"',
                    "mapping": {"event": {"@template": "Viewed {{name}}"}},
                },
            },
        }
    )
    events = [
        {"type": "track", "userId": "u", "event": "Signed Up", "timestamp": "2026-01-05T09:00:00.000Z"},
        {"type": "track", "userId": "u", "event": "Debug"},
        {"type": "page", "anonymousId": "a", "name": "Pricing"},
    ]
    result = expect(events, "track-api", mapping=mapping)
    assert [(r["event"], r["visitorId"]) for r in result.stream] == [("signed up", "u"), ("Viewed Pricing", "a")]
    assert [(i.index, i.reason) for i in result.ignored] == [
        (1, "profile track-api sends track events only (track ignored)")
    ]


def test_user_mapping_can_turn_an_action_off(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"actions": {"track": {"enabled": False}}}))
    events = [{"type": "track", "anonymousId": "a", "event": "X", "timestamp": "2026-01-05T09:00:00.000Z"}]
    result = expect(events, "web-actions", mapping=str(path))
    assert [r["kind"] for r in result.stream] == ["visitor"]  # the page load only
    assert result.ignored[0].reason == "no action of profile web-actions subscribes to this track event"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], '<m>: a mapping file is a JSON object with an "actions" object'),
        ({"action": {}}, "<m>: unknown key 'action' (use profile, settings, actions)"),
        ({"actions": {"x": 1}}, '<m>: "actions" must map action names to objects'),
        (
            {"actions": {"track": {"map": {}}}},
            "<m>: action 'track' has unknown key 'map' (use kind, subscribe, mapping, enabled)",
        ),
        (
            {"actions": {"track": {"mapping": []}}},
            "<m>: action 'track': \"mapping\" must be an object of field mappings",
        ),
    ],
)
def test_malformed_mapping_files(data: Any, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        UserMapping.from_json(data, "<m>")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("profile", "actions", "message"),
    [
        (
            "web-actions",
            {"track": {"mapping": {"event": {"@path": 5}}}},
            "<m>: action 'track': invalid mapping: /event/@path should be a string or a mapping directive but it is a "
            "number.",
        ),
        (
            "web-actions",
            {"track": {"mapping": {"event": {"@liquid": "{{event}}"}}}},
            "<m>: action 'track': invalid mapping: /event/@liquid @liquid is not supported",
        ),
        (
            "web-actions",
            {"track": {"subscribe": "type = "}},
            "<m>: action 'track': subscription 'type = ': ends where a value was expected",
        ),
        (
            "web-actions",
            {"track": {"subscribe": 'context.ip = "x"'}},
            "<m>: action 'track': subscription 'context.ip = \"x\"': unknown field 'context.ip'",
        ),
        (
            "web-actions",
            {"extra": {"subscribe": 'type = "page"'}},
            "<m>: new action 'extra' needs \"kind\": one of group, identify, track",
        ),
        ("web-actions", {"extra": {"kind": "track"}}, "<m>: new action 'extra' needs a \"subscribe\" condition"),
        (
            "classic",
            {"identify": {"mapping": {"visitorId": {"@path": "$.traits.email"}}}},
            "<m>: action 'identify' of profile classic is fixed code in the destination",
        ),
    ],
)
def test_mapping_errors_name_the_action_and_the_problem(profile: str, actions: dict, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        get_profile(profile, mapping=UserMapping(actions=actions, source="<m>"))
    assert str(info.value).startswith(message)


def test_mapping_file_for_another_profile_is_refused() -> None:
    with pytest.raises(ProfileError, match="<m> is for profile 'classic', not 'track-api'"):
        get_profile("track-api", mapping=UserMapping(profile="classic", source="<m>"))


def test_unreadable_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot read mapping file .*nope\.json: No such file or directory"):
        UserMapping.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ProfileError, match=r"mapping file .*bad\.json is not JSON"):
        UserMapping.load(bad)


# -- subscriptions -------------------------------------------------------------------------------------------

EVENTS = {
    "track": {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "properties": {"revenue": 49, "plan": "pro", "tags": "a,b"},
    },
    "identify": {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "revenue": 5}},
    "page": {"type": "page", "name": "Pricing", "anonymousId": "a"},
}


@pytest.mark.parametrize(
    ("text", "matching"),
    [
        ('type = "track"', {"track"}),
        ("type = 'track' or type = 'page'", {"track", "page"}),
        ('type != "track"', {"identify", "page"}),
        ('event = "Order Completed"', {"track"}),
        ('type = "track" and properties.revenue > 40', {"track"}),
        ("properties.revenue >= 5", {"track", "identify"}),  # identify reads traits
        ('traits.plan = "pro"', {"track", "identify"}),
        ("userId = null", {"page"}),
        ("userId != null", {"track", "identify"}),
        ('contains(event, "Order")', {"track"}),
        ('!contains(event, "Order")', set()),  # no event name: a function never matches a missing value
        ('match(name, "Pri*")', {"page"}),
        ('match(event, "*Completed")', {"track"}),
        ('(type = "track" or type = "identify") and userId = "u1"', {"track", "identify"}),
        (
            'type = "track" and type = "page" or type = "identify"',
            {"track", "page", "identify"},
        ),  # last conditional wins, as in Segment
    ],
)
def test_subscriptions_match_as_segment_matches(text: str, matching: set[str]) -> None:
    sub = parse_subscription(text)
    assert {k for k, e in EVENTS.items() if sub(e)} == matching


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a subscription must be a non-empty string"),
        ('type = "track" and', "nothing after 'and'"),
        ('(type = "track"', "a '(' is never closed"),
        ('type = "track")', "unexpected ')' at character 15"),
        ("type ~ 'x'", "cannot read \"~ 'x'\" at character 6"),
        ('type "track"', "expected =, !=, <, <=, > or >= after 'type'"),
        ("contains(event)", "contains() needs two arguments"),
    ],
)
def test_bad_subscriptions(text: str, message: str) -> None:
    with pytest.raises(SubscriptionError, match=re.escape(message)):
        parse_subscription(text)


# -- records -----------------------------------------------------------------------------------------------


def test_state_view_merges_field_by_field_in_order() -> None:
    stream = [
        {"kind": "visitor", "id": "u", "metadata": {"a": 1, "b": 1}},
        {
            "kind": "track",
            "event": "E",
            "visitorId": "u",
            "accountId": None,
            "timestamp": 1,
            "properties": {},
            "context": {},
        },
        {"kind": "account", "id": "g", "metadata": {"n": 1}, "parentAccountId": "p"},
        {"kind": "visitor", "id": "u", "metadata": {"b": 2, "c": None}},
        {"kind": "account", "id": "g", "metadata": {"n": 2}, "parentAccountId": None},
        {"kind": "parentAccount", "id": "p", "metadata": {}},
    ]
    assert state_view(stream) == [
        {"kind": "visitor", "id": "u", "metadata": {"a": 1, "b": 2, "c": None}},
        {"kind": "account", "id": "g", "metadata": {"n": 2}, "parentAccountId": "p"},
        {"kind": "parentAccount", "id": "p", "metadata": {}},
        stream[1],
    ]
    assert stream[0]["metadata"] == {"a": 1, "b": 1}, "merging does not touch the stream"
    assert collapse_repeats([stream[0], stream[0], stream[1], stream[1]]) == [stream[0], stream[1], stream[1]]


def test_record_errors() -> None:
    assert record_errors({"kind": "visitor", "id": 5, "metadata": {}}) == ["visitor.id: wrong type (int)"]
    assert record_errors({"kind": "track"})[0] == "track.event: required"
    assert record_errors({"kind": "user"}) == [
        "kind: must be one of visitor, account, parentAccount, track (got 'user')"
    ]


# -- the generated reference page ----------------------------------------------------------------------------


def test_docs_profiles_md_is_generated_from_the_profiles() -> None:
    on_disk = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    stale = "docs/profiles.md is stale: run `python -m pytest_segpendo.profiles.doc docs/profiles.md`"
    assert on_disk == render(), stale
    for name, cls in PROFILES.items():
        assert f"## Profile `{name}`" in on_disk
        for action in cls.action_specs:
            for field, spec in action.fields.items():
                assert (
                    f"| `{field}` | `{json.dumps(spec.mapping, ensure_ascii=False).replace('|', chr(92) + '|')}`"
                    in on_disk
                )


def test_the_mapping_file_example_in_the_docs_works() -> None:
    text = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block
    mapping = UserMapping.from_json(json.loads(block.group(1)))
    events = [
        {"type": "track", "userId": "u", "event": "Debug Ping"},
        {
            "type": "track",
            "userId": "u",
            "event": "Saved",
            "properties": {"a": 1},
            "timestamp": "2026-01-05T09:00:00.000Z",
        },
        {"type": "page", "userId": "u", "name": "Home"},
    ]
    result = expect(events, "track-api", mapping=mapping)
    # a new action starts from the kind's defaults, not from the overridden trackEvent
    assert [(r["event"], r["properties"]) for r in result.stream] == [
        ("Saved", {"a": 1, "source": "segment"}),
        ("Viewed Home", {}),
    ]
