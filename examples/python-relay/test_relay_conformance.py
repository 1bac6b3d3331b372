"""The relay's conformance tests: what a team writes for its own Segment -> Pendo relay.

The relay here is the toolkit's reference relay (``pytest_segpendo.relay``: signed Segment webhooks in,
Pendo Track Events and Metadata APIs out); the ``relay`` fixture in ``conftest.py`` is the one place to change
for yours.
"""

from __future__ import annotations

import pytest


def test_saas_traffic_reaches_pendo_as_the_profile_says(segpendo, relay):
    report = segpendo.check(relay.url, via="webhook", secret=relay.secret)
    assert report.matched == report.expected_records > 0


@pytest.mark.segpendo(mix={"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1}, count=400, seed=1)
def test_edge_cases_in_webhooks_actions_batches(segpendo, relay):
    segpendo.check(relay.url, via="webhook-actions", batch_size=20, secret=relay.secret)


def test_forged_webhooks_are_refused(segpendo, relay):
    from pytest_segpendo.delivery import deliver

    forged = deliver(segpendo.events[:5], relay.url, "webhook", secret="not-the-secret", max_attempts=1)
    assert forged.failed == 5 and {f.status for f in forged.failures} == {401}
    assert segpendo.pendo.records() == []
