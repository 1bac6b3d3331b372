"""Conformance of a web page with the real analytics.js, the Pendo Web (Actions) destination and the real agent.

Generated Segment traffic is cut into visits per browser; each visit is one page load in headless Chromium,
where page.html loads the real analytics.js (``@segment/analytics-next``) and the real Pendo agent
(``@pendo/agent``), registers destination.js as an analytics-next destination plugin and makes the visit's
Segment calls (``analytics.identify(userId, traits)``, ``analytics.group(...)``, ``analytics.track(...)``).
analytics.js builds each event from its own memory (merged traits, remembered ids) and hands it to the
destination; the agent sends its beacons to the fake Pendo server; ``segpendo.check()`` compares what arrived
with the profile ``web-actions``, which predicts analytics.js's memory too.

Run: ``python -m pytest -q examples/web-actions`` (add ``--segpendo-seed N`` for other traffic).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from browser import Runner, missing, visits

from pytest_segpendo.profiles import get_profile

pytestmark = pytest.mark.segpendo(profile="web-actions", scenario="saas", count=120)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chromium() -> None:
    """Chromium, analytics-next and the agent are needed: without them fail in CI (env CI set), skip elsewhere."""
    problem = missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param("saas", marks=pytest.mark.segpendo(scenario="saas", count=120)),
        pytest.param("edge", marks=pytest.mark.segpendo(scenario="edge", count=46)),  # each edge case once
    ],
)
def test_the_page_sends_pendo_what_the_profile_says(segpendo, chromium, scenario):
    events = segpendo.events
    results = Runner(segpendo.pendo.url, api_key=segpendo.keys.api_key).run(events)

    # nothing to send: the browsers have sent; compare what Pendo got, merged (state) and as it came (stream)
    state = segpendo.check(view="state")
    stream = segpendo.check(view="stream")

    assert len(results) == len(visits(events)) > 1
    for report in (state, stream):
        assert report.expected_records > 0 and report.matched == report.expected_records
    kinds = {r["kind"] for r in segpendo.pendo.records()}
    assert {"visitor", "account", "track"} <= kinds
    assert segpendo.pendo.duplicates == 0  # the agent took every answer: nothing was sent twice
    # what analytics-next handed the destination is what the profile says it builds from the page's calls
    built = get_profile("web-actions").analytics_events(events)
    predicted = [built[i] for v in visits(events) for i in v.positions if isinstance(built[i], dict)]
    received = [event for r in results for event in r.report["events"]]
    assert received == [_essentials(e) for e in predicted]


def _essentials(event: dict[str, Any]) -> dict[str, Any]:
    """The fields of an analytics-next event the destination's default mappings read, as destination.js reports
    them (page events get properties from the browser: only their type and user are compared)."""
    out = {"type": event["type"], "userId": event.get("userId")}
    for key in {"identify": ("traits",), "group": ("groupId", "traits"), "track": ("event", "properties")}.get(
        event["type"], ()
    ):
        out[key] = event.get(key)
    context = event.get("context")
    if event["type"] == "identify" and isinstance(context, dict) and context.get("groupId") is not None:
        out["contextGroupId"] = context["groupId"]
    return out


# Hand-written cases of analytics.js's memory (fixtures/golden/cases): the page's calls, what analytics.js hands
# the destination (`sent`, null for none), and the records the profile expects; each case is its own browser.
MEMORY = json.loads((ROOT / "fixtures" / "golden" / "cases" / "web-actions-analytics-memory.json").read_text("utf-8"))


@pytest.mark.slow
def test_real_analytics_next_remembers_traits_as_the_profile_predicts(segpendo, chromium):
    """A second identify with only a new trait reaches Pendo with the old ones; a later group without
    parentAccount still joins the account as parent::child; and the rest of analytics.js's memory and argument
    handling, case by case, as the profile predicts it."""
    events = [event for case in MEMORY["cases"] for event in case["events"]]
    results = Runner(segpendo.pendo.url, api_key=segpendo.keys.api_key).run(events)

    pages: dict[str, list[dict[str, Any]]] = {}  # each case is one browser: its visits' reports, in order
    for r in results:
        pages.setdefault(r.browser, []).append(r.report)
    assert len(pages) == len(MEMORY["cases"]) < len(results)  # the returning browser makes two visits
    for case in MEMORY["cases"]:
        visited = pages[case["events"][0]["anonymousId"]]
        # analytics-next built these events from its own memory and handed them to the destination
        assert [e for page in visited for e in page["events"]] == [s for s in case["sent"] if s is not None], case[
            "name"
        ]
        rejected = [r for page in visited for r in page["rejected"]]
        assert len(rejected) == case["sent"].count(None), case["name"]
        assert all(r["error"] == "Event missing" for r in rejected)
    # the profile predicts the same events
    profile = get_profile("web-actions")
    for case in MEMORY["cases"]:
        predicted = profile.analytics_events(case["events"])
        assert [_essentials(e) if isinstance(e, dict) else None for e in predicted] == case["sent"], case["name"]
    # another user id: analytics.js forgot the browser's anonymous id and made up another
    assert pages["anon-switch"][-1]["storageAfter"]["ajs_anonymous_id"] not in ('"anon-switch"', None)

    records = segpendo.pendo.records()  # the stream: every write as it came
    # the second identify carried only `logins`, and Pendo got the old traits with it
    (write,) = [r for r in records if r["kind"] == "visitor" and r["id"] == "ada" and "logins" in r["metadata"]]
    assert {"email": "ada@example.com", "plan": "free", "logins": 2}.items() <= write["metadata"].items()
    # the second group call carried no parentAccount, and the account stayed parent::child
    (seats,) = [r for r in records if r["kind"] == "account" and "seats" in r["metadata"] and "child" in r["id"]]
    assert seats == {
        "kind": "account",
        "id": "parent-1::child-1",
        "metadata": {"name": "Child", "seats": 5},
        "parentAccountId": "parent-1",
    }
    tracks = {t["event"]: t for t in records if t["kind"] == "track"}
    assert tracks["Seat Added"]["accountId"] == "parent-1::child-1"
    assert [tracks[name]["properties"] for name in ("Listed", "Texted", "Nulled")] == [{}, {}, {}]

    # every record, in both views, is what the profile expects
    for view in ("stream", "state"):
        segpendo.check(events=events, view=view)


@pytest.mark.slow
def test_a_wrong_destination_fails_naming_the_field(segpendo, chromium):
    """destination.js with a deliberate mistake (identify drops the visitor's traits): the check says where."""
    events = segpendo.traffic(40)  # a few browsers are enough
    assert any(e["type"] == "identify" and e.get("traits") for e in events)
    Runner(segpendo.pendo.url, api_key=segpendo.keys.api_key, bugs=["dropVisitorTraits"]).run(events)

    report = segpendo.verify(events=events)  # verify: the report, without failing this test

    assert not report.conforms
    failing = report.failing()
    # only visitors differ (accounts and tracks are right), and only in their metadata
    assert failing and {(d.cls, d.kind) for d in failing} == {("changed", "visitor")}, report.format()
    assert all(f.path[0] == "metadata" for d in failing for f in d.fields), report.format()
    # the failure message names the record and the field
    assert re.search(r'\n  changed visitor "[^"]+":\n      metadata(\.\w+)?: expected ', report.format()), (
        report.format()
    )
