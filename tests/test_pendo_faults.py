"""Injected faults on the fake Pendo server, over real HTTP: before or after processing, every fault recorded
with what it cost, rules given as JSON or from Python, kept across a reset when asked."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pytest_segpendo.fakes import FaultError
from pytest_segpendo.fakes.pendo import FakePendo, encode_jzb

KEY = {"x-pendo-integration-key": "k"}


def track(event: str = "E", visitor: str = "u1") -> dict[str, Any]:
    stamp = int(time.time() * 1000)
    return {"type": "track", "event": event, "visitorId": visitor, "timestamp": stamp, "properties": {}, "context": {}}


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo() as fake:
        yield fake
        fake.raise_errors()


def wait_idle(pendo: FakePendo, bound_s: float = 30) -> None:
    """Until the fake handles no request (bounded): a late answer is still being slept on."""
    deadline = time.monotonic() + bound_s
    while pendo.activity()[1] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pendo.activity()[1] == 0


def test_slow_after_processing_stores_the_record_and_answers_late(pendo: FakePendo) -> None:
    """Pendo processed the request but answered after the client's timeout (Segment's webhooks wait 5 s, its
    Actions 10 s): the client sees a timeout, the data is in Pendo, and a retry would send it twice."""
    pendo.faults.add(route="track", delay_ms=1500, phase="after")
    with pytest.raises(requests.Timeout):
        requests.post(pendo.url + "/data/track", json=track("Late"), headers=KEY, timeout=0.3)
    assert [r["event"] for r in pendo.records()] == ["Late"], "stored before the late answer"
    wait_idle(pendo)
    [injected] = pendo.injected
    assert injected == {
        "request": 1,
        "route": "track",
        "kind": "slow",
        "phase": "after",
        "status": None,
        "delay_ms": 1500,
        "retry_after": None,
        "processed": True,
        "answered": 200,
    }
    assert requests.post(pendo.url + "/data/track", json=track("Next"), headers=KEY, timeout=5).status_code == 200


def test_slow_before_processing_is_the_old_delay(pendo: FakePendo) -> None:
    """The default phase: the fake waits, then processes and answers (the request is not lost)."""
    pendo.faults.add(route="track", delay_ms=100)
    conn = http.client.HTTPConnection("127.0.0.1", pendo.port, timeout=10)
    conn.request("POST", "/data/track", body=json.dumps(track()), headers=KEY)
    assert conn.getresponse().status == 200
    assert len(pendo.records()) == 1
    assert pendo.injected[0]["kind"] == "slow" and pendo.injected[0]["phase"] == "before"
    assert pendo.injected[0]["processed"] is True


def test_a_status_fault_lists_the_records_the_request_would_have_made(pendo: FakePendo) -> None:
    """A 503 before processing: nothing is stored, and ``injected`` says what was lost at which request, so a
    report can say "lost after Pendo answered 503 at request #1"."""
    rules = [{"route": "track", "status": 503, "retry_after": 2}]
    assert requests.post(pendo.url + "/__segpendo/faults", json=rules, timeout=10).ok
    r = requests.post(pendo.url + "/data/track", json=track("Lost"), headers=KEY, timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert r.json()["error"] == "fault injected by the test (rule for route track, without processing the request)"
    assert pendo.records() == []
    [injected] = pendo.injected
    assert (injected["request"], injected["kind"], injected["status"], injected["retry_after"]) == (1, "status", 503, 2)
    assert injected["processed"] is False and injected["records_total"] == 1
    assert injected["records"][0]["event"] == "Lost" and injected["records"][0]["kind"] == "track"
    snapshot = requests.get(pendo.url + "/__segpendo/records", timeout=10).json()
    assert snapshot["injected"] == [injected]
    assert pendo.requests()[0]["outcome"] == "fault" and pendo.requests()[0]["processed"] is False


def test_a_status_fault_after_processing_keeps_the_data(pendo: FakePendo) -> None:
    """A 500 after processing: the client thinks it failed, yet Pendo has the data (a retry duplicates it)."""
    pendo.faults.add(route="metadata", status=500, phase="after")
    url = pendo.url + "/api/v1/metadata/visitor/custom/value?create=true"
    r = requests.post(url, json=[{"visitorId": "u1", "values": {"plan": "pro"}}], headers=KEY, timeout=10)
    assert r.status_code == 500 and "after processing the request" in r.json()["error"]
    assert pendo.records() == [{"kind": "visitor", "id": "u1", "metadata": {"plan": "pro"}}]
    injected = pendo.injected[0]
    assert injected["processed"] is True and injected["answered"] == 200 and "records" not in injected


def test_a_dropped_connection_lists_what_was_lost(pendo: FakePendo) -> None:
    jzb = encode_jzb([{"type": "meta", "props": {"visitor": {"id": "v1", "plan": "pro"}, "account": {"id": "a1"}}}])
    pendo.faults.add(route="ptm.gif", drop=True)
    with pytest.raises(requests.ConnectionError):
        requests.get(pendo.url + "/data/ptm.gif/key", params={"jzb": jzb}, timeout=5)
    assert pendo.records() == []
    injected = pendo.injected[0]
    assert injected["kind"] == "drop" and injected["status"] is None and injected["processed"] is False
    assert [(r["kind"], r["id"]) for r in injected["records"]] == [("visitor", "v1"), ("account", "a1")]
    assert requests.get(pendo.url + "/data/ptm.gif/key", params={"jzb": jzb}, timeout=5).status_code == 200


def test_would_be_records_are_bounded_and_bad_bodies_do_not_matter(pendo: FakePendo) -> None:
    pendo.faults.add(route="*", status=503, count=None)
    items = [{"visitorId": f"u{i}", "values": {"pad": "x" * 100}} for i in range(200)]
    requests.post(pendo.url + "/api/v1/metadata/visitor/custom/value", json=items, headers=KEY, timeout=10)
    requests.post(pendo.url + "/data/track", data=b"{not json", headers=KEY, timeout=10)
    requests.post(pendo.url + "/data/segmentio/key", json={"type": "identify", "userId": "u", "traits": {}})
    big, bad, classic = pendo.injected
    assert len(big["records"]) == 50 and big["records_total"] == 200 and big["records_truncated"] is True
    assert bad["records"] == [] and bad["undecodable"].startswith("body: not valid JSON")
    assert classic["records"] == [{"kind": "visitor", "id": "u", "metadata": {}}]


def test_rules_from_the_constructor_and_a_reset_that_keeps_them() -> None:
    """A check resets the fake before it runs: ``keep=faults`` keeps the user's rules, counting afresh."""
    rules = [{"route": "track", "status": 429, "retry_after": 1, "nth": 2}]
    with FakePendo(faults=rules) as pendo:

        def run() -> list[int]:
            return [
                requests.post(pendo.url + "/data/track", json=track(), headers=KEY, timeout=10).status_code
                for _ in range(3)
            ]

        assert run() == [200, 429, 200]
        r = requests.post(pendo.url + "/__segpendo/reset?keep=faults", timeout=10)
        assert r.json() == {"reset": True, "kept": ["faults"]}
        assert pendo.records() == [] and pendo.injected == []
        assert pendo.faults.as_json()[0]["matched"] == 0
        assert run() == [200, 429, 200], "the kept rule does again what it did"
        pendo.reset(keep_faults=True)
        assert run() == [200, 429, 200]
        pendo.reset()
        assert run() == [200, 200, 200] and pendo.faults.as_json() == []
        bad = requests.post(pendo.url + "/__segpendo/reset?keep=records", timeout=10)
        assert bad.status_code == 400 and bad.json()["error"].startswith("keep: 'records' cannot be kept")


def test_probability_rules_stay_reproducible_across_kept_resets(pendo: FakePendo) -> None:
    pendo.faults.add(route="*", status=503, probability=0.4, seed=7, count=None)

    def run() -> list[int]:
        pendo.reset(keep_faults=True)
        return [requests.post(pendo.url + "/data/track", json=track(), headers=KEY).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and 503 in first and 200 in first


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"phase": "during"}, "faults[0].phase: use before (the request is not processed) or after"),
        ({"retry_after": 5}, "faults[0].retry_after: goes with a status (429 or 503) to answer"),
        ({"status": 429, "retry_after": -1}, "faults[0].retry_after: must be seconds between 0 and 86400"),
        ({"delay_ms": 60_001}, "faults[0].delay_ms: at most 60000"),
        ({"delay_ms": 1.5}, "faults[0].delay_ms: must be a whole number >= 0"),
    ],
)
def test_bad_rules_name_the_field(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match="^" + re.escape(message)):
        FakePendo(faults=[rule])


@pytest.mark.parametrize("workers", [1, 2])
def test_removing_one_rule_brings_that_route_back_and_keeps_the_others(workers: int, tmp_path: Any) -> None:
    # "Pendo's track endpoint is down for a while, then back", under the check's other faults: remove() takes away
    # the one rule, in one process and across worker processes, and the counters of the rules kept go on.
    metadata_429 = {"route": "metadata", "status": 429, "retry_after": 1}
    with FakePendo(workers=workers, spill_dir=tmp_path, faults=[metadata_429]) as fake:
        down = fake.faults.add(route="track", status=503, count=None)

        def post() -> int:
            return requests.post(fake.url + "/data/track", json=track(), headers=KEY, timeout=10).status_code

        assert [post(), post()] == [503, 503]
        fake.faults.remove(down)
        assert [post(), post()] == [200, 200]
        assert [r["route"] for r in fake.faults.as_json()] == ["metadata"]
        with pytest.raises(FaultError, match="no rule .* to remove"):
            fake.faults.remove(down)
        bulk = fake.url + "/api/v1/metadata/visitor/custom/value?create=true"
        write = requests.post(bulk, json=[{"visitorId": "u1", "values": {"plan": "pro"}}], headers=KEY, timeout=10)
        assert write.status_code == 429
        assert fake.faults.as_json()[0]["fired"] == 1
        fake.raise_errors()
