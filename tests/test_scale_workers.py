"""The fake Pendo server in several processes on one port (``FakePendo(workers=N)``): nothing lost under 8
concurrent clients, ids in arrival order across processes, and the same faults, clock, reset and inspection as
the fake in one process. Small inputs only: every loop is bounded in count and time."""

from __future__ import annotations

import http.client
import json
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_segpendo.fakes import RemotePendo
from pytest_segpendo.fakes.core import workers as workers_module
from pytest_segpendo.fakes.core.server import HandlerError
from pytest_segpendo.fakes.core.workers import WorkerPool, error_recorder
from pytest_segpendo.fakes.pendo import FakePendo, FixedClock, encode_jzb

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="worker processes need POSIX")

KEY = {"x-pendo-integration-key": "k", "content-type": "application/json"}
JAN_5 = 1767603600000  # 2026-01-05T09:00:00Z
DAY = 86_400_000
THREADS = 8
PER_THREAD = 60
DEADLINE_S = 60


def track(event: str = "E", visitor: str = "u", stamp: int | None = None) -> dict[str, Any]:
    when = int(time.time() * 1000) if stamp is None else stamp
    return {"type": "track", "event": event, "visitorId": visitor, "timestamp": when, "context": {}}


def request_for(thread: int, i: int) -> tuple[str, str, bytes, dict[str, str], int]:
    """(method, path, body, headers, records if accepted; -1 when it must be refused): good and bad, mixed."""
    kind = (i * 7 + thread) % 10
    if kind < 3:
        return "POST", "/data/track", json.dumps(track(f"E{i % 3}", f"u{thread}")).encode(), KEY, 1
    if kind < 5:
        items = [{"visitorId": f"m{thread}-{i}", "values": {"i": i}}, {"visitorId": f"n{thread}-{i}", "values": {}}]
        path = "/api/v1/metadata/visitor/custom/value?create=true"
        return "POST", path, json.dumps(items).encode(), KEY, 2
    if kind < 7:
        events = [
            {
                "type": "track",
                "track_event_name": "Load",
                "visitor_id": f"v{thread}",
                "tabId": f"t{thread}",
                "sequence": i,
                "browser_time": int(time.time() * 1000),
                "props": {},
            }
        ]
        return "GET", f"/data/ptm.gif/k?jzb={encode_jzb(events)}", b"", {}, 1
    if kind == 7:
        return "POST", "/data/track", b'{"type":"track"}', KEY, -1  # no event
    if kind == 8:
        return "POST", "/data/track", b"{", KEY, -1  # not JSON
    return "GET", "/data/nowhere", b"", {}, -1  # no such route


def hammer(port: int, plan: Callable[[int, int], tuple[str, str, bytes, dict[str, str], int]]) -> list[Counter[str]]:
    results: list[Counter[str]] = [Counter() for _ in range(THREADS)]
    failures: list[str] = []
    deadline = time.monotonic() + DEADLINE_S

    def worker(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tally = results[t]
        for i in range(PER_THREAD):
            if time.monotonic() > deadline:
                failures.append(f"thread {t} ran out of time at request {i}")
                return
            method, path, body, headers, expected = plan(t, i)
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            response.read()
            tally["sent"] += 1
            if response.status >= 500:
                failures.append(f"{method} {path[:50]} -> {response.status}")
            elif response.status < 300:
                tally["accepted"] += 1
                tally["records"] += expected
                if expected < 0:
                    failures.append(f"{method} {path[:50]} was accepted")
            else:
                tally["rejected"] += 1
                if expected >= 0:
                    failures.append(f"{method} {path[:50]} -> {response.status}")
            if i % 10 == 9:  # a new connection now and then: the kernel spreads connections, not requests
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S + 30)
    assert not failures, failures[:5]
    return results


def rows_per_worker(pendo: FakePendo, table: str) -> list[int]:
    out = []
    for path in sorted(Path(pendo.app.directory).glob("worker-*.sqlite")):  # type: ignore[attr-defined]
        with sqlite3.connect(path) as conn:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            out.append(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] if exists else 0)
    return out


def test_eight_concurrent_clients_lose_nothing_and_ids_follow_arrival(tmp_path: Path) -> None:
    with FakePendo(workers=3, spill_dir=tmp_path, memory_records=20) as pendo:
        total = sum(hammer(pendo.port, request_for), Counter())
        pendo.raise_errors()
        journal = pendo.requests()
        snapshot = pendo.app.store.snapshot()
        per_worker = rows_per_worker(pendo, "journal")
        received, active = pendo.activity()
    assert total["sent"] == THREADS * PER_THREAD
    assert total["accepted"] + total["rejected"] == total["sent"] == len(journal) == received
    assert active == 0
    assert [e["id"] for e in journal] == list(range(1, total["sent"] + 1)), "one id sequence across processes"
    assert len(snapshot["rejected"]) == total["rejected"] == sum(1 for e in journal if e["outcome"] == "rejected")
    assert len(snapshot["records"]) == total["records"]
    requests_of = [r["source"]["request"] for r in snapshot["records"]]
    assert requests_of == sorted(requests_of), "records merged in arrival order"
    assert snapshot["duplicates"] == 0
    assert sum(1 for n in per_worker if n) >= 2, f"connections were spread over the processes: {per_worker}"


def test_the_fallback_shares_one_listening_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where SO_REUSEPORT does not balance (macOS, the BSDs) or is missing, every process accepts from the
    parent's one listening socket: the same outcome."""
    monkeypatch.setattr(workers_module, "reuse_port_supported", lambda: False)
    with FakePendo(workers=2, spill_dir=tmp_path) as pendo:
        assert pendo.server.reuse_port is False  # type: ignore[attr-defined]
        total = sum(hammer(pendo.port, request_for), Counter())
        assert total["accepted"] + total["rejected"] == total["sent"] == len(pendo.requests())
        assert len(pendo.records()) == total["records"]


def test_fault_rules_count_the_requests_of_every_worker(tmp_path: Path) -> None:
    rule = {"route": "track", "status": 503, "retry_after": 1, "nth": 3, "count": 4}
    with FakePendo(workers=3, spill_dir=tmp_path, faults=[rule]) as pendo:
        codes = []
        for i in range(10):  # one connection each: they land on any worker
            codes.append(requests.post(pendo.url + "/data/track", json=track(f"E{i}"), headers=KEY).status_code)
        assert codes == [200, 200, 503, 503, 503, 503, 200, 200, 200, 200]
        injected = pendo.injected
        assert [(i["request"], i["status"], i["processed"]) for i in injected] == [
            (n, 503, False) for n in (3, 4, 5, 6)
        ]
        assert [i["records"][0]["event"] for i in injected] == ["E2", "E3", "E4", "E5"]
        assert pendo.faults.as_json()[0]["fired"] == 4
        # over HTTP, on whichever worker answers: the rules are replaced for all
        requests.post(pendo.url + "/__segpendo/faults", json=[{"route": "track", "status": 429}], timeout=10)
        assert requests.post(pendo.url + "/data/track", json=track(), headers=KEY).status_code == 429
        pendo.reset(keep_faults=True)
        assert requests.post(pendo.url + "/data/track", json=track(), headers=KEY).status_code == 429
        pendo.reset()
        assert all(
            requests.post(pendo.url + "/data/track", json=track(), headers=KEY).status_code == 200 for _ in range(4)
        )


def test_the_clock_reaches_every_worker(tmp_path: Path) -> None:
    clock = FixedClock(JAN_5 + DAY)
    with FakePendo(workers=2, spill_dir=tmp_path, clock=clock) as pendo:
        assert all(
            requests.post(pendo.url + "/data/track", json=track(stamp=JAN_5), headers=KEY).status_code == 200
            for _ in range(4)
        )
        assert len(pendo.records()) == 4 and pendo.dropped == []
        clock.set(JAN_5 + 8 * DAY)  # the caller's clock object moves: every worker follows within milliseconds
        deadline = time.monotonic() + 5
        while requests.get(pendo.url + "/__segpendo/clock", timeout=10).json()["now"] != JAN_5 + 8 * DAY:
            assert time.monotonic() < deadline, "the moved clock never reached the workers"
            time.sleep(0.01)
        for _ in range(4):
            requests.post(pendo.url + "/data/track", json=track(stamp=JAN_5), headers=KEY)
        assert len(pendo.records()) == 4 and [d["rule"] for d in pendo.dropped] == ["timestamp-too-old"] * 4
        remote = RemotePendo(pendo.url)  # set over HTTP on one worker: the parent and every worker see it
        assert remote.set_clock(JAN_5 + 2 * DAY) == {"now": JAN_5 + 2 * DAY, "kind": "fixed"}
        assert pendo.clock.now_ms() == JAN_5 + 2 * DAY
        assert all(remote.clock()["now"] == JAN_5 + 2 * DAY for _ in range(6))
        pendo.clock = FixedClock(JAN_5 + 30 * DAY)
        assert remote.clock() == {"now": JAN_5 + 30 * DAY, "kind": "fixed"}
        assert remote.set_clock(None)["kind"] == "wall"


def test_a_reset_reaches_every_worker_and_the_shared_state(tmp_path: Path) -> None:
    with FakePendo(workers=3, spill_dir=tmp_path, integration_key="k") as pendo:
        for i in range(9):
            requests.post(pendo.url + "/data/track", json=track(visitor=f"u{i}"), headers=KEY)
        events = [{"type": "track", "track_event_name": "L", "visitor_id": "v", "tabId": "t", "sequence": 1}]
        for _ in range(3):  # the same batch three times, over three connections: counted once
            requests.get(f"{pendo.url}/data/ptm.gif/k?jzb={encode_jzb(events)}", timeout=10)
        assert pendo.duplicates == 2 and len(pendo.records()) == 10
        url = pendo.url + "/api/v1/metadata/visitor/custom/value"
        known = requests.post(url, json=[{"visitorId": "u4", "values": {"a": 1}}], headers=KEY, timeout=10).json()
        assert known["updated"] == 1, "a visitor one worker saw in a track exists for the others"
        assert requests.post(pendo.url + "/__segpendo/reset", timeout=10).json() == {"reset": True}
        assert pendo.records() == [] and pendo.requests() == [] and pendo.duplicates == 0
        again = requests.post(url, json=[{"visitorId": "u4", "values": {"a": 1}}], headers=KEY, timeout=10).json()
        assert again["missing"] == ["u4"], "the shared state is forgotten too"
        assert [e["id"] for e in pendo.requests()] == [14], "ids keep counting after a reset"


def test_inspection_over_http_and_remote_reads_merge_every_worker(tmp_path: Path) -> None:
    with FakePendo(workers=2, spill_dir=tmp_path) as pendo:
        for i in range(12):
            requests.post(pendo.url + "/data/track", json=track(f"E{i}"), headers=KEY)
        requests.post(pendo.url + "/data/track", json={}, headers=KEY)
        remote = RemotePendo(pendo.url)
        expected = [f"E{i}" for i in range(12)]
        assert [r["event"] for r in remote.inspection()["records"]] == expected
        assert [r["event"] for r in remote.iter_records()] == expected
        assert [r["event"] for r in pendo.iter_records()] == expected
        whole = remote.inspection(stream=True)
        assert len(whole["records"]) == 12 and len(whole["rejected"]) == 1
        assert remote.activity() == (13, 0)
        journal = requests.get(pendo.url + "/__segpendo/requests", timeout=10).json()
        assert [e["id"] for e in journal["requests"]] == list(range(1, 14))


def echo_app(data: dict[str, Any], index: int) -> tuple[Any, Callable[[BaseException, str], None]]:
    """A worker factory for the pool's own test: /boom fails inside the worker process."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise ValueError(f"a bug in worker {index}")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"worker {index}".encode()]

    return app, error_recorder(Path(data["directory"]) / f"errors-{index}.sqlite")


def test_an_error_inside_a_worker_is_raised_by_the_parent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    files = [tmp_path / f"errors-{i}.sqlite" for i in range(2)]
    with WorkerPool(
        "test_scale_workers:echo_app", {"directory": str(tmp_path)}, tmp_path, 2, error_files=files
    ) as pool:
        assert requests.get(pool.url + "/", timeout=10).text.startswith("worker ")
        answer = requests.get(pool.url + "/boom", timeout=10)
        assert answer.status_code == 500
        with pytest.raises(HandlerError, match=r"ValueError: a bug in worker \d"):
            pool.raise_errors()
        pool.raise_errors()  # reported once
        assert requests.get(pool.url + "/", timeout=10).status_code == 200, "the worker keeps serving"
    assert not pool.running


def test_workers_must_be_a_sensible_number() -> None:
    with pytest.raises(ValueError, match="workers: must be 1 or more"):
        FakePendo(workers=0)
    with pytest.raises(ValueError, match="workers: at most 64"):
        FakePendo(workers=65)


def test_shared_fault_rules_fire_exactly_as_in_one_process(tmp_path: Path) -> None:
    """Two processes' views of the rules (two SharedFaults on one directory), taking turns at random, fire on the
    same requests as one Faults: the nth and count rules by the global count, the probability rules by the same
    seeded draws."""
    from pytest_segpendo.fakes.core.faults import Faults
    from pytest_segpendo.fakes.core.workers import Control, SharedFaults
    from pytest_segpendo.fakes.pendo.app import ROUTES

    rules = [
        {"route": "track", "status": 503, "nth": 3, "count": 2},
        {"route": "*", "status": 429, "retry_after": 1, "probability": 0.3, "seed": 7},
        {"route": "metadata", "drop": True, "probability": 0.5, "seed": 1},
        {"route": "track", "delay_ms": 5, "nth": 10, "count": None},
    ]
    Control(tmp_path / "control.bin", create=True).close()
    views = [SharedFaults(ROUTES, Control(tmp_path / "control.bin"), tmp_path / "shared.sqlite") for _ in range(2)]
    views[0].replace(rules)
    alone = Faults(ROUTES, rules)
    turns = random.Random(3)
    for n in range(300):
        route = ("track", "metadata", "ptm.gif")[n % 3]
        one, shared = alone.pick(route), views[turns.randrange(2)].pick(route)
        assert (one and one.as_json()["status"], one and one.route) == (
            shared and shared.status,
            shared and shared.route,
        )
    assert [r["fired"] for r in views[1].as_json()] == [r["fired"] for r in alone.as_json()]
    views[1].restart()
    alone.restart()
    assert [views[0].pick("metadata") is None for _ in range(20)] == [alone.pick("metadata") is None for _ in range(20)]


def test_counting_the_lists_across_workers_is_cheap_and_right(tmp_path: Path) -> None:
    """What a check's watcher polls (``app.reader.counts()``): the counters the workers write, not the files."""
    with FakePendo(workers=2, spill_dir=tmp_path) as pendo:
        for i in range(6):
            requests.post(pendo.url + "/data/track", json=track(f"E{i}"), headers=KEY)
        requests.post(pendo.url + "/data/track", json={}, headers=KEY)
        counts = pendo.app.reader.counts()
        assert (counts["records"], counts["rejected"], counts["journal"]) == (6, 1, 7)
        pendo.reset()
        assert pendo.app.reader.counts()["records"] == 0
        requests.post(pendo.url + "/data/track", json=track(), headers=KEY)
        assert pendo.app.reader.counts()["records"] == 1
