"""pytest_segpendo.scale.processes: the demo loop with the fake Pendo server in worker processes and the bundled
relay in its own process, this process sending. Small inputs only (a few hundred events)."""

from __future__ import annotations

import os

import pytest
import requests

from pytest_segpendo.relay import BROKEN
from pytest_segpendo.scale import run_scaled_check, scaled_stack, start_relay
from pytest_segpendo.traffic import generate

pytestmark = pytest.mark.skipif(os.name != "posix", reason="worker processes need POSIX")


@pytest.mark.slow
def test_the_scaled_loop_tells_the_correct_relay_from_a_broken_one() -> None:
    events = generate(300, 7)
    options = {"track_secret": "t", "integration_key": "i", "secret": "s", "workers": 2}
    good = run_scaled_check(events, **options, delivery_options={"concurrency": 8}, check_options={"quiet": 0.1})
    bad = run_scaled_check(
        events, **options, bugs=BROKEN, delivery_options={"concurrency": 8}, check_options={"quiet": 0.1}
    )
    assert good.report.conforms, good.report.format()
    assert good.delivery is not None and good.delivery.ok
    assert not bad.report.conforms
    assert good.observed is not None and len(good.observed.records) > 0


def test_a_stack_is_its_processes_and_they_stop_with_it() -> None:
    with scaled_stack(track_secret="t", integration_key="i", workers=2) as stack:
        pids = stack.pids
        assert len(pids) == 3 and os.getpid() not in pids
        answer = requests.post(stack.relay.url, json={"type": "page", "userId": "u"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["ignored"] == 1
        stack.raise_errors()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_relay_that_cannot_start_says_why() -> None:
    with pytest.raises(ValueError, match="unknown bug 'nope'"):
        start_relay("http://127.0.0.1:9", track_secret="t", integration_key="i", bugs=["nope"])
    with start_relay("http://127.0.0.1:9", track_secret="t", integration_key="i") as relay:
        taken = int(relay.url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="the relay did not start"):
            start_relay("http://127.0.0.1:9", track_secret="t", integration_key="i", port=taken)
