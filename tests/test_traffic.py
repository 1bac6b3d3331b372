"""The traffic generator: determinism, and the properties each scenario promises in docs/traffic.md."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from pytest_segpendo.events import MAX_EVENT_BYTES, event_size, timestamp_ms, validate_event
from pytest_segpendo.traffic import (
    EDGE_CASES,
    SCENARIOS,
    generate,
    generate_jsonl,
    iter_sessions,
    parse_mix,
    parse_start,
)
from pytest_segpendo.traffic.hazards import (
    CHANNELS,
    GROUP_SOURCE_KINDS,
    IDENTITY_KINDS,
    SHAPE_KINDS,
    TIMESTAMP_KINDS,
    TRAITS_KINDS,
)
from pytest_segpendo.traffic.pools import BUNDLED_LOCALES, build_pools, load_pools
from pytest_segpendo.traffic.world import World, iso_format, iso_ms


def sessions(scenario: str, n: int, seed: int = 11, **kw):
    return list(itertools.islice(iter_sessions(seed, scenario, **kw), n))


def ts(event: dict) -> int:
    return parse_start(event["timestamp"])


# -- determinism ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_seed_same_bytes_other_seed_other_bytes(scenario: str) -> None:
    a = "".join(generate_jsonl(500, seed=5, scenario=scenario))
    b = "".join(generate_jsonl(500, seed=5, scenario=scenario))
    c = "".join(generate_jsonl(500, seed=6, scenario=scenario))
    assert a == b
    assert a != c


def test_byte_identical_across_processes_with_different_hash_seeds() -> None:
    code = (
        "import sys, hashlib; from pytest_segpendo.traffic import generate_jsonl;"
        "h = hashlib.sha256();"
        "[h.update(l.encode()) for l in generate_jsonl(3000, seed=42, "
        "mix={'saas': 2, 'mobile': 1, 'anonymous': 1, 'edge': 1}, locale='de_DE')];"
        "print(h.hexdigest())"
    )
    digests = set()
    for hash_seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    here = hashlib.sha256()
    for line in generate_jsonl(3000, seed=42, mix={"saas": 2, "mobile": 1, "anonymous": 1, "edge": 1}, locale="de_DE"):
        here.update(line.encode())
    assert digests == {here.hexdigest()}


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    short = generate(120, seed=9)
    long = generate(1200, seed=9)
    assert long[:120] == short


def test_a_long_stream_keeps_a_bounded_population_and_is_unchanged_until_it_is_full() -> None:
    # A production-size stream (10^7 events and more) must not grow with its count: past the population, each new
    # person, company or device retires the oldest of its kind. A population of 40 shows it at a test's size.
    def stream(world: World) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for n in range(1500):
            events.extend(SCENARIOS[("saas", "anonymous", "mobile", "saas")[n % 4]](world, n)[0])
        return events

    full = stream(World(4))
    small = World(4, population=40)
    events = stream(small)
    pools = (small.account_users, small.mobile_users, small.anonymous_devices, small.accounts, small.parents)
    assert max(len(pool) for pool in pools) == 40, "every pool stops at the population"
    assert small.user_count > 400, "new people keep arriving after the pools are full"
    assert len(small._ids) < small.user_count, "retired people's ids are let go"
    # Nothing changes before a pool is full (a bounded stream of a test's size is the stream it always was).
    first = next(i for i, (a, b) in enumerate(zip(events, full)) if a != b)
    assert first > 200
    assert events[:first] == full[:first]
    # Retired people only stop coming back: the stream stays valid and people still return.
    assert all(validate_event(event) == [] for event in events)
    identifies = Counter(e["userId"] for e in events if e["type"] == "identify")
    assert max(identifies.values()) > 1
    with pytest.raises(ValueError, match="population"):
        World(4, population=0)


def test_generate_returns_independent_objects() -> None:
    events = generate(200, seed=3)
    first = json.dumps(events)
    for ev in events:
        ev.get("context", {}).get("library", {})["name"] = "changed"
        if "traits" in ev:
            ev["traits"].clear()
    assert json.dumps(generate(200, seed=3)) == first


def test_count_zero_and_negative() -> None:
    assert generate(0) == []
    with pytest.raises(ValueError, match="count must not be negative"):
        generate(-1)


# -- every scenario: valid events, unique ids, monotonic sessions ---------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_event_is_valid_and_sessions_are_monotonic(scenario: str) -> None:
    seen_messages: set[str] = set()
    for session in sessions(scenario, 120):
        assert session.events, "a session has events"
        times = [ts(e) for e in session.events]
        assert times == sorted(times) and len(set(times)) == len(times), f"session {session.index} not monotonic"
        assert len({e["anonymousId"] for e in session.events}) == 1, "one device per session"
        for ev in session.events:
            assert validate_event(ev) == [], ev
            assert ev["messageId"] not in seen_messages
            seen_messages.add(ev["messageId"])
            assert parse_start(ev["receivedAt"]) >= parse_start(ev["timestamp"]) or scenario == "edge"


def test_timestamp_follows_segments_clock_correction() -> None:
    """timestamp = receivedAt - (sentAt - originalTimestamp), also for clients whose clock is off."""
    skewed = 0
    for ev in generate(3000, seed=4):
        sent, orig, recv = (parse_start(ev[k]) for k in ("sentAt", "originalTimestamp", "receivedAt"))
        assert parse_start(ev["timestamp"]) == recv - (sent - orig)
        skewed += abs(orig - parse_start(ev["timestamp"])) > 1000
    assert skewed > 50, "some clients have a skewed clock"


# -- saas -----------------------------------------------------------------------------------------------


def test_saas_identified_tracks_follow_an_identify_in_their_session() -> None:
    checked = 0
    for session in sessions("saas", 300):
        identified = False
        for ev in session.events:
            if ev["type"] == "identify":
                identified = True
            if ev["type"] == "track" and ev.get("userId"):
                assert identified, f"session {session.index}: identified track before identify"
                checked += 1
            if not identified:
                assert ev["userId"] is None, "anonymous until identify"
    assert checked > 500


def test_saas_shape_accounts_parents_groups_revenue() -> None:
    all_sessions = sessions("saas", 400)
    events = [e for s in all_sessions for e in s.events]
    types = Counter(e["type"] for e in events)
    assert set(types) == {"page", "identify", "group", "track"}
    # anonymous page views before sign-in
    assert sum(1 for s in all_sessions if s.events[0]["type"] == "page" and s.events[0]["userId"] is None) > 100
    # accounts shared by several users
    users_per_account: dict[str, set[str]] = {}
    accounts_per_parent: dict[str, set[str]] = {}
    for e in events:
        if e["type"] == "group":
            users_per_account.setdefault(e["groupId"], set()).add(e["userId"])
            if "parentAccount" in e["traits"]:
                accounts_per_parent.setdefault(e["traits"]["parentAccount"]["id"], set()).add(e["groupId"])
                assert e["traits"]["parentAccount"]["name"]
    assert max(len(u) for u in users_per_account.values()) >= 3
    assert sum(1 for u in users_per_account.values() if len(u) > 1) > 10
    assert len(accounts_per_parent) >= 3 and max(len(a) for a in accounts_per_parent.values()) >= 2
    # identify traits
    identify = next(e for e in events if e["type"] == "identify" and "email" in e["traits"])
    assert {"email", "name", "firstName", "lastName", "plan", "createdAt", "company"} <= set(identify["traits"])
    assert identify["traits"]["email"].count("@") == 1
    # tracks: revenue with currency, plan, counts, some attributed to a company via context.groupId
    tracks = [e for e in events if e["type"] == "track" and e["userId"]]
    orders = [e for e in tracks if "revenue" in e["properties"]]
    assert orders and all(e["properties"]["currency"] == "USD" for e in orders)
    assert all(isinstance(e["properties"]["revenue"], (int, float)) for e in orders)
    assert any("plan" in e["properties"] for e in tracks)
    assert any("count" in e["properties"] for e in tracks)
    with_group = [e for e in tracks if "groupId" in e["context"]]
    assert 0.15 < len(with_group) / len(tracks) < 0.45
    # later writes change a trait: the state view has something to merge
    plans: dict[str, set[str]] = {}
    for e in events:
        if e["type"] == "group" and e["traits"]:  # (an account whose app sends no traits has no plan)
            plans.setdefault(e["groupId"], set()).add(e["traits"]["plan"])
    assert any(len(p) > 1 for p in plans.values()), "some account changes plan"


def test_saas_user_ids_and_anonymous_ids_are_stable_per_person_and_device() -> None:
    events = generate(5000, seed=2)
    email_of: dict[str, str] = {}
    for e in events:
        if e["type"] == "identify" and "email" in e["traits"]:
            assert email_of.setdefault(e["userId"], e["traits"]["email"]) == e["traits"]["email"]
    owner: dict[str, str] = {}
    for e in events:
        if e["userId"]:
            assert owner.setdefault(e["anonymousId"], e["userId"]) == e["userId"], "a browser belongs to one user"


def test_saas_returning_visits_do_not_overlap_earlier_ones() -> None:
    last: dict[str, int] = {}
    for session in sessions("saas", 400):
        dev = session.events[0]["anonymousId"]
        first = ts(session.events[0])
        assert first > last.get(dev, 0)
        last[dev] = ts(session.events[-1])


# -- anonymous, mobile -----------------------------------------------------------------------------------


def test_anonymous_visitors_never_identify() -> None:
    events = generate(3000, seed=5, scenario="anonymous")
    assert {e["type"] for e in events} == {"page", "track"}
    assert all(e["userId"] is None and e["anonymousId"] for e in events)
    devices = Counter(e["anonymousId"] for e in events)
    assert len(devices) > 100


def test_mobile_events_carry_app_device_os_and_screen_calls() -> None:
    events = generate(3000, seed=5, scenario="mobile")
    types = Counter(e["type"] for e in events)
    assert types["screen"] > 300 and types["identify"] > 50 and types["track"] > 500
    for e in events:
        assert e["channel"] == "mobile"
        ctx = e["context"]
        assert {"app", "device", "os", "network", "screen", "library"} <= set(ctx)
        assert ctx["device"]["type"] in ("ios", "android")
        assert ctx["os"]["name"] == {"ios": "iOS", "android": "Android"}[ctx["device"]["type"]]
        assert "page" not in ctx
    assert any(e.get("event") == "Application Opened" for e in events)
    assert any(e.get("event") == "Application Backgrounded" for e in events)


# -- edge ------------------------------------------------------------------------------------------------


def edge_events() -> dict[str, list[dict]]:
    return {s.case: s.events for s in sessions("edge", len(EDGE_CASES))}


def test_edge_covers_every_case_in_its_first_rotation() -> None:
    cases = [s.case for s in sessions("edge", 2 * len(EDGE_CASES))]
    assert cases == list(EDGE_CASES) * 2


def test_edge_cases_hold_what_they_promise() -> None:
    by = edge_events()
    text = json.dumps(by["unicode"], ensure_ascii=False)
    assert "🚀" in text and "日本語" in text and "Zürich" in text
    assert by["trait-named-id"][0]["traits"]["id"] != by["trait-named-id"][0]["userId"]
    assert "id" in by["trait-named-id"][1]["traits"]
    nested = by["nested"][0]["traits"]
    assert isinstance(nested["preferences"]["notifications"]["digest"], dict) and isinstance(nested["tags"], list)
    assert any(isinstance(x, dict) for x in nested["teams"])
    assert None in by["nulls"][0]["traits"].values()
    numeric = by["numeric-ids"]
    assert isinstance(numeric[0]["userId"], int) and isinstance(numeric[1]["groupId"], int)
    empties = by["empty-strings"]
    assert empties[0]["userId"] == "" and empties[0]["anonymousId"]
    assert "" in empties[1]["traits"].values()
    sizes = [event_size(e) for e in by["near-limit"]]
    assert all(MAX_EVENT_BYTES - 1500 <= s <= MAX_EVENT_BYTES - 100 for s in sizes), sizes
    # analytics-python measures with json.dumps defaults: the near-limit events fit its limit too
    assert all(len(json.dumps(e).encode()) <= MAX_EVENT_BYTES for e in by["near-limit"])
    no_traits = by["identify-without-traits"]
    assert "traits" not in no_traits[0] and no_traits[1]["traits"] == {}
    anon_group = by["group-anonymous"][0]
    assert anon_group["type"] == "group" and anon_group["userId"] is None and anon_group["anonymousId"]
    assert [e["type"] for e in by["page-screen-alias"]] == ["page", "screen", "alias", "page"]
    reserved = by["reserved-traits"]
    assert "first_name" in reserved[0]["traits"] and "firstName" in reserved[1]["traits"]
    spellings = [e["timestamp"] for e in by["timestamps"]]
    assert spellings[0].endswith("+00:00") and spellings[1].endswith("-05:30") and spellings[2].endswith("+02:00")
    assert re.fullmatch(r"\S+T\d\d:\d\d:\d\dZ", spellings[3]) and re.search(r"\.\d{6}-05:30$", spellings[1])
    assert [timestamp_ms(s) for s in spellings] == sorted({timestamp_ms(s) for s in spellings})
    sources = [(e["context"].get("groupId"), e["properties"].get("groupId")) for e in by["group-context"]]
    (gid, none), (none2, gid2), (gid3, gid4), (gid5, other) = sources
    assert none is none2 is None and gid == gid2 == gid3 == gid4 == gid5 != other
    props = by["property-names"][0]["properties"]
    assert "has space" in props and "1st" in props and "__dunder__" in props
    parent = by["parent-accounts"]
    assert "parentAccount" in parent[0]["traits"] and "::" in parent[1]["groupId"]
    assert empties[3]["type"] == "group" and "" in empties[3]["traits"].values()
    group_traits = by["nested"][1]["traits"]
    assert isinstance(group_traits["contracts"][0], dict) and group_traits["customFields"] == {}
    props = by["nested"][2]["properties"]
    assert isinstance(props["sort"], dict) and props["options"] == {}


# -- hazards: what breaks real relays, early in every scenario ------------------------------------------------
#
# The detectors below read events as a relay sees them; they do not ask the generator what it planted.

_SPELLING = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def id_kinds(value: Any) -> set[str]:
    """What is odd about one id (case twins need every id: see ``hazards_in``)."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, (int, float)):
        return {"number"}
    if not isinstance(value, str) or value == "":
        return set()
    kinds = set()
    if value != value.strip():
        kinds.add("padded")
    if any(ch.isspace() for ch in value.strip()):
        kinds.add("inner-space")
    if value.isdigit() and value.startswith("0"):
        kinds.add("leading-zeros")
    if not value.isascii():
        kinds.add("unicode")
    if len(value) >= 200:
        kinds.add("long")
    return kinds


def shape_kinds(values: Any) -> set[str]:
    kinds = set()
    for name, value in (values or {}).items():
        if name == "groupId":
            continue
        if isinstance(value, dict):
            kinds.add("nested-object" if value else "empty-object")
        elif isinstance(value, list) and any(isinstance(x, dict) for x in value):
            kinds.add("object-array")
        elif value == "":
            kinds.add("empty-string")
        elif value is None:
            kinds.add("null")
    return kinds


def spelling_kinds(stamp: str) -> set[str]:
    m = _SPELLING.fullmatch(stamp)
    assert m, stamp
    fraction, zone = m.groups()
    kinds = set()
    if zone[0] == "+" and zone != "+00:00":
        kinds.add("offset-plus")
    if zone[0] == "-":
        kinds.add("offset-minus")
    if fraction is None:
        kinds.add("no-fraction")
    elif len(fraction) == 6:
        kinds.add("micro")
    return kinds


def hazards_in(events: list[dict[str, Any]], identified: bool = True) -> set[str]:
    """``channel:kind`` of every hazard in ``events``. Track hazards count on tracks with a userId (the ones a relay
    forwards) unless ``identified`` is false; groupIds are read wherever a relay reads them."""
    found: set[str] = set()
    ids: dict[str, list[Any]] = {"userId": [], "groupId": [], "anonymousId": []}
    for e in events:
        ids["userId"].append(e.get("userId"))
        ids["anonymousId"].append(e.get("anonymousId"))
        if e["type"] == "identify":
            found |= {f"traits:{k}" for k in shape_kinds(e.get("traits"))}
            if not e.get("traits"):
                found.add("traits:empty")
        elif e["type"] == "group":
            ids["groupId"].append(e["groupId"])
            found |= {f"groupTraits:{k}" for k in shape_kinds(e.get("traits"))}
            if not e.get("traits"):
                found.add("groupTraits:empty")
        elif e["type"] == "track":
            in_context, in_properties = e["context"].get("groupId"), e["properties"].get("groupId")
            ids["groupId"] += [in_context, in_properties]
            if identified and not e.get("userId"):
                continue
            found |= {f"properties:{k}" for k in shape_kinds(e["properties"])}
            found |= {f"timestamp:{k}" for k in spelling_kinds(e["timestamp"])}
            if in_context is not None and in_properties is not None:
                found.add("trackGroup:" + ("both-same" if in_context == in_properties else "both-different"))
            elif in_context is not None:
                found.add("trackGroup:context")
            elif in_properties is not None:
                found.add("trackGroup:properties")
    for channel, values in ids.items():
        by_case: dict[str, set[str]] = {}
        for value in values:
            found |= {f"{channel}:{k}" for k in id_kinds(value)}
            if isinstance(value, str):
                by_case.setdefault(value.lower(), set()).add(value)
        if any(len(spellings) > 1 for spellings in by_case.values()):
            found.add(f"{channel}:case-twin")
    return found


def _kinds(channel: str, kinds: tuple[str, ...]) -> set[str]:
    return {f"{channel}:{k}" for k in kinds}


TRACK_HAZARDS = (
    _kinds("properties", SHAPE_KINDS) | _kinds("trackGroup", GROUP_SOURCE_KINDS) | _kinds("timestamp", TIMESTAMP_KINDS)
)
IDENTIFIED_HAZARDS = (
    _kinds("userId", IDENTITY_KINDS)
    | _kinds("groupId", IDENTITY_KINDS)
    | _kinds("traits", TRAITS_KINDS)
    | _kinds("groupTraits", TRAITS_KINDS)
    | TRACK_HAZARDS
)
ANONYMOUS_HAZARDS = _kinds("anonymousId", IDENTITY_KINDS) | TRACK_HAZARDS
MIXES = {
    "demo": {"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1},
    "golden": {"saas": 3, "anonymous": 1, "mobile": 1, "edge": 2},
    "corpus": {"saas": 2, "anonymous": 1, "mobile": 1, "edge": 1},
}
EARLY = 150  # every hazard within this many events, for every seed


def test_the_detectors_know_every_hazard_the_schedule_plants() -> None:
    planted = {f"{name}:{kind}" for name, channel in CHANNELS.items() for kind in channel.kinds}
    anonymous_tracks = {
        h.replace("anonymousProperties", "properties")
        .replace("anonymousTrackGroup", "trackGroup")
        .replace("anonymousTimestamp", "timestamp")
        for h in planted
    }
    assert anonymous_tracks == IDENTIFIED_HAZARDS | ANONYMOUS_HAZARDS
    assert all(0 < channel.rate <= 0.1 for channel in CHANNELS.values()), "after the schedule, hazards stay rare"


@pytest.mark.parametrize("name", [*sorted(SCENARIOS), *MIXES])
def test_every_hazard_appears_in_the_first_150_events_of_every_seed(name: str) -> None:
    expected = ANONYMOUS_HAZARDS if name == "anonymous" else IDENTIFIED_HAZARDS
    for seed in range(10):
        events = generate(EARLY, seed, name if name in SCENARIOS else "saas", mix=MIXES.get(name))
        missing = expected - hazards_in(events, identified=name != "anonymous")
        assert not missing, f"{name}, seed {seed}: not in the first {EARLY} events: {sorted(missing)}"
        assert all(validate_event(e) == [] for e in events)


def test_hazards_are_rare_once_planted_most_users_are_ordinary() -> None:
    events = generate(6000, seed=3)
    late = events[1500:]
    users = {e["userId"] for e in late if e["userId"] is not None}
    odd_users = {u for u in users if id_kinds(u) or isinstance(u, int) or (isinstance(u, str) and u[0].isupper())}
    assert 0 < len(odd_users) / len(users) < 0.1
    tracks = [e for e in late if e["type"] == "track" and e["userId"]]
    odd_stamps = [e for e in tracks if spelling_kinds(e["timestamp"])]
    odd_props = [e for e in tracks if shape_kinds({k: v for k, v in e["properties"].items() if k != "coupon"})]
    assert 0 < len(odd_stamps) / len(tracks) < 0.05 and 0 < len(odd_props) / len(tracks) < 0.08
    # the account of most tracks is in context.groupId or nowhere, as analytics.js apps send it
    in_properties = [e for e in tracks if "groupId" in e["properties"]]
    assert 0 < len(in_properties) / len(tracks) < 0.05


@pytest.mark.parametrize("scenario", ["saas", "mobile", "edge"])
def test_case_twins_are_two_people(scenario: str) -> None:
    events = generate(EARLY, 4, scenario)
    identified = [e for e in events if e["type"] == "identify" and isinstance(e["userId"], str)]
    by_case: dict[str, dict[str, Any]] = {}
    for e in identified:
        by_case.setdefault(e["userId"].lower(), {})[e["userId"]] = e
    twins = [pair for pair in by_case.values() if len(pair) == 2]
    assert twins, "a pair of users whose ids differ only in case"
    for pair in twins:
        first, second = pair.values()
        assert first["anonymousId"] != second["anonymousId"], "two people, two devices"
        if "email" in first.get("traits", {}) and "email" in second.get("traits", {}):
            assert first["traits"]["email"] != second["traits"]["email"]


@pytest.mark.parametrize("name", [*sorted(SCENARIOS), "demo"])
def test_odd_timestamps_mean_the_instant_the_toolkit_expects(name: str) -> None:
    """Other spellings, same instants: timestamp_ms and parse_start agree on every one; outside edge cases,
    Segment's correction still holds, sessions stay in order, and sub-millisecond digits never round up."""
    for session in sessions(name if name in SCENARIOS else "saas", 60, seed=7, mix=MIXES.get(name)):
        times = []
        for e in session.events:
            for field in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
                text = e[field]
                assert timestamp_ms(text) == parse_start(text), text
                fraction = _SPELLING.fullmatch(text).group(1) or ""  # type: ignore[union-attr]
                assert len(fraction) in (0, 3, 6) and (len(fraction) < 6 or int(fraction[3:]) < 500), text
            times.append(timestamp_ms(e["timestamp"]))
            if session.scenario != "edge":
                sent, orig, recv = (parse_start(e[k]) for k in ("sentAt", "originalTimestamp", "receivedAt"))
                assert parse_start(e["timestamp"]) == recv - (sent - orig)
        assert times == sorted(times) and len(set(times)) == len(times)


def test_iso_format_spellings() -> None:
    at = parse_start("2026-01-05T09:00:00.123Z")
    assert iso_format(at) == "2026-01-05T09:00:00.123Z"
    assert iso_format(at, 120) == "2026-01-05T11:00:00.123+02:00"
    assert iso_format(at, -330, 6, 456) == "2026-01-05T03:30:00.123456-05:30"
    assert iso_format(at, 0, 6, 7, zulu=False) == "2026-01-05T09:00:00.123007+00:00"
    assert iso_format(at - 123, 0, 0) == "2026-01-05T09:00:00Z"
    with pytest.raises(ValueError, match="fraction digits"):
        iso_format(at, 0, 0)
    assert parse_start("2026-01-05T03:30:00.123456-05:30") == at == parse_start("2026-01-05T11:00:00.123999+02:00")


# -- mix and locale --------------------------------------------------------------------------------------


def test_mix_draws_sessions_by_weight() -> None:
    counts = Counter(s.scenario for s in sessions("saas", 2000, mix={"saas": 3, "mobile": 1, "edge": 0}))
    assert set(counts) == {"saas", "mobile"}
    assert 2.5 < counts["saas"] / counts["mobile"] < 3.6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("saas=3,shop=1", "unknown scenario 'shop' in mix"),
        ("saas=x", "weight of 'saas' must be a whole number"),
        ("saas=-1", "weight of 'saas' must not be negative"),
        ("saas=0", "at least one scenario with a positive weight"),
    ],
)
def test_bad_mix(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text)
    assert parse_mix("saas=3, edge") == {"saas": 3, "edge": 1}


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'shop'"):
        generate(5, scenario="shop")


def test_locale_changes_names_and_currency() -> None:
    events = generate(400, seed=1, locale="ja_JP")
    ja = load_pools("ja_JP")
    names = {e["traits"].get("lastName") for e in events if e["type"] == "identify"}
    assert names & set(ja.last_names)
    assert {e["properties"]["currency"] for e in events if "currency" in e.get("properties", {})} == {"JPY"}
    assert {e["context"]["locale"] for e in events} == {"ja-JP"}


def test_bundled_pools_are_complete_and_other_locales_come_from_faker() -> None:
    for locale in BUNDLED_LOCALES:
        pools = load_pools(locale)
        assert all(
            len(getattr(pools, f)) >= 3
            for f in ("first_names", "last_names", "companies", "cities", "free_email_domains")
        )
    italian = build_pools("it_IT")
    assert italian.first_names and italian.locale == "it_IT"
    events = generate(50, seed=1, locale="it_IT")
    assert all(validate_event(e) == [] for e in events)
    with pytest.raises(ValueError, match="unknown locale 'xx_YY'"):
        build_pools("xx_YY")


def test_start_option() -> None:
    events = generate(5, seed=1, start="2030-06-01T00:00:00Z")
    assert events[0]["timestamp"].startswith("2030-06-01T00:")
    assert parse_start(None) == parse_start("2026-01-05T09:00:00Z")
    assert iso_ms(parse_start("2026-01-05T10:00:00+01:00")) == "2026-01-05T09:00:00.000Z"
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_start("tomorrow")
