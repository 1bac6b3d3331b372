"""The Node.js relay of ``examples/node-relay`` (no Python inside, no dependencies), run as a real process:
signed Segment webhooks in, exactly what profile ``track-api+metadata`` predicts out; unsigned ones refused.

Node is required, not optional: CI installs it."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.delivery import TrafficClock, deliver
from pytest_segpendo.events import timestamp_ms
from pytest_segpendo.fakes import FakePendo
from pytest_segpendo.profiles import expect
from pytest_segpendo.traffic import generate

ROOT = Path(__file__).resolve().parent.parent
RELAY_JS = ROOT / "examples" / "node-relay" / "relay.js"
PROFILE = "track-api+metadata"
TRACK_SECRET = "track-s3cret"
INTEGRATION_KEY = "int-key"
SECRET = "segment-shared-secret"

# A realistic mix, and one whole rotation of the edge cases (46 events: each case once).
TRAFFIC = generate(400, seed=1, mix={"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1}) + generate(
    46, seed=2, scenario="edge"
)
EXPECTED = expect(TRAFFIC, PROFILE)


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("Node.js is required for tests/test_node_relay.py (install node 18 or later and put it on PATH)")
    return path


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo(track_secret=TRACK_SECRET, integration_key=INTEGRATION_KEY) as fake:
        yield fake
        fake.raise_errors()


def judged_by(pendo: FakePendo, events: list[dict[str, Any]]) -> TrafficClock:
    """A clock that follows the delivery of ``events``, as the fake Pendo server's "now": Pendo judges a Track
    Event's age when it processes it, and live traffic is processed seconds after it happens."""
    clock = TrafficClock(events)
    pendo.clock = clock
    return clock


@contextmanager
def node_relay(node: str, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``node relay.js`` with ``env``; yields the process and the URL of its ready line. Stopped (killed if
    need be) on exit."""
    full = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "SEGMENT_SHARED_SECRET")}
    full.update(env)
    with subprocess.Popen(
        [node, str(RELAY_JS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            if not ready:
                raise AssertionError("the Node relay printed no ready line within 15 s")
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the Node relay exited: {proc.stderr.read()}")
            assert re.fullmatch(r'\{"relay": "http://127\.0\.0\.1:\d+"\}\n', line), line
            yield proc, json.loads(line)["relay"]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def relay(node: str, pendo: FakePendo, secret: str | None = SECRET) -> Iterator[str]:
    env = {"PENDO_URL": pendo.url, "PENDO_TRACK_SECRET": TRACK_SECRET, "PENDO_INTEGRATION_KEY": INTEGRATION_KEY}
    if secret is not None:
        env["SEGMENT_SHARED_SECRET"] = secret
    with node_relay(node, env) as (proc, url):
        yield url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    host, _, port = url.split("//", 1)[1].partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, "/", body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        text = response.read()
    finally:
        conn.close()
    return response.status, json.loads(text) if text else {}


def signature(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()


def test_signed_webhooks_give_exactly_what_the_profile_predicts(node: str, pendo: FakePendo) -> None:
    with relay(node, pendo) as url:
        report = deliver(TRAFFIC, url, "webhook", secret=SECRET, observer=judged_by(pendo, TRAFFIC))
    assert report.ok, report.format()
    assert pendo.records("state") == EXPECTED.state
    assert pendo.records() == EXPECTED.stream
    assert pendo.rejected == []


def test_webhooks_actions_batches(node: str, pendo: FakePendo) -> None:
    with relay(node, pendo) as url:
        report = deliver(
            TRAFFIC, url, "webhook-actions", secret=SECRET, batch_size=20, observer=judged_by(pendo, TRAFFIC)
        )
    assert report.ok, report.format()
    assert report.requests == -(-len(TRAFFIC) // 20)
    assert pendo.records("state") == EXPECTED.state
    assert pendo.rejected == []


def test_unsigned_forged_and_tampered_webhooks_are_refused(node: str, pendo: FakePendo) -> None:
    events = TRAFFIC[:30]
    body = json.dumps(events[0], separators=(",", ":")).encode()
    with relay(node, pendo) as url:
        unsigned = deliver(events, url, "webhook", max_attempts=1)
        forged = deliver(events, url, "webhook", secret="forger", max_attempts=1)
        forged_batch = deliver(events, url, "webhook-actions", secret="forger", batch_size=10, max_attempts=1)
        tampered = post(url, body.replace(b'"type":"', b'"type": "', 1), {"X-Signature": signature(body)})
        junk = post(url, b'{"not json', {"X-Signature": "00"})
    for report in (unsigned, forged, forged_batch):
        assert report.acknowledged == 0 and {f.status for f in report.failures} == {401}
    assert "X-Signature: required" in unsigned.failures[0].reason
    assert tampered[0] == 401 and "does not match" in tampered[1]["error"]
    assert junk[0] == 401
    assert pendo.requests() == []


def test_bad_bodies_methods_and_pendo_failures(node: str, pendo: FakePendo) -> None:
    pendo.faults.add(route="track", status=503, nth=1, count=2)
    with relay(node, pendo) as url:

        def signed(body: bytes) -> int:
            return post(url, body, {"X-Signature": signature(body)})[0]

        assert signed(b'{"type": "track",') == 400
        assert signed(b"42") == 400
        assert signed(b'{"pad": "' + b"x" * (1 << 20) + b'"}') == 413
        assert post(url, b"", method="GET")[0] == 405
        report = deliver(
            TRAFFIC[:60], url, "webhook", secret=SECRET, backoff=0.01, observer=judged_by(pendo, TRAFFIC[:60])
        )
    assert report.ok and report.retried == 2, "502 while Pendo answers 503: Segment retries"
    assert pendo.records("state") == expect(TRAFFIC[:60], PROFILE).state


def test_ids_timestamps_and_context_like_the_profile(node: str, pendo: FakePendo) -> None:
    at = "2026-01-05T09:00:00.000Z"
    events: list[dict[str, Any]] = [
        {"type": "track", "userId": 1, "event": "Number Id", "timestamp": at},
        {"type": "track", "userId": 1.5, "event": "Float Id", "timestamp": at, "context": {"groupId": 2.25}},
        {"type": "track", "userId": 12345678901234567890, "event": "Big Id", "timestamp": at},
        {"type": "track", "userId": 1e21, "event": "Huge Id", "timestamp": at, "properties": {"groupId": 0}},
        {"type": "track", "userId": True, "event": "Bool Id", "timestamp": at},
        {"type": "track", "userId": "", "anonymousId": "a1", "event": "Empty Id", "timestamp": at},
        {"type": "track", "userId": "u1", "event": 5, "timestamp": at},
        {"type": "track", "userId": "u1", "event": "Offset", "timestamp": "2026-01-05T11:00:00.5+02:00"},
        {"type": "track", "userId": "u1", "event": "Compact Offset", "timestamp": "2026-01-05T03:30:00.123456-0530"},
        {"type": "track", "userId": "u1", "event": "No Offset", "timestamp": "2026-01-05T09:00:00"},
        {"type": "track", "userId": "u1", "event": "Date Only", "timestamp": "2026-01-05"},
        {"type": "track", "userId": "u1", "event": "Number Time", "timestamp": 1767603600123},
        {
            "type": "track",
            "userId": "u1",
            "event": "Null Group",
            "timestamp": at,
            "properties": {"groupId": None},
            "context": {"groupId": "g"},
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Null Page",
            "timestamp": at,
            "context": {"ip": "10.0.0.1", "page": None},
        },
        {"type": "track", "userId": "u1", "event": "No Properties", "timestamp": at, "properties": "text"},
        {"type": "identify", "userId": 42, "traits": {"n": 1}},
        {"type": "identify", "userId": "u2", "traits": {}},
        {"type": "identify", "userId": "u2", "traits": ["a"]},
        {"type": "identify", "anonymousId": "a2", "traits": {"n": 1}},
        {"type": "group", "userId": "u2", "groupId": 7, "traits": {"plan": "pro"}},
        {"type": "group", "userId": "u2", "groupId": "g9"},
        {"type": "page", "userId": "u2"},
        {"type": "screen", "userId": "u2"},
        {"type": "alias", "userId": "u2", "previousId": "a2"},
    ]
    with relay(node, pendo, secret=None) as url:
        report = deliver(events, url, "webhook", observer=judged_by(pendo, events))
    assert report.ok, report.format()
    assert pendo.records() == expect(events, PROFILE).stream
    assert pendo.rejected == []


def test_date_parse_agrees_with_the_profile_on_the_generators_timestamps(node: str) -> None:
    """The generator writes ``2026-01-05T09:00:00.123Z`` and, as hazards, positive and negative offsets
    (``+02:00``, ``-05:30``), ``+00:00``, no fraction and 6 fraction digits: on all of them JavaScript's
    ``Date.parse`` and the profile agree (the relay parses the fields itself all the same: bare ``Date.parse``
    reads a date-time without offset as local time and rolls 2024-02-30 over to March)."""
    stamps = sorted({e[f] for e in TRAFFIC for f in ("timestamp", "originalTimestamp", "sentAt", "receivedAt")})
    spelled = [re.fullmatch(r"[\d-]+T[\d:]+(\.\d+)?(Z|[+-]\d\d:\d\d)", s) for s in stamps]
    assert all(spelled), [s for s, m in zip(stamps, spelled) if not m]
    zones = {m.group(2)[0] if m.group(2) != "+00:00" else "+00:00" for m in spelled if m}
    fractions = {len(m.group(1) or ".") - 1 for m in spelled if m}
    assert zones == {"Z", "+", "-", "+00:00"} and fractions == {0, 3, 6}, (zones, fractions)
    script = "let d='';process.stdin.on('data',c=>d+=c).on('end',()=>console.log(JSON.stringify(JSON.parse(d).map(Date.parse))))"
    done = subprocess.run([node, "-e", script], input=json.dumps(stamps), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [timestamp_ms(s) for s in stamps]


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "PENDO_URL is required"),
        (
            {"PENDO_URL": "ftp://x", "PENDO_TRACK_SECRET": "t", "PENDO_INTEGRATION_KEY": "k"},
            "PENDO_URL must be an http(s) URL",
        ),
        (
            {"PENDO_URL": "http://127.0.0.1:1", "PENDO_TRACK_SECRET": "t", "PENDO_INTEGRATION_KEY": "k", "PORT": "x"},
            "PORT must be a port number",
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_line(node: str, env: dict[str, str], message: str) -> None:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PORT", "PENDO_URL", "PENDO_TRACK_SECRET", "PENDO_INTEGRATION_KEY")
    }
    done = subprocess.run([node, str(RELAY_JS)], env={**clean, **env}, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("relay: ") and message in lines[0], done.stderr


def test_sigint_exits_0(node: str, pendo: FakePendo) -> None:
    env = {"PENDO_URL": pendo.url, "PENDO_TRACK_SECRET": TRACK_SECRET, "PENDO_INTEGRATION_KEY": INTEGRATION_KEY}
    with node_relay(node, env) as (proc, url):
        assert deliver(TRAFFIC[:5], url, "webhook").ok
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
