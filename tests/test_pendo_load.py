"""Load: 8 threads x 2,000 mixed requests over keep-alive connections to 127.0.0.1. Nothing is lost:
accepted + rejected = sent, and the records are exactly what the accepted requests carried."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter

from pytest_segpendo.fakes.pendo import FakePendo, encode_jzb

THREADS = 8
PER_THREAD = 2000
DEADLINE_S = 240  # every loop is bounded in count and time


def request_for(thread: int, i: int) -> tuple[str, str, bytes, dict[str, str], int]:
    """(method, path, body, headers, records expected if accepted; -1 when it must be refused)."""
    kind = (i * 7 + thread) % 20
    now = int(time.time() * 1000)
    if kind < 6:  # agent beacon: meta (visitor + account) and a track
        events = [
            {
                "type": "meta",
                "visitor_id": f"v{thread}-{i}",
                "account_id": "a1",
                "props": {"visitor": {"id": f"v{thread}-{i}", "n": i}, "account": {"id": "a1"}},
                "tabId": f"t{thread}",
                "sequence": 2 * i,
                "browser_time": now,
            },
            {
                "type": "track",
                "track_event_name": "Load",
                "visitor_id": f"v{thread}-{i}",
                "account_id": "a1",
                "props": {"i": i},
                "tabId": f"t{thread}",
                "sequence": 2 * i + 1,
                "browser_time": now,
            },
        ]
        return "GET", f"/data/ptm.gif/k?v=1&ct=1&jzb={encode_jzb(events)}", b"", {}, 3
    if kind < 11:
        body = {
            "type": "track",
            "event": f"E{i % 5}",
            "visitorId": f"u{thread}",
            "timestamp": now,
            "properties": {"i": i},
            "context": {},
        }
        return (
            "POST",
            "/data/track",
            json.dumps(body).encode(),
            {"x-pendo-integration-key": "s", "content-type": "application/json"},
            1,
        )
    if kind < 14:
        body = [
            {"visitorId": f"m{thread}-{i}", "values": {"i": i}},
            {"visitorId": f"m{thread}-{i}b", "values": {"j": i}},
        ]
        return (
            "POST",
            "/api/v1/metadata/visitor/custom/value?create=true",
            json.dumps(body).encode(),
            {"x-pendo-integration-key": "s"},
            2,
        )
    if kind < 16:
        body = {"type": "identify", "userId": f"c{thread}-{i}", "traits": {"i": i}}
        return "POST", "/data/segmentio/k", json.dumps(body).encode(), {}, 1
    bad = kind - 16
    if bad == 0:
        return "GET", "/data/ptm.gif/k?jzb=not*base64", b"", {}, -1
    if bad == 1:
        return "POST", "/data/track", b"{}", {}, -1  # no key
    if bad == 2:
        return "POST", "/data/track", b'{"type":"track"}', {"x-pendo-integration-key": "s"}, -1
    return "POST", "/api/v1/metadata/visitor/custom/value", b'{"visitorId": 1}', {"x-pendo-integration-key": "s"}, -1


def test_concurrent_mixed_load_loses_nothing() -> None:
    results: list[Counter[str]] = [Counter() for _ in range(THREADS)]
    failures: list[str] = []
    deadline = time.monotonic() + DEADLINE_S

    with FakePendo() as pendo:

        def worker(t: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", pendo.port, timeout=30)
            c = results[t]
            for i in range(PER_THREAD):
                if time.monotonic() > deadline:
                    failures.append(f"thread {t} ran out of time at request {i}")
                    return
                method, path, body, headers, expected = request_for(t, i)
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
                c["sent"] += 1
                if response.status >= 500:
                    failures.append(f"{method} {path[:60]} -> {response.status}")
                elif response.status < 300:
                    c["accepted"] += 1
                    c["records"] += expected
                    if expected < 0:
                        failures.append(f"{method} {path[:60]} was accepted")
                else:
                    c["rejected"] += 1
                    if expected >= 0:
                        failures.append(f"{method} {path[:60]} -> {response.status}")
            conn.close()

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(DEADLINE_S + 30)
        pendo.raise_errors()
        total = sum(results, Counter())
        snapshot = pendo.app.store.snapshot()
        journal = pendo.requests()

    assert not failures, failures[:5]
    assert total["sent"] == THREADS * PER_THREAD
    assert total["accepted"] + total["rejected"] == total["sent"] == len(journal)
    assert len(snapshot["rejected"]) == total["rejected"]
    assert len(snapshot["records"]) == total["records"]
    assert snapshot["duplicates"] == 0
    assert len({r["source"]["request"] for r in snapshot["records"]}) == total["accepted"] - sum(
        1 for e in journal if e.get("records") == 0
    )
    kinds = Counter(r["kind"] for r in snapshot["records"])
    assert kinds["track"] > 0 and kinds["visitor"] > 0 and kinds["account"] > 0
