"""A Segment -> Pendo relay written the way a team writes its own: a small Flask app.

It receives Segment's classic Webhooks destination (one event per ``POST``, signed with ``X-Signature`` when a
shared secret is set; a JSON array of events, as Webhooks (Actions) batches them, is taken too) and posts with
``requests``:

- ``track`` -> ``POST {PENDO_URL}/data/track`` with the Track Event shared secret;
- ``identify`` -> ``POST {PENDO_URL}/api/v1/metadata/visitor/custom/value?create=true`` with the integration key;
- ``group`` -> ``POST {PENDO_URL}/api/v1/metadata/account/custom/value?create=true`` with the integration key;
- ``page``, ``screen``, ``alias``: nothing.

It answers Segment only once Pendo has the data: Pendo's 429 and 5xx are retried here (with back-off, honouring
``Retry-After``), and if Pendo still fails the answer is ``503``, so that Segment delivers the event again.
Events already forwarded are remembered by ``messageId``, so Segment's re-deliveries (at least once) reach Pendo
once. A 4xx from Pendo would be refused again: it is logged and listed in the answer, not retried.

Every step is a small method of :class:`PendoRelay`; ``flask_relay_bugs.py`` replaces one of them per bug.

Run it: ``PENDO_URL=... PENDO_TRACK_SECRET=... PENDO_INTEGRATION_KEY=... SEGMENT_SHARED_SECRET=...
python flask_relay.py`` (``HOST``, ``PORT``: where it listens, ``127.0.0.1:3000`` by default).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

log = logging.getLogger("flask-relay")

TRACK_PATH = "/data/track"
METADATA_PATH = "/api/v1/metadata/{kind}/custom/value?create=true"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Settings:
    pendo_url: str
    track_secret: str
    integration_key: str
    shared_secret: str | None = None
    attempts: int = 4  # tries per Pendo request before Segment is asked to deliver again (503)
    backoff: float = 0.1  # seconds before the second try, doubled each time; Pendo's Retry-After wins
    max_wait: float = 2.0  # the longest wait between tries
    budget: float = 3.0  # seconds of retrying per request: Segment's webhook times out after 5 s
    timeout: float = 2.0  # seconds per request to Pendo
    remembered: int = 100_000  # messageIds kept to recognise Segment's re-deliveries


@dataclass
class PendoRequest:
    api: str  # "track" or "metadata"
    path: str
    body: Any


class PendoUnavailable(Exception):
    """Pendo answered 429 or 5xx to every try, or could not be reached."""


class PendoRelay:
    """What the relay does with Segment's events, step by step."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.http = requests.Session()
        self._forwarded: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # -- Segment's side ------------------------------------------------------------------------------------------
    def signature_ok(self, body: bytes, signature: str | None) -> bool:
        """``X-Signature`` is the hex HMAC-SHA1 of the body (of a batch's first event, for Webhooks (Actions))."""
        secret = self.settings.shared_secret
        if secret is None:
            return True
        if not signature:
            return False
        candidates = [body]
        text = body.decode("utf-8", "replace")
        start = len(text) - len(text.lstrip())
        if text.startswith("[", start):  # a batch: Segment signs its first event's bytes
            start += 1
            while start < len(text) and text[start] in " \t\r\n":
                start += 1
            try:
                _, end = json.JSONDecoder().raw_decode(text, start)
                candidates.append(text[start:end].encode("utf-8"))
            except ValueError:
                pass
        given = signature.strip().lower()
        return any(
            hmac.compare_digest(hmac.new(secret.encode(), c, hashlib.sha1).hexdigest(), given) for c in candidates
        )

    def already_forwarded(self, event: dict[str, Any]) -> bool:
        """Segment delivers at least once: an event whose messageId was forwarded already is not sent again."""
        message_id = event.get("messageId")
        with self._lock:
            return isinstance(message_id, str) and message_id in self._forwarded

    def remember(self, event: dict[str, Any]) -> None:
        message_id = event.get("messageId")
        if not isinstance(message_id, str):
            return
        with self._lock:
            self._forwarded[message_id] = None
            while len(self._forwarded) > self.settings.remembered:
                self._forwarded.popitem(last=False)

    # -- from a Segment event to Pendo's fields ------------------------------------------------------------------
    def pendo_id(self, value: Any) -> str | None:
        """An id as Pendo stores it: the exact string (numbers written as JavaScript writes them); None if none."""
        if value is None or value == "" or isinstance(value, (bool, dict, list)):
            return None
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        if isinstance(value, (int, float)):
            return json.dumps(value)
        return str(value)

    def visitor_id(self, event: dict[str, Any]) -> str | None:
        return self.pendo_id(event.get("userId"))

    def account_id(self, event: dict[str, Any]) -> str | None:
        """The track's account: ``properties.groupId`` when it is set, else ``context.groupId``."""
        properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
        context = event.get("context") if isinstance(event.get("context"), dict) else {}
        if properties.get("groupId") is not None:
            return self.pendo_id(properties["groupId"])
        return self.pendo_id(context.get("groupId"))

    def pendo_timestamp(self, event: dict[str, Any]) -> int:
        """Milliseconds since the epoch of Segment's ISO-8601 ``timestamp`` (its offset applied; no offset is
        UTC; digits past the millisecond dropped)."""
        stamp = event.get("timestamp")
        if isinstance(stamp, str):
            try:
                moment = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                moment = None
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
                return (moment - EPOCH) // timedelta(milliseconds=1)
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            return int(stamp)
        return int(time.time() * 1000)  # Pendo requires a timestamp; Segment always sets one

    def properties(self, event: dict[str, Any]) -> dict[str, Any]:
        properties = event.get("properties")
        return properties if isinstance(properties, dict) else {}

    def traits(self, event: dict[str, Any]) -> dict[str, Any]:
        traits = event.get("traits")
        return dict(traits) if isinstance(traits, dict) else {}

    def page_context(self, event: dict[str, Any]) -> dict[str, Any]:
        """``context``'s ip, userAgent, page.url and page.title, each when Segment has it."""
        context = event.get("context") if isinstance(event.get("context"), dict) else {}
        page = context.get("page") if isinstance(context.get("page"), dict) else {}
        out = {key: context[key] for key in ("ip", "userAgent") if key in context}
        out.update({key: page[key] for key in ("url", "title") if key in page})
        if "page" in context and not context["page"]:
            out.update(url=context["page"], title=context["page"])  # a null page: a null url and title
        return out

    def metadata_path(self, kind: str) -> str:
        return METADATA_PATH.format(kind=kind)

    def pendo_requests(self, event: dict[str, Any]) -> list[PendoRequest]:
        """The Pendo requests one Segment event makes."""
        kind = event.get("type")
        if kind == "track":
            name, visitor = event.get("event"), self.visitor_id(event)
            if not isinstance(name, str) or not name or visitor is None:
                return []  # Pendo needs an event name and a visitorId: anonymous tracks are not sent
            body: dict[str, Any] = {"type": "track", "event": name, "visitorId": visitor}
            account = self.account_id(event)
            if account is not None:
                body["accountId"] = account
            body["timestamp"] = self.pendo_timestamp(event)
            body["properties"] = self.properties(event)
            body["context"] = self.page_context(event)
            return [PendoRequest("track", TRACK_PATH, body)]
        if kind in ("identify", "group"):
            target = "visitor" if kind == "identify" else "account"
            ident = self.visitor_id(event) if kind == "identify" else self.pendo_id(event.get("groupId"))
            values = self.traits(event)
            if ident is None or not values:
                return []  # nothing to set, or nobody to set it on
            return [PendoRequest("metadata", self.metadata_path(target), [{f"{target}Id": ident, "values": values}])]
        return []  # page, screen, alias: nothing in Pendo

    # -- Pendo's side --------------------------------------------------------------------------------------------
    def headers(self, api: str) -> dict[str, str]:
        """The Track Events API takes the app's Track Event shared secret; the Metadata API an integration key."""
        key = self.settings.track_secret if api == "track" else self.settings.integration_key
        return {"x-pendo-integration-key": key, "content-type": "application/json"}

    def encode(self, body: Any) -> bytes:
        return json.dumps(body).encode("utf-8")

    def post(self, pendo_request: PendoRequest) -> requests.Response:
        return self.http.post(
            self.settings.pendo_url.rstrip("/") + pendo_request.path,
            data=self.encode(pendo_request.body),
            headers=self.headers(pendo_request.api),
            timeout=self.settings.timeout,
        )

    def send(self, pendo_request: PendoRequest) -> requests.Response:
        """Post, retrying Pendo's 429 and 5xx (and lost connections) with back-off; Retry-After wins."""
        wait, started = self.settings.backoff, time.monotonic()
        for attempt in range(1, self.settings.attempts + 1):
            try:
                answer = self.post(pendo_request)
            except requests.RequestException as exc:
                problem, retry_after = f"{type(exc).__name__}", None
            else:
                if answer.status_code != 429 and answer.status_code < 500:
                    return answer
                problem, retry_after = f"HTTP {answer.status_code}", answer.headers.get("Retry-After")
            pause = wait
            if retry_after is not None:
                try:
                    pause = max(0.0, float(retry_after))
                except ValueError:
                    pass  # an HTTP date: keep the back-off
            pause = min(pause, self.settings.max_wait)
            if attempt == self.settings.attempts or time.monotonic() - started + pause > self.settings.budget:
                raise PendoUnavailable(f"{pendo_request.path}: {problem} after {attempt} tries")
            time.sleep(pause)
            wait *= 2
        raise AssertionError("unreachable")

    def forward(self, events: list[Any]) -> tuple[int, dict[str, Any]]:
        """Send each event's requests to Pendo, then answer Segment: 200 once Pendo has them, 503 to be asked
        again later when Pendo is unavailable."""
        forwarded, refused = 0, []
        for index, event in enumerate(events):
            if not isinstance(event, dict) or self.already_forwarded(event):
                continue
            for pendo_request in self.pendo_requests(event):
                try:
                    answer = self.send(pendo_request)
                except PendoUnavailable as exc:
                    log.warning("Pendo unavailable, Segment will retry: %s", exc)
                    return 503, {"error": str(exc), "forwarded": forwarded}
                if answer.status_code >= 400:  # refused: the same request would be refused again
                    log.error("Pendo refused %s: %s %s", pendo_request.path, answer.status_code, answer.text[:300])
                    refused.append({"event": index, "status": answer.status_code, "reason": answer.text[:300]})
                else:
                    forwarded += 1
            self.remember(event)
        return 200, {"ok": True, "forwarded": forwarded, "refused": refused}

    def handle(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        if not self.signature_ok(body, signature):
            return 401, {"error": "X-Signature does not match"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        events = payload if isinstance(payload, list) else [payload]
        return self.forward(events)


def create_app(relay: PendoRelay) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20

    @app.post("/")
    @app.post("/segment")
    def webhook() -> Any:
        status, answer = relay.handle(request.get_data(), request.headers.get("X-Signature"))
        return jsonify(answer), status

    @app.get("/health")
    def health() -> Any:
        return {"ok": True}

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # one line per webhook is noise in a test run


class Server:
    """The app served in a background thread (for tests): ``with Server(relay) as server: server.url``."""

    def __init__(self, relay: PendoRelay, host: str = "127.0.0.1", port: int = 0):
        self.relay = relay
        self._http = make_server(host, port, create_app(relay), threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._http.host}:{self._http.port}"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._thread.join(timeout=5)
        self._http.server_close()
        self.relay.close()


def settings_from_env(env: dict[str, str]) -> Settings:
    return Settings(
        pendo_url=env["PENDO_URL"],
        track_secret=env["PENDO_TRACK_SECRET"],
        integration_key=env["PENDO_INTEGRATION_KEY"],
        shared_secret=env.get("SEGMENT_SHARED_SECRET") or None,
    )


if __name__ == "__main__":
    relay = PendoRelay(settings_from_env(dict(os.environ)))
    create_app(relay).run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "3000")))
