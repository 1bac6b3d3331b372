"""Segment's retries, per wire format, over real HTTP: which answers are retried, timeouts, redirects.

Each expectation below is written from its source, not from the code under test:

- ``webhook``: segment-docs ``connections/destinations/catalog/webhooks`` ("respond within 5 seconds", "retries
  requests that fail due to temporary errors like timeouts and 5xx status codes"); 429 from
  ``connections/integration_error_codes`` (``errors.awaiting-retry.429``; 400/401/403 ``discarded``);
- ``segmentio``: the classic Pendo destination is delivered by the same classic pipeline, so as ``webhook``;
- ``webhook-actions``: action-destinations ``packages/core/src/errors.ts`` (``RetryableStatusCodes``: 408, 423,
  429, 500, 502-511, 598, 599) and ``request-client.ts`` (10 s timeout);
- ``tracking-api``: segment-analytics-python 2.4.0 ``consumer.py`` (``is_retryable_status``: 408, 410, 429, 460
  and 5xx but 501 and 505; 511 only with OAuth) and ``request.py`` (15 s timeout, ``Retry-After``).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from pytest_segpendo.delivery import TIMEOUTS, DeliveryObserver, classify, deliver
from pytest_segpendo.fakes.core.server import ServerThread

EVENT = {"type": "track", "userId": "u1", "event": "E", "messageId": "m1", "timestamp": "2026-01-05T09:00:00.000Z"}
STATUSES = [300, 400, 401, 403, 404, 408, 409, 410, 413, 422, 423, 429, 460]
STATUSES += [500, 501, 502, 503, 504, 505, 507, 511, 520, 598, 599]

FIVE_XX = {s for s in STATUSES if 500 <= s < 600}
RETRIED = {
    "webhook": FIVE_XX | {429},
    "segmentio": FIVE_XX | {429},
    "webhook-actions": {408, 423, 429, 500, 502, 503, 504, 505, 507, 511, 598, 599},
    "tracking-api": (FIVE_XX - {501, 505, 511}) | {408, 410, 429, 460},
}
NOT_RETRIED_RULE = {
    ("webhook", 404): "not retried (Segment does not retry 4xx)",
    ("webhook", 408): "not retried (Segment does not retry 4xx)",
    ("segmentio", 401): "not retried (Segment does not retry 4xx)",
    ("webhook-actions", 501): "not retried (Segment's Actions do not retry 501)",
    ("webhook-actions", 410): "not retried (Segment does not retry 4xx other than 408, 423 and 429)",
    ("tracking-api", 505): "not retried (Segment's libraries do not retry 505)",
    ("tracking-api", 511): "not retried (Segment's libraries retry 511 only with OAuth)",
    ("tracking-api", 403): "not retried (Segment's libraries do not retry 4xx other than 408, 410, 429 and 460)",
}


class Statuses:
    """Answers ``/s/<status>/...`` with that status; ``/ra/<retry-after>/<status>`` with that status and a
    ``Retry-After``; ``/slow/<seconds>/...`` sleeps first (once per path) and then answers 200; ``/go/<code>``
    redirects to ``/ok``. Records every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes, dict[str, str]]] = []
        self.slept: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.seen.append((request.method, request.path, body, dict(request.headers)))
        parts = request.path.strip("/").split("/")
        if parts[0] == "s":
            response = Response(b'{"error": "scripted"}', status=int(parts[1]))
        elif parts[0] == "slow":
            with self.lock:
                first = request.path not in self.slept
                self.slept.add(request.path)
            if first:
                time.sleep(float(parts[1]))
            response = Response(b"{}", status=200)
        elif parts[0] == "ra":
            response = Response(b'{"error": "slow down"}', status=int(parts[2]), headers={"Retry-After": parts[1]})
        elif parts[0] == "go":
            response = Response(b"", status=int(parts[1]), headers={"Location": "/ok"})
        else:
            response = Response(b"{}", status=200)
        return response(environ, start_response)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Statuses, str]]:
    app = Statuses()
    with ServerThread(app) as thread:
        yield app, thread.url


def options(via: str) -> dict[str, Any]:
    return {"write_key": "wk"} if via == "tracking-api" else {"api_key": "pk"} if via == "segmentio" else {}


@pytest.mark.parametrize("via", list(RETRIED))
def test_each_status_is_retried_or_not_as_segment_does(server: tuple[Statuses, str], via: str) -> None:
    app, url = server
    for status in STATUSES:
        before = len(app.seen)
        report = deliver([EVENT], f"{url}/s/{status}", via, max_attempts=3, backoff=0, **options(via))
        [failure] = report.failures
        sent = len(app.seen) - before
        if status in RETRIED[via]:
            assert (sent, report.retried, failure.verdict) == (3, 2, "gave up after 3 attempts"), (via, status)
        else:
            assert (sent, report.retried) == (1, 0), (via, status)
            assert failure.verdict.startswith("not retried ("), (via, status)
        assert failure.status == status and report.failed == 1 and not report.ok
        assert classify(via, status).retry is (status in RETRIED[via])


def test_the_rule_is_named_in_each_not_retried_failure(server: tuple[Statuses, str]) -> None:
    _, url = server
    for (via, status), rule in NOT_RETRIED_RULE.items():
        report = deliver([EVENT], f"{url}/s/{status}", via, backoff=0, **options(via))
        assert report.failures[0].verdict == rule
        assert f"HTTP {status}, {rule}: " in report.format()


def test_compressed_backoff_never_changes_the_classification(server: tuple[Statuses, str]) -> None:
    _, url = server
    for backoff, max_backoff in [(0.0, 0.0), (0.001, 0.002), (0.01, 0.01)]:
        for via in RETRIED:
            for status in (404, 429, 501, 503):
                report = deliver(
                    [EVENT],
                    f"{url}/s/{status}",
                    via,
                    max_attempts=2,
                    backoff=backoff,
                    max_backoff=max_backoff,
                    **options(via),
                )
                assert (report.requests == 2) is (status in RETRIED[via]), (via, status, backoff)


class Answers(DeliveryObserver):
    def __init__(self) -> None:
        self.answers: list[tuple[int | None, bool, bool]] = []

    def on_answer(
        self, lane: int, indexes: Any, status: int | None, acknowledged: bool, will_retry: bool, reason: str
    ) -> None:
        self.answers.append((status, acknowledged, will_retry))


@pytest.mark.parametrize("via", list(RETRIED))
def test_a_timeout_is_retried_in_every_format(server: tuple[Statuses, str], via: str) -> None:
    app, url = server
    seen = Answers()
    report = deliver([EVENT], f"{url}/slow/0.6/{via}", via, timeout=0.1, backoff=0, observer=seen, **options(via))
    assert report.ok and report.requests == 2 and report.retried == 1
    assert seen.answers == [(None, False, True), (200, True, False)], "no answer, retried, then acknowledged"


def test_a_timeout_that_never_ends_gives_up_with_a_connection_reason(server: tuple[Statuses, str]) -> None:
    _, url = server
    report = deliver([EVENT], f"{url}/slow/0.5/never", "webhook-actions", timeout=0.05, max_attempts=1)
    [failure] = report.failures
    assert failure.status is None and "timed out" in failure.reason and failure.verdict == "gave up after 1 attempts"


def test_default_timeouts_are_segments_own(monkeypatch: pytest.MonkeyPatch, server: tuple[Statuses, str]) -> None:
    assert dict(TIMEOUTS) == {"webhook": 5.0, "segmentio": 5.0, "webhook-actions": 10.0, "tracking-api": 15.0}
    _, url = server
    used: list[float | None] = []
    original = http.client.HTTPConnection.__init__

    def spy(self: http.client.HTTPConnection, host: str, port: int | None = None, **kw: Any) -> None:
        used.append(kw.get("timeout"))
        original(self, host, port, **kw)

    monkeypatch.setattr(http.client.HTTPConnection, "__init__", spy)
    for via in TIMEOUTS:
        deliver([EVENT], f"{url}/ok", via, **options(via))
    deliver([EVENT], f"{url}/ok", "webhook-actions", timeout=0.25)
    assert used == [5.0, 5.0, 10.0, 15.0, 0.25]


def test_waits_retry_after_capped_else_backs_off(monkeypatch: pytest.MonkeyPatch, server: tuple[Statuses, str]) -> None:
    _, url = server
    waits: list[float] = []
    monkeypatch.setattr("pytest_segpendo.delivery.time.sleep", waits.append)
    deliver([EVENT], f"{url}/ra/60/429", "tracking-api", write_key="wk", max_attempts=2, max_retry_after=2.5)
    deliver([EVENT], f"{url}/ra/0.75/503", "webhook", max_attempts=2)
    past, future = "Wed,%2021%20Oct%202015%2007:28:00%20GMT", "Wed,%2021%20Oct%202099%2007:28:00%20GMT"
    deliver([EVENT], f"{url}/ra/{past}/503", "webhook", max_attempts=2, backoff=0.125)
    deliver([EVENT], f"{url}/ra/{future}/503", "webhook", max_attempts=2, max_retry_after=1.5)
    assert waits == [2.5, 0.75, 1.5], "Retry-After in seconds or as an HTTP date (a past one: at once), capped"
    waits.clear()
    deliver([EVENT], f"{url}/s/503", "webhook-actions", max_attempts=4, backoff=0.1, max_backoff=0.25)
    assert waits == [0.1, 0.2, 0.25], "exponential back-off, capped"
    waits.clear()
    deliver([EVENT], f"{url}/ra/60/404", "webhook", max_attempts=4)
    assert waits == [], "Retry-After on an answer Segment does not retry changes nothing"


@pytest.mark.parametrize(("via", "follows"), [("webhook-actions", True), ("tracking-api", True), ("webhook", False)])
@pytest.mark.parametrize("code", [302, 307])
def test_redirects_followed_as_fetch_and_requests_do(
    server: tuple[Statuses, str], via: str, follows: bool, code: int
) -> None:
    app, url = server
    before = len(app.seen)
    report = deliver([EVENT], f"{url}/go/{code}", via, **options(via))
    seen = app.seen[before:]
    if not follows:
        assert not report.ok and report.failures[0].status == code and len(seen) == 1
        assert (
            report.failures[0].verdict == "not retried (Segment retries only timeouts, connection errors, 429 and 5xx)"
        )
        return
    assert report.ok and [s[1] for s in seen][-1] == "/ok"
    method, _, body, _ = seen[-1]
    if code == 307:
        assert method == "POST" and body == seen[0][2], "307 keeps the method and the body"
    else:
        assert method == "GET" and body == b"", "a POST redirected by 302 becomes a GET without a body"
