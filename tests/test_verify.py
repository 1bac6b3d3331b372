"""The diff engine: matching, classes, tolerances and matchers, the report's text and JSON, determinism."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_segpendo.profiles import expect
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import ABSENT, DiffOptions, Matcher, Observed, compare, diff


def visitor(id: Any, **metadata: Any) -> dict[str, Any]:
    return {"kind": "visitor", "id": id, "metadata": metadata}


def account(id: str, parent: str | None = None, **metadata: Any) -> dict[str, Any]:
    return {"kind": "account", "id": id, "metadata": metadata, "parentAccountId": parent}


def track(
    event: str, vid: Any, aid: str | None = None, ts: int | None = 1_700_000_000_000, **props: Any
) -> dict[str, Any]:
    return {
        "kind": "track",
        "event": event,
        "visitorId": vid,
        "accountId": aid,
        "timestamp": ts,
        "properties": props,
        "context": {},
    }


STATE = DiffOptions(view="state")
STREAM = DiffOptions(view="stream")


def test_identical_records_conform_and_every_record_counts_as_matched() -> None:
    records = [visitor("u1", plan="pro"), account("a1", name="Initech"), track("Signed Up", "u1", "a1", plan="pro")]
    report = diff(records, copy.deepcopy(records), STATE)
    assert report.conforms
    assert report.matched == report.expected_records == 3
    assert report.summary == {
        "missing": 0,
        "unexpected": 0,
        "changed": 0,
        "duplicated": 0,
        "rejected": 0,
        "dropped": 0,
        "retry-duplicate": 0,
        "order-dependent": 0,
        "ignored": 0,
        "warnings": 0,
    }
    assert report.format().startswith("segpendo: conforms (state view): 3 of 3 expected records received as expected")


def test_a_changed_field_names_the_record_the_path_and_both_values() -> None:
    report = diff([visitor("u1", plan="pro", seats=10)], [visitor("u1", plan="free")], STATE)
    [d] = report.differences
    assert (d.cls, d.kind, d.label) == ("changed", "visitor", 'visitor "u1"')
    assert [(f.where, f.expected, f.actual) for f in d.fields] == [
        ("metadata.plan", "pro", "free"),
        ("metadata.seats", 10, ABSENT),
    ]
    assert d.lines() == [
        'changed visitor "u1":',
        '    metadata.plan: expected "pro", got "free"',
        "    metadata.seats: expected 10, got (absent)",
    ]
    assert report.summary["changed"] == 1, "a changed record counts once however many fields differ"


def test_an_entity_whose_id_changed_is_one_changed_record() -> None:
    expected = [visitor("Zoë", name="Zoë", plan="pro", seats=3), visitor("u2", plan="free")]
    observed = [visitor("Zo?", name="Zo?", plan="pro", seats=3), visitor("someone-else", plan="enterprise")]
    report = diff(expected, observed, STATE)
    assert [(d.cls, d.label, [(f.where, f.expected, f.actual) for f in d.fields]) for d in report] == [
        ("missing", 'visitor "u2"', []),
        ("unexpected", 'visitor "someone-else"', []),
        ("changed", 'visitor "Zoë"', [("id", "Zoë", "Zo?"), ("metadata.name", "Zoë", "Zo?")]),
    ]


def test_missing_and_unexpected_records_of_every_kind() -> None:
    expected = [visitor("u1"), account("a1"), {"kind": "parentAccount", "id": "p1", "metadata": {}}, track("E", "u1")]
    observed = [visitor("u2"), track("F", "u9", ts=5)]
    report = diff(expected, observed, STATE)
    got = {(d.cls, d.label) for d in report}
    assert got == {
        ("missing", 'visitor "u1"'),
        ("missing", 'account "a1"'),
        ("missing", 'parent account "p1"'),
        ("missing", 'track "E" (visitor "u1", at 2023-11-14T22:13:20.000Z)'),
        ("unexpected", 'visitor "u2"'),
        ("unexpected", 'track "F" (visitor "u9", at 1970-01-01T00:00:00.005Z)'),
    }
    assert report.by_kind == {
        "missing": {"visitor": 1, "account": 1, "parentAccount": 1, "track": 1},
        "unexpected": {"visitor": 1, "track": 1},
    }


def test_a_track_sent_twice_is_duplicated_not_unexpected() -> None:
    t = track("Invite Sent", "u1", "a1", n=1)
    report = diff([t, track("Other", "u1")], [t, dict(t), dict(t), track("Other", "u1")], STREAM)
    [d] = report.differences
    assert (d.cls, d.count) == ("duplicated", 2)
    assert report.summary["duplicated"] == 2
    assert d.lines() == [
        'duplicated track "Invite Sent" (visitor "u1", account "a1", at 2023-11-14T22:13:20.000Z): received 2 more '
        "times than expected"
    ]


def test_a_wrong_visitor_account_or_event_name_is_a_change_of_that_field() -> None:
    expected = [
        track("A", "u1", "a1", ts=1_000, x=1),
        track("B", "u2", "a2", ts=2_000, x=2),
        track("Signed Up", "u3", ts=3_000),
    ]
    observed = [
        track("A", "u1-wrong", "a1", ts=1_000, x=1),
        track("B", "u2", None, ts=2_000, x=2),
        track("signed up", "u3", ts=3_000),
    ]
    report = diff(expected, observed, STREAM)
    changed = {(d.expected["event"], f.where, f.expected, f.actual) for d in report.of("changed") for f in d.fields}
    assert changed == {
        ("A", "visitorId", "u1", "u1-wrong"),
        ("B", "accountId", "a2", None),
        ("Signed Up", "event", "Signed Up", "signed up"),
    }
    assert report.summary["missing"] == report.summary["unexpected"] == 0


def test_tracks_of_one_identity_pair_by_nearest_timestamp_and_closest_properties() -> None:
    expected = [
        track("View", "u1", ts=1_000, page="a"),
        track("View", "u1", ts=5_000, page="b"),
        track("View", "u1", ts=9_000, page="c"),
    ]
    observed = [
        track("View", "u1", ts=9_000, page="c"),
        track("View", "u1", ts=1_000, page="a"),
        track("View", "u1", ts=5_000, page="B"),
    ]
    report = diff(expected, observed, STREAM)
    [d] = report.differences
    assert [(f.where, f.expected, f.actual) for f in d.fields] == [("properties.page", "b", "B")]


def test_timestamp_tolerance() -> None:
    expected = [track("E", "u1", ts=10_000), track("F", "u1", ts=10_000)]
    observed = [track("E", "u1", ts=10_400), track("F", "u1", ts=12_000)]
    report = diff(expected, observed, DiffOptions(view="stream", timestamp_tolerance_ms=500))
    [d] = report.differences
    assert d.expected["event"] == "F" and [(f.where, f.expected, f.actual) for f in d.fields] == [
        ("timestamp", 10_000, 12_000)
    ]
    assert diff(expected, observed, DiffOptions(view="stream", timestamp_tolerance_ms=None)).conforms
    assert len(diff(expected, observed, STREAM).of("changed")) == 2


def test_ignored_paths_with_wildcards() -> None:
    expected = [visitor("u1", plan="pro", updatedAt=1), account("a1", updatedAt=1), track("E", "u1")]
    observed = [
        visitor("u1", plan="pro", updatedAt=2),
        account("a1", updatedAt=3),
        {**track("E", "u1"), "context": {"ip": "1.2.3.4"}},
    ]
    assert not diff(expected, observed, STATE).conforms
    assert diff(
        expected, observed, DiffOptions(view="state", ignore_paths=("*.metadata.updatedAt", "track.context"))
    ).conforms
    with pytest.raises(ValueError, match="must start with visitor, account, parentAccount, track or"):
        DiffOptions(ignore_paths=("metadata.x",))


def test_agent_fields_are_compared_only_when_expected() -> None:
    options = DiffOptions(view="state", agent_fields=("visitor.metadata.language",))
    assert diff([visitor("u1", plan="pro")], [visitor("u1", plan="pro", language="en-US")], options).conforms
    report = diff([visitor("u1", language="fr")], [visitor("u1", language="en-US")], options)
    assert [(f.where, f.expected, f.actual) for d in report for f in d.fields] == [("metadata.language", "fr", "en-US")]


def test_anonymous_ids_the_agent_makes_up_match_the_pattern() -> None:
    expected = [visitor("_PENDO_T_*"), track("Clicked", "_PENDO_T_*", ts=None), visitor("u1")]
    observed = [visitor("_PENDO_T_aB3dE5fG7hI"), track("Clicked", "_PENDO_T_aB3dE5fG7hI", ts=None), visitor("u1")]
    options = DiffOptions(view="state", anonymous_ids=True)
    assert diff(expected, observed, options).conforms
    assert not diff(expected, observed, DiffOptions(view="state")).conforms
    # an explicit _PENDO_T_<anonymousId> that the mapping predicts is compared exactly
    report = diff([visitor("_PENDO_T_anon-1")], [visitor("_PENDO_T_anon-2")], options)
    assert {d.cls for d in report} == {"missing", "unexpected"}


def test_number_ids_equal_their_strings_unless_strict() -> None:
    expected = [visitor("42", plan="pro"), track("E", "42", "7")]
    observed = [visitor(42, plan="pro"), track("E", 42, 7)]  # type: ignore[arg-type]
    assert diff(expected, observed, STATE).conforms
    strict = diff(expected, observed, DiffOptions(view="state", ids_as_strings=False))
    assert [(d.cls, d.label, [(f.where, f.expected, f.actual) for f in d.fields]) for d in strict] == [
        ("changed", 'visitor "42"', [("id", "42", 42)]),
        (
            "changed",
            'track "E" (visitor "42", account "7", at 2023-11-14T22:13:20.000Z)',
            [("accountId", "7", 7), ("visitorId", "42", 42)],
        ),
    ]


def test_state_view_compares_merged_writes_stream_view_compares_every_write() -> None:
    expected = [visitor("u1", plan="free", seats=1), visitor("u1", plan="pro")]
    observed = [visitor("u1", plan="pro", seats=1)]
    assert diff(expected, observed, STATE).conforms
    stream = diff(expected, observed, STREAM)
    assert [(d.cls, [(f.where, f.expected, f.actual) for f in d.fields]) for d in stream] == [
        ("missing", []),
        ("changed", [("metadata.plan", "free", "pro")]),
    ]


def test_stream_view_collapses_repeated_identical_writes_when_asked() -> None:
    expected = [visitor("u1", plan="pro")]
    observed = [visitor("u1", plan="pro"), visitor("u1", plan="pro")]
    assert diff(expected, observed, STREAM).of("duplicated")[0].count == 1
    assert diff(expected, observed, DiffOptions(view="stream", collapse_repeats=True)).conforms


def test_refusals_fail_warnings_and_ignored_events_do_not() -> None:
    rejected = [
        {
            "request": 3,
            "route": "track",
            "method": "POST",
            "path": "/data/track",
            "status": 400,
            "reason": "timestamp: required",
        }
    ]
    warnings = [
        {
            "request": 4,
            "route": "track",
            "rule": "property-name",
            "detail": "properties.'a b': letters, digits and _ only",
        }
    ]
    events = [{"type": "page", "anonymousId": "x", "messageId": "m", "timestamp": "2026-01-01T00:00:00.000Z"}]
    ignored = expect(events, "track-api").ignored
    report = diff([], [], STATE, rejected=rejected, warnings=warnings, ignored=ignored)
    assert not report.conforms
    assert report.summary == {
        "missing": 0,
        "unexpected": 0,
        "changed": 0,
        "duplicated": 0,
        "rejected": 1,
        "dropped": 0,
        "retry-duplicate": 0,
        "order-dependent": 0,
        "ignored": 1,
        "warnings": 1,
    }
    text = report.format()
    assert "    rejected: HTTP 400: timestamp: required (e.g. request POST /data/track)" in text
    assert "property-name x1" in text and "ignored (no Pendo record by design): page 1" in text
    assert diff([], [], STATE, warnings=warnings, ignored=ignored).conforms


def test_custom_matchers_declare_values_equal_at_a_path() -> None:
    expected = [track("E", "u1", sessionId="s-1", total=10.0)]
    observed = [track("E", "u1", sessionId="generated-77", total=10.004)]
    options = DiffOptions(
        view="stream",
        matchers=(
            Matcher("track.properties.sessionId", lambda e, a: isinstance(a, str)),
            Matcher("track.properties.total", lambda e, a: abs(e - a) < 0.01),
        ),
    )
    assert diff(expected, observed, options).conforms
    assert not diff(expected, observed, STREAM).conforms


def test_the_text_report_shows_the_first_k_and_counts_the_rest() -> None:
    expected = [visitor(f"u{i}", plan="pro", a=1, b=2, c=3, d=4, e=5, f=6) for i in range(30)]
    observed = [visitor(f"u{i}", plan="free", a=0, b=0, c=0, d=0, e=0, f=0) for i in range(30)]
    report = diff(expected, observed, DiffOptions(view="state", limit=4))
    lines = report.format().splitlines()
    assert (
        lines[0]
        == "segpendo: Pendo did not get what was expected (state view): 30 changed; 0 of 30 expected records matched"
    )
    assert lines[1:5] == [
        "  fields that differ most:",
        "    visitor metadata.a: 30 records (e.g. expected 1, got 0)",
        "    visitor metadata.b: 30 records (e.g. expected 2, got 0)",
        "    visitor metadata.c: 30 records (e.g. expected 3, got 0)",
    ]
    assert lines[7:9] == ["    ... and 2 more fields", '  changed visitor "u0":']
    assert "    ... and 2 more fields" in [line[2:] for line in lines]
    assert "  ... and 26 more differences (the JSON report lists them all)" in lines
    assert lines[-1].startswith("summary: missing 0; unexpected 0; changed 30 (visitor 30)")


def test_json_report_shape_and_values() -> None:
    report = diff([visitor("u1", plan="pro")], [visitor("u1")], STATE, seed=7, reproduce="segpendo check --seed 7")
    data = json.loads(json.dumps(report.as_json()))
    assert set(data) >= {"conforms", "summary", "differences"}
    assert data["conforms"] is False and data["seed"] == 7
    assert data["differences"] == [
        {
            "class": "changed",
            "kind": "visitor",
            "record": 'visitor "u1"',
            "fields": [{"path": "metadata.plan", "expected": "pro"}],
            "expected": visitor("u1", plan="pro"),
            "observed": visitor("u1"),
        }
    ]
    assert report.format().splitlines()[-1] == "reproduce: segpendo check --seed 7"


def test_paths_with_odd_keys_and_list_indexes_read_like_code() -> None:
    report = diff(
        [track("E", "u", items=[{"sku": "a"}], **{"first name": "Ada"})],
        [track("E", "u", items=[{"sku": "b"}], **{"first name": "Bo"})],
        STREAM,
    )
    assert [f.where for d in report for f in d.fields] == ['properties["first name"]', "properties.items[0].sku"]


def test_the_order_of_observed_records_does_not_change_the_report() -> None:
    events = generate(400, seed=21, mix={"saas": 3, "edge": 1})
    expected = expect(events, "track-api+metadata").stream
    observed = copy.deepcopy(expected)
    rnd = random.Random(5)
    for r in rnd.sample(observed, 20):
        (r.get("properties") if r["kind"] == "track" else r["metadata"])["mutated"] = True
    del observed[3]
    observed.append(track("Ghost", "nobody"))
    reports = []
    for seed in range(3):
        shuffled = observed[:]
        random.Random(seed).shuffle(shuffled)
        reports.append(json.dumps(diff(expected, shuffled, STREAM).as_json(), sort_keys=True))
    assert reports[0] == reports[1] == reports[2]


def test_compare_with_an_expectation_uses_the_profile_hints() -> None:
    events = generate(200, seed=4, scenario="saas")
    expectation = expect(events, "web-actions")
    observed = copy.deepcopy(expectation.stream)
    for r in observed:
        if r["kind"] == "track":
            r["context"] = {"url": "https://app.example.com"}
            r["timestamp"] = (r["timestamp"] or 0) + 1234  # the browser's clock
        if r["kind"] == "visitor":
            r["metadata"]["language"] = "en-US"
            if r["id"] == "_PENDO_T_*":
                r["id"] = "_PENDO_T_zz9y8x7w6v5"
        if r["kind"] == "track" and r["visitorId"] == "_PENDO_T_*":
            r["visitorId"] = "_PENDO_T_zz9y8x7w6v5"
    report = compare(expectation, observed)
    assert report.view == "state" and report.profile == "web-actions"
    assert report.conforms, report.format()
    assert report.summary["ignored"] == len(expectation.ignored) > 0


def test_observed_equals_expectation_in_an_assert() -> None:
    expectation = expect(
        [{"type": "track", "userId": "u1", "event": "E", "messageId": "m1", "timestamp": "2026-01-05T09:00:00.000Z"}],
        "track-api",
    )
    good = Observed(copy.deepcopy(expectation.stream))
    assert good == expectation
    bad = Observed([{**expectation.stream[0], "event": "e"}])
    assert not (bad == expectation)  # noqa: SIM201 - __eq__ is what is tested
    assert bad.last_report is not None and bad.last_report.summary["changed"] == 1


def test_bad_options_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="unknown view 'merged': use state or stream"):
        DiffOptions(view="merged")
    with pytest.raises(ValueError, match="timestamp tolerance must not be negative"):
        DiffOptions(timestamp_tolerance_ms=-1)


# -- planted differences are reported exactly, and agree with DeepDiff on what differs ----------------------------


def _population(rnd: random.Random, n_tracks: int, n_visitors: int, n_accounts: int) -> list[dict[str, Any]]:
    out = [visitor(f"u{i}", plan=rnd.choice(["free", "pro"]), seats=rnd.randint(1, 9)) for i in range(n_visitors)]
    out += [account(f"a{i}", name=f"Acct {i}") for i in range(n_accounts)]
    out += [
        track(
            rnd.choice("ABC"),
            f"u{rnd.randrange(n_visitors)}",
            f"a{rnd.randrange(n_accounts)}",
            1_700_000_000_000 + i,
            n=i,
        )
        for i in range(n_tracks)
    ]
    return out


def plant(
    records: list[dict[str, Any]], rnd: random.Random, changed: int, missing: int, unexpected: int
) -> tuple[list[dict[str, Any]], set[int], set[int], int]:
    observed = copy.deepcopy(records)
    picks = rnd.sample(range(len(records)), changed + missing)
    changed_at, missing_at = set(picks[:changed]), set(picks[changed:])
    for i in changed_at:
        r = observed[i]
        (r["properties"] if r["kind"] == "track" else r["metadata"])["planted"] = i
    observed = [r for i, r in enumerate(observed) if i not in missing_at]
    observed += [track("Planted", f"x{k}", None, 5, k=k) for k in range(unexpected)]
    rnd.shuffle(observed)
    return observed, changed_at, missing_at, unexpected


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 6), st.integers(0, 6), st.integers(0, 6))
def test_every_planted_difference_is_reported_exactly(seed: int, changed: int, missing: int, unexpected: int) -> None:
    rnd = random.Random(seed)
    expected = _population(rnd, 60, 15, 4)
    observed, changed_at, missing_at, n_unexpected = plant(expected, rnd, changed, missing, unexpected)
    report = diff(expected, observed, STATE)
    assert report.summary["changed"] == len(changed_at)
    assert report.summary["missing"] == len(missing_at)
    assert report.summary["unexpected"] == n_unexpected
    assert {json.dumps(d.expected, sort_keys=True) for d in report.of("changed")} == {
        json.dumps(expected[i], sort_keys=True) for i in changed_at
    }
    assert {json.dumps(d.expected, sort_keys=True) for d in report.of("missing")} == {
        json.dumps(expected[i], sort_keys=True) for i in missing_at
    }
    assert all(
        f.where == "properties.planted" or f.where == "metadata.planted" for d in report.of("changed") for f in d.fields
    )


def test_agrees_with_deepdiff_on_which_records_differ() -> None:
    rnd = random.Random(11)
    expected = _population(rnd, 150, 40, 10)
    observed, changed_at, missing_at, _ = plant(expected, rnd, 4, 3, 2)
    report = diff(expected, observed, STATE)
    naive = DeepDiff(
        expected, observed, ignore_order=True, view="tree", cutoff_intersection_for_pairs=1, cutoff_distance_for_pairs=1
    )
    gone = {json.dumps(level.t1, sort_keys=True) for key in ("iterable_item_removed",) for level in naive.get(key, [])}
    gone |= {
        json.dumps(expected[level.path(output_format="list")[0]], sort_keys=True)
        for key in ("values_changed", "dictionary_item_added", "type_changes")
        for level in naive.get(key, [])
    }
    ours = {json.dumps(d.expected, sort_keys=True) for d in report if d.cls in ("changed", "missing")}
    assert ours == gone


def test_timestamps_in_seconds_show_as_a_timestamp_change_of_every_track() -> None:
    expected = [track("View", "u1", ts=1_767_600_000_000 + i * 1000, n=i % 3) for i in range(50)]
    observed = [{**r, "timestamp": r["timestamp"] // 1000} for r in expected]
    report = diff(expected, observed, STREAM)
    assert report.summary["changed"] == 50 and report.summary["missing"] == report.summary["unexpected"] == 0
    assert all(
        [f.where for f in d.fields] == ["timestamp"] and d.fields[0].actual * 1000 == d.fields[0].expected
        for d in report
    )


def test_a_large_group_of_one_identity_pairs_each_record_with_its_nearest_in_time() -> None:
    expected = [track("Tick", "u1", ts=1_000_000 + i * 10, n=i) for i in range(150)]
    observed = [track("Tick", "u1", ts=1_000_000 + i * 10, n=i + 1000) for i in range(150)]
    report = diff(expected, observed, STREAM)
    assert report.summary["changed"] == 150
    assert all(d.expected["timestamp"] == d.observed["timestamp"] for d in report)


def test_the_report_text_shown_in_docs_verify_md_is_what_the_example_prints() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "verify.md").read_text(encoding="utf-8")
    code, shown = re.search(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", text, re.S).groups()  # type: ignore[union-attr]
    namespace: dict[str, Any] = {}
    exec(code.replace("print(report.format())", ""), namespace)
    assert namespace["report"].format() + "\n" == shown


def test_where_a_fake_got_a_record_is_not_compared() -> None:
    expected = [visitor("u1", plan="pro")]
    observed = [{**visitor("u1", plan="pro"), "source": {"route": "metadata", "request": 7}}]
    assert diff(expected, observed, STATE).conforms
