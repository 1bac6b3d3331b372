"""The correct Flask relay passes the default check: the test a team keeps for its own relay, as it is."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from flask_relay_bugs import running

from pytest_segpendo import cli
from pytest_segpendo.delivery import deliver

SEEDS = range(10)


@pytest.mark.parametrize("seed", [pytest.param(s, marks=pytest.mark.segpendo(seed=s)) for s in SEEDS])
def test_the_default_check_passes(segpendo: Any, flask_relay: str, seed: int) -> None:
    report = segpendo.check(flask_relay)
    assert report.matched == report.expected_records > 0


def test_signed_webhooks_and_forged_ones(segpendo: Any) -> None:
    keys = segpendo.keys
    with running(segpendo.pendo.url, keys.track_secret, keys.integration_key, shared_secret="webhook-secret") as url:
        forged = deliver(segpendo.events[:5], url, "webhook", secret="not-the-secret", max_attempts=1)
        assert forged.failed == 5 and {f.status for f in forged.failures} == {401}
        assert segpendo.pendo.records() == []
        segpendo.check(url, secret="webhook-secret")
        segpendo.check(url, via="webhook-actions", batch_size=10, secret="webhook-secret")


def test_pendo_429_and_5xx_are_retried_here(segpendo: Any, flask_relay: str) -> None:
    segpendo.pendo.faults.add(route="track", status=503, probability=0.2, seed=1)
    segpendo.pendo.faults.add(route="metadata", status=429, retry_after=0.05, probability=0.2, seed=2)
    segpendo.check(flask_relay)
    fired = sum(rule["fired"] for rule in segpendo.pendo.faults.as_json())
    assert fired > 10, "the faults did not fire: this test proves nothing"


def test_segment_redeliveries_reach_pendo_once(segpendo: Any, flask_relay: str) -> None:
    segpendo.check(flask_relay, redeliver=0.3, redeliver_seed=1)
    assert segpendo.delivery is not None and segpendo.delivery.redelivered > 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cli_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    with running(f"http://127.0.0.1:{port}", "track-secret", "integration-key") as url:
        code = cli.main(
            ["check", "--sut", url, "--via", "webhook", "--pendo-port", str(port)]
            + ["--track-secret", "track-secret", "--integration-key", "integration-key"]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "segpendo: conforms" in out


def test_pendo_down_for_a_while_then_segment_delivers_again(segpendo: Any, flask_relay: str) -> None:
    segpendo.pendo.faults.add(route="track", status=503, count=6)  # more than the relay's own 4 tries
    segpendo.check(flask_relay)
    assert segpendo.delivery is not None and segpendo.delivery.retried >= 1  # the relay answered 503 once
