"""RemotePendo: a fake Pendo server in another process (``segpendo serve``), driven over its ``/__segpendo/``
endpoints: reset keeping the fault rules, the clock, the fault rules, and what it dropped or had injected."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from pytest_segpendo.fakes import RemoteError, RemotePendo
from pytest_segpendo.fakes.pendo import FakePendo

JAN_5 = 1767603600000  # 2026-01-05T09:00:00Z
DAY = 86_400_000
KEY = {"x-pendo-integration-key": "k"}


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo() as fake:
        yield fake
        fake.raise_errors()


def post(pendo: FakePendo, stamp: int) -> int:
    body = {"type": "track", "event": "E", "visitorId": "u", "timestamp": stamp, "context": {}}
    return requests.post(pendo.url + "/data/track", json=body, headers=KEY, timeout=10).status_code


def test_a_check_in_another_process_sets_the_clock_and_reads_the_drops(pendo: FakePendo) -> None:
    remote = RemotePendo(pendo.url)
    assert remote.clock()["kind"] == "wall"
    assert remote.set_clock(JAN_5 + DAY) == {"now": JAN_5 + DAY, "kind": "fixed"}
    assert post(pendo, JAN_5) == 200
    remote.set_clock(JAN_5 + 8 * DAY)
    assert post(pendo, JAN_5) == 200
    seen = remote.inspection()
    assert len(seen["records"]) == 1 and [d["rule"] for d in seen["dropped"]] == ["timestamp-too-old"]
    remote.reset()
    assert remote.clock() == {"now": JAN_5 + 8 * DAY, "kind": "fixed"}, "a reset keeps the clock"
    assert remote.set_clock(None)["kind"] == "wall"
    with pytest.raises(RemoteError, match=r"refused: now: must be a whole number of milliseconds"):
        remote.set_clock("tomorrow")  # type: ignore[arg-type]


def test_fault_rules_over_the_remote_client_survive_a_reset_that_keeps_them(pendo: FakePendo) -> None:
    remote = RemotePendo(pendo.url)
    rules = remote.set_faults([{"route": "track", "status": 429, "retry_after": 1, "nth": 1, "count": 1}])
    assert rules[0]["status"] == 429 and rules[0]["phase"] == "before"
    now = int(time.time() * 1000)
    assert [post(pendo, now), post(pendo, now)] == [429, 200]
    injected = remote.inspection()["injected"]
    assert [(i["request"], i["kind"], i["status"], i["retry_after"]) for i in injected] == [(1, "status", 429, 1)]
    remote.reset(keep_faults=True)
    assert remote.faults()[0]["matched"] == 0 and remote.inspection()["injected"] == []
    assert [post(pendo, now), post(pendo, now)] == [429, 200]
    remote.reset()
    assert remote.faults() == []
    with pytest.raises(RemoteError, match=r"refused: faults\[0\]\.route: unknown route 'nope'"):
        remote.set_faults([{"route": "nope"}])


def test_activity_counts_each_list_so_a_remote_watch_reads_no_lists(pendo: FakePendo) -> None:
    remote = RemotePendo(pendo.url)
    remote.set_clock(JAN_5 + DAY)
    assert post(pendo, JAN_5) == 200
    bad = requests.post(pendo.url + "/data/track", json={"type": "track"}, timeout=10)
    assert bad.status_code == 401
    remote.set_clock(JAN_5 + 8 * DAY)
    assert post(pendo, JAN_5) == 200  # answered 200, dropped: too old
    counts = remote.counts()
    assert (counts["records"], counts["rejected"], counts["dropped"]) == (1, 1, 1)
    assert counts["journal"] == 3, "every request is journalled"
    listed = remote.inspection()
    assert {name: n for name, n in counts.items() if name in listed} == {
        name: len(items) for name, items in listed.items() if name in counts
    }
    remote.reset()
    assert remote.counts()["rejected"] == 0
