"""Real Segment clients against the fake Segment API, and real webhook receivers against ``segpendo send``.

- segment-analytics-python 2.4.0 (pinned in the dev extra): gzip off and on, default batching, sync mode;
  with injected 500s and 429s its retries end in exactly-once capture; timeouts make duplicates, reported;
- @segment/analytics-node 3.1.0 under Node.js (pinned in tests/node): the same;
- a standard-library webhook receiver and a Node.js one checking ``X-Signature`` as Segment documents it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.events import timestamp_ms
from pytest_segpendo.fakes import FakeSegment
from pytest_segpendo.traffic import generate

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "tests" / "node"
CLI = [sys.executable, "-m", "pytest_segpendo"]


def traffic(n: int, seed: int) -> list[dict[str, Any]]:
    """Events of every call type, each under the 32 KB that clients measure with spaces and escapes."""
    events = generate(n, seed=seed, mix={"saas": 2, "mobile": 1, "anonymous": 1, "edge": 2})
    events = [e for e in events if len(json.dumps(e)) < 30_000 and not isinstance(e.get("userId"), int)]
    if not any(e["type"] == "alias" for e in events):  # aliases are rare in generated traffic: one of each type
        last = events[-1]
        alias = {"userId": "u-alias", "previousId": "anon-alias", "messageId": f"alias-{seed}", "context": {}}
        events.append({"type": "alias", **alias, "timestamp": last["timestamp"], "integrations": {}})
    return events


def without_server_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("receivedAt", "sentAt")}


# -- analytics-python ---------------------------------------------------------------------------------------


def python_client_calls(client: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the client call for each event; returns the messages the client built."""
    built = []
    for e in events:
        common = {
            "context": {k: v for k, v in (e.get("context") or {}).items() if k != "library"},
            "timestamp": datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")),
            "message_id": e["messageId"],
            "integrations": e.get("integrations") or {},
        }
        who = {"user_id": e.get("userId") or None, "anonymous_id": e.get("anonymousId") or None}
        kind = e["type"]
        if kind == "identify":
            ok, msg = client.identify(traits=e.get("traits"), **who, **common)
        elif kind == "track":
            ok, msg = client.track(event=e["event"], properties=e.get("properties"), **who, **common)
        elif kind == "group":
            ok, msg = client.group(group_id=e["groupId"], traits=e.get("traits"), **who, **common)
        elif kind == "page":
            ok, msg = client.page(
                name=e.get("name"), category=e.get("category"), properties=e.get("properties"), **who, **common
            )
        elif kind == "screen":
            ok, msg = client.screen(
                name=e.get("name"), category=e.get("category"), properties=e.get("properties"), **who, **common
            )
        else:
            ok, msg = client.alias(previous_id=e["previousId"], user_id=e["userId"], **common)
        assert ok
        built.append(json.loads(json.dumps(msg)))
    return built


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_analytics_python_default_batching(gzip: bool) -> None:
    from segment.analytics import Client

    events = traffic(400, seed=11)
    with FakeSegment(write_key="wk") as segment:
        client = Client("wk", host=segment.url, gzip=gzip, upload_interval=0.05, max_retries=3)
        built = python_client_calls(client, events)
        client.flush()
        client.join()
        captured = segment.events()
        journal = segment.requests()
        assert segment.rejected == [] and segment.duplicates == 0
    assert len(captured) == len(events) == len(built)
    assert {e["type"] for e in captured} == {"identify", "track", "group", "page", "screen", "alias"}
    by_id = {m["messageId"]: m for m in built}
    assert [without_server_fields(e) for e in captured] == [by_id[e["messageId"]] for e in captured], (
        "payloads as the client built them"
    )
    assert all(e["headers"]["user-agent"] == "analytics-python/2.4.0" for e in journal)
    assert all(e["headers"].get("content-encoding") == ("gzip" if gzip else None) for e in journal)
    assert all(e["headers"]["authorization"] == "Basic d2s6" for e in journal)
    assert len(journal) >= len(events) // 100


def test_analytics_python_sync_mode() -> None:
    from segment.analytics import Client

    events = traffic(60, seed=12)
    with FakeSegment(write_key="wk") as segment:
        client = Client("wk", host=segment.url, sync_mode=True)
        built = python_client_calls(client, events)
        assert [without_server_fields(e) for e in segment.events()] == built
        assert len(segment.requests()) == len(events), "one request per call"


def test_analytics_python_retries_5xx_and_429_to_exactly_once() -> None:
    from segment.analytics import Client

    events = traffic(150, seed=13)
    with FakeSegment(write_key="wk") as segment:
        segment.faults.add(route="batch", status=500, nth=1, count=2)
        segment.faults.add(route="batch", status=429, retry_after=1, nth=3, count=1)
        client = Client("wk", host=segment.url, upload_interval=0.05, upload_size=50, max_retries=5)
        python_client_calls(client, events)
        client.flush()
        client.join()
        captured = segment.events()
        outcomes = [e["outcome"] for e in segment.requests()]
        assert segment.duplicates == 0
    assert sorted(e["messageId"] for e in captured) == sorted(e["messageId"] for e in events)
    assert outcomes[:3] == ["fault", "fault", "fault"] and outcomes.count("accepted") == 3
    retried = [e for e in segment.requests() if e["headers"].get("x-retry-count")]
    assert retried, "the client marks its retries"


def test_analytics_python_timeout_retries_are_reported_as_duplicates() -> None:
    from segment.analytics import Client

    events = traffic(40, seed=14)
    with FakeSegment(write_key="wk") as segment:
        segment.faults.add(route="batch", delay_ms=1500, nth=1, count=1)  # answered after the client gave up
        client = Client("wk", host=segment.url, upload_interval=0.05, upload_size=100, timeout=0.5, max_retries=3)
        python_client_calls(client, events)
        client.flush()
        client.join()
        waited = 0.0
        while segment.requests()[0]["outcome"] is None and waited < 10:  # the slow first copy lands late
            time.sleep(0.05)
            waited += 0.05
        deadline_ok = segment.events()
        assert sorted(e["messageId"] for e in deadline_ok) == sorted(e["messageId"] for e in events), (
            "captured exactly once"
        )
        assert segment.duplicates == len(events), "the re-sent batch is reported"


def test_analytics_python_with_a_wrong_write_key_is_answered_200_and_its_events_are_listed_as_dropped() -> None:
    # Segment's edge answers 200 to a wrong key and drops the events (segmentio/analytics-node#59,
    # analytics-ruby#136): the client sees success, the fake lists every event it dropped
    from segment.analytics import Client

    events = traffic(30, seed=15)
    errors: list[Any] = []
    with FakeSegment(write_key="wk") as segment:
        client = Client("not-wk", host=segment.url, upload_interval=0.05, on_error=lambda e, b: errors.append(e))
        built = python_client_calls(client, events)
        client.flush()
        client.join()
        assert errors == [] and segment.events() == []
        assert sorted(r["messageId"] for r in segment.rejected) == sorted(m["messageId"] for m in built)
        assert all(
            r["status"] == 200 and r["reason"].startswith("wrong write key: Segment answers 200 and drops the events")
            for r in segment.rejected
        )


def test_analytics_python_with_an_empty_write_key_gets_a_400_it_can_read() -> None:
    from segment.analytics import Client
    from segment.analytics.request import APIError

    with FakeSegment(write_key="wk") as segment:
        client = Client("", host=segment.url, sync_mode=True)
        with pytest.raises(APIError) as info:
            client.track("u1", "Signed Up")
        assert info.value.status == 400 and info.value.code == "missing_write_key"
        assert info.value.message.startswith("write key required") and segment.events() == []
        assert segment.rejected[-1]["status"] == 400


# -- analytics-node -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_client() -> str:
    script = NODE / "segment_node_client.js"
    if shutil.which("node") is None or not (NODE / "node_modules" / "@segment" / "analytics-node").is_dir():
        message = "Node.js and tests/node/node_modules are needed: run ./scripts/test-setup"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(script)


def run_node_client(
    script: str, url: str, events: list[dict[str, Any]], flush_at: int = 15, key: str = "wk"
) -> dict[str, Any]:
    done = subprocess.run(
        ["node", script, url, key, str(flush_at), "5"],
        input="".join(json.dumps(e) + "\n" for e in events),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_analytics_node_batches(node_client: str) -> None:
    events = traffic(300, seed=21)
    with FakeSegment(write_key="wk") as segment:
        result = run_node_client(node_client, segment.url, events)
        captured = segment.events()
        journal = segment.requests()
        assert segment.rejected == [] and segment.duplicates == 0
    assert result["calls"] == len(events) and result["errors"] == []
    assert len(captured) == len(events)
    built = {e["messageId"]: e for e in result["built"]}
    assert [without_server_fields(e) for e in captured] == [built[e["messageId"]] for e in captured], (
        "payloads as the client built them"
    )
    sent = {e["messageId"]: e for e in events}
    assert all(
        e["context"]["library"]["name"] == "@segment/analytics-node"
        and timestamp_ms(e["timestamp"]) == timestamp_ms(sent[e["messageId"]]["timestamp"])
        for e in captured
    ), "the same instant (the client writes it as new Date(...).toISOString())"
    assert all(
        e["headers"]["user-agent"].startswith("analytics-node") and e["headers"]["authorization"] == "Basic d2s6"
        for e in journal
    )


def test_analytics_node_retries_to_exactly_once(node_client: str) -> None:
    events = traffic(120, seed=22)
    with FakeSegment(write_key="wk") as segment:
        segment.faults.add(route="batch", status=503, nth=1, count=2)
        segment.faults.add(route="batch", status=429, retry_after=1, nth=3, count=1)
        result = run_node_client(node_client, segment.url, events, flush_at=40)
        captured = segment.events()
        outcomes = [e["outcome"] for e in segment.requests()]
        assert segment.duplicates == 0
    assert result["errors"] == []
    assert sorted(e["messageId"] for e in captured) == sorted(e["messageId"] for e in events)
    assert outcomes.count("fault") == 3


def test_analytics_node_with_a_wrong_write_key_sees_success_and_the_fake_lists_the_dropped_events(
    node_client: str,
) -> None:
    events = traffic(40, seed=23)
    with FakeSegment(write_key="wk") as segment:
        result = run_node_client(node_client, segment.url, events, key="not-wk")
        assert result["errors"] == [] and segment.events() == []
        assert sorted(r["messageId"] for r in segment.rejected) == sorted(e["messageId"] for e in events)
        assert {r["status"] for r in segment.rejected} == {200}
        assert {e["outcome"] for e in segment.requests()} == {"dropped"}


# -- webhook receivers checking X-Signature ---------------------------------------------------------------------


class _Verifying(BaseHTTPRequestHandler):
    secret = b""
    verdicts: list[bool] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        expected = hmac.new(self.secret, body, hashlib.sha1).hexdigest()
        ok = hmac.compare_digest(expected, self.headers.get("X-Signature", ""))
        type(self).verdicts.append(ok)
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_stdlib_receiver_verifies_signatures_from_segpendo_send(tmp_path: Path) -> None:
    _Verifying.secret = b"shh"
    _Verifying.verdicts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Verifying)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        events = tmp_path / "events.jsonl"
        events.write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in traffic(40, seed=31)), encoding="utf-8"
        )
        url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
        good = subprocess.run(
            [*CLI, "send", "--sut", url, "--via", "webhook", "--secret", "shh", str(events)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert good.returncode == 0, good.stdout + good.stderr
        assert _Verifying.verdicts and all(_Verifying.verdicts)
        count = len(_Verifying.verdicts)
        bad = subprocess.run(
            [*CLI, "send", "--sut", url, "--via", "webhook", "--secret", "guess", "--max-attempts", "1", str(events)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 1 and "HTTP 401" in bad.stdout
        assert not any(_Verifying.verdicts[count:])
        # a body changed on the way no longer matches its signature
        import urllib.error
        import urllib.request

        body = json.dumps({"type": "track", "userId": "u", "event": "E"}, separators=(",", ":")).encode()
        tampered = urllib.request.Request(
            url,
            data=body.replace(b'"E"', b'"F"'),
            headers={
                "X-Signature": hmac.new(b"shh", body, hashlib.sha1).hexdigest(),
                "Content-Type": "application/json",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(tampered, timeout=10)
        assert info.value.code == 401
    finally:
        server.shutdown()
        server.server_close()


def test_node_receiver_verifies_like_segments_documentation(node_client: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(["node", str(NODE / "webhook_receiver.js"), "shh"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        events = tmp_path / "events.jsonl"
        events.write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in traffic(30, seed=32)), encoding="utf-8"
        )
        url = f"http://127.0.0.1:{port}/"
        for extra in ([], ["--via", "webhook-actions", "--batch-size", "7"]):
            args = extra if extra else ["--via", "webhook"]
            done = subprocess.run(
                [*CLI, "send", "--sut", url, *args, "--secret", "shh", str(events)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stdout + done.stderr
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    verdicts = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert verdicts and all(v["ok"] for v in verdicts), "JSON.stringify(JSON.parse(body)) reproduces the signed bytes"
    assert any(v["items"] == 7 for v in verdicts)
