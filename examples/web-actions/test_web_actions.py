"""Conformance of a web page with the Pendo Web (Actions) destination and the real Pendo agent.

Generated Segment traffic (scenario ``saas``: marketing pages, sign-up, identify, group, product use; returning
users come back in the same browser) is cut into visits per browser; each visit is one page load in headless
Chromium, where page.html loads the real agent (``@pendo/agent``) and destination.js makes the destination's
calls. The agent sends its beacons to the fake Pendo server; ``segpendo.check()`` compares what arrived with
the profile ``web-actions``.

Run: ``python -m pytest -q examples/web-actions`` (add ``--segpendo-seed N`` for other traffic).
"""

from __future__ import annotations

import os
import re

import pytest
from browser import Runner, missing, visits

pytestmark = pytest.mark.segpendo(profile="web-actions", scenario="saas", count=120)


@pytest.fixture
def chromium() -> None:
    """Chromium and the agent are needed: without them fail in CI (env CI set), skip elsewhere."""
    problem = missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def test_the_page_sends_pendo_what_the_profile_says(segpendo, chromium):
    events = segpendo.events
    results = Runner(segpendo.pendo.url).run(events)

    report = segpendo.check()  # nothing to send: the browsers have sent, compare what Pendo got

    assert len(results) == len(visits(events)) > len({r.browser for r in results}) > 1  # returning browsers too
    assert report.expected_records > 0 and report.matched == report.expected_records
    kinds = {r["kind"] for r in segpendo.pendo.records()}
    assert {"visitor", "account", "track"} <= kinds
    assert segpendo.pendo.duplicates == 0  # the agent took every answer: nothing was sent twice


def test_a_wrong_destination_fails_naming_the_field(segpendo, chromium):
    """destination.js with a deliberate mistake (identify drops the visitor's traits): the check says where."""
    events = segpendo.traffic(40)  # a few browsers are enough
    assert any(e["type"] == "identify" and e.get("traits") for e in events)
    Runner(segpendo.pendo.url, bugs=["dropVisitorTraits"]).run(events)

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
