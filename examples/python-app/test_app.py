"""The app's Segment calls, captured by the fake Segment API (the real segment-analytics-python client posts to
it), turned into the Pendo records they should produce; then the whole chain: captured events delivered as
Segment delivers them to a relay, which posts to the fake Pendo server, checked against the same expectation.
"""

from __future__ import annotations

import pytest
from signup_app import SignupService, Workspace, make_client

from pytest_segpendo.relay import Relay


@pytest.fixture
def service(segpendo):
    """The app, its Segment client pointed at the fake Segment API with the write key the fake requires (made up
    for the session: ``segpendo.keys``). With another key the fake would answer 200 and drop every event, as
    Segment does."""
    return SignupService(make_client(segpendo.keys.write_key, segpendo.segment.url))


def run_the_app(service: SignupService) -> None:
    acme = Workspace("ws-acme", "Acme", "free", 3)
    service.sign_up("u-ada", "ada@acme.test", "Ada", acme)
    service.sign_up("u-bob", "bob@acme.test", "Bob", acme)
    service.view_page("u-ada", "Dashboard")
    service.create_report("u-ada", widgets=4)
    service.upgrade("u-bob", "pro")


@pytest.mark.segpendo(profile="track-api+metadata")
def test_the_apps_calls_become_the_right_pendo_records(segpendo, service):
    run_the_app(service)
    captured = segpendo.segment.events()
    assert [e["type"] for e in captured] == [
        "identify",
        "group",
        "track",
        "identify",
        "group",
        "track",
        "page",
        "track",
        "group",
        "track",
    ]
    assert segpendo.segment.duplicates == 0 and segpendo.segment.rejected == []

    expectation = segpendo.expect(captured)
    state = {(r["kind"], r.get("id") or r["event"]): r for r in expectation.state}
    assert state[("visitor", "u-ada")]["metadata"] == {
        "email": "ada@acme.test",
        "name": "Ada",
        "plan": "free",
        "createdAt": "2026-01-05T09:00:00Z",
    }
    assert state[("account", "ws-acme")]["metadata"] == {
        "name": "Acme",
        "plan": "pro",
        "seats": 3,
    }  # the upgrade merged in
    tracks = [(r["event"], r["visitorId"], r["accountId"]) for r in expectation.stream if r["kind"] == "track"]
    assert tracks == [
        ("Signed Up", "u-ada", "ws-acme"),
        ("Signed Up", "u-bob", "ws-acme"),
        ("Report Created", "u-ada", "ws-acme"),
        ("Plan Upgraded", "u-bob", "ws-acme"),
    ]
    assert expectation.ignored_summary() == {"page": 1}


@pytest.mark.segpendo(profile="track-api+metadata")
def test_the_whole_chain_through_a_relay(segpendo, service):
    run_the_app(service)
    captured = segpendo.segment.events()
    assert len(captured) == 10, "the app's calls were not captured: nothing would be checked"
    keys = segpendo.keys  # the keys the fake Pendo server requires, made up for the session
    with Relay(
        segpendo.pendo.url, track_secret=keys.track_secret, integration_key=keys.integration_key, secret="wh"
    ) as relay:
        report = segpendo.check(relay.url, events=captured, via="webhook", secret="wh")
    assert report.matched == report.expected_records == 7  # 2 visitors and 1 account (state view), 4 track events
