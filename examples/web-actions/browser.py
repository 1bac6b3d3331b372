"""A small driver: Segment events of browsers -> visits of page.html in headless Chromium, with the real
analytics.js (npm ``@segment/analytics-next``) and the real Pendo agent (npm ``@pendo/agent``).

- The page, destination.js, analytics-next's browser bundle (``dist/umd/index.js`` and its chunks) and the agent
  (``dist/pendo.module.js``) are served from 127.0.0.1 by one server for the whole run: localStorage belongs to
  an origin (host and port), so a returning browser must find the page at the same address. Nothing else is
  reachable: Chromium resolves no host name, and the driver fails a visit whose page reached any other address.
- Each browser (events sharing an ``anonymousId``) gets its own Chromium profile (``--user-data-dir``), kept
  between its visits: analytics.js's memory (user and group ids and traits, kept by analytics-next itself) and
  the agent's (its visitor, account and last metadata) are in localStorage, as in a returning user's browser.
- A visit is one page load, one Chromium run: a browser's first event, and its first event after 30 minutes
  without one (the ``web-actions`` profile's default ``pageLoads: visit``; ``page`` also loads at every page
  call). Events of mobile and server sources never reach a browser and are left out.
- Chromium runs with ``--virtual-time-budget``, so the page's pauses cost little real time; every wait is
  bounded. Visits run in the order of the traffic; visits of browsers that share no user or group run in
  parallel (Pendo merges metadata writes in the order they arrive, so the order matters).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from pytest_segpendo.events import timestamp_ms
from pytest_segpendo.fakes.core.server import ServerThread
from pytest_segpendo.mapping.js import js_string, js_truthy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The agent the example runs: $SEGPENDO_PENDO_AGENT, else the copy the test suite installs (tests/node, npm ci).
AGENT_JS = Path(
    os.environ.get("SEGPENDO_PENDO_AGENT")
    or ROOT / "tests" / "node" / "node_modules" / "@pendo" / "agent" / "dist" / "pendo.module.js"
)
# analytics.js: $SEGPENDO_ANALYTICS_NEXT (a folder holding analytics-next's browser bundle: index.js and its
# *.bundle.*.js chunks), else the package the test suite installs (tests/node, npm ci): dist/umd.
ANALYTICS_DIR = Path(
    os.environ.get("SEGPENDO_ANALYTICS_NEXT")
    or ROOT / "tests" / "node" / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
)
API_KEY = "example-api-key"
WRITE_KEY = "example-write-key"  # analytics.js needs one; nothing is sent to Segment
VISIT_GAP_MS = 30 * 60 * 1000
PAUSE_MS = 300  # virtual milliseconds the page waits before and after flushing the agent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # offline: no host name resolves (the page and the fake Pendo server are at 127.0.0.1)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# analytics.js's keys and the agent's, which must survive from one visit of a browser to the next
KEPT_KEYS = ("ajs_", "_pendo_visitorId", "_pendo_accountId", "_pendo_meta")
LOCAL = ("http://127.0.0.1:",)


class BrowserError(AssertionError):
    """Chromium or the page failed: not a conformance difference, a broken run."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """What is missing to run the example (None when Chromium and the agent are there)."""
    if chromium_path() is None:
        return "Chromium is needed (apt-get install chromium; ./scripts/test-setup installs it)"
    if not AGENT_JS.is_file():
        return (
            f"the Pendo agent is needed at {AGENT_JS}: run ./scripts/test-setup (npm ci in tests/node) or set "
            "SEGPENDO_PENDO_AGENT"
        )
    if not (ANALYTICS_DIR / "index.js").is_file():
        return (
            f"analytics-next's browser bundle is needed at {ANALYTICS_DIR}/index.js: run ./scripts/test-setup "
            "(npm ci in tests/node) or set SEGPENDO_ANALYTICS_NEXT"
        )
    return None


# -- which events load a page ------------------------------------------------------------------------------


@dataclass
class Visit:
    """One page load of one browser: its events, where they are in the traffic, whom they concern."""

    browser: str
    index: int  # the browser's visit number, from 0
    events: list[dict[str, Any]]
    positions: list[int]  # the events' places in the traffic
    identities: frozenset[str]  # user and group ids the browser has seen up to the end of this visit


def browser_key(event: dict[str, Any]) -> str:
    """The browser an event comes from, as the profile tells them apart: its anonymousId (without one, one
    browser per user)."""
    anonymous = event.get("anonymousId")
    if type(anonymous) is str and anonymous:
        return anonymous
    if js_truthy(anonymous):
        return js_string(anonymous)
    return "\0user:" + js_string(event.get("userId"))


def visits(events: Iterable[dict[str, Any]], page_loads: str = "visit") -> list[Visit]:
    """The visits of ``events``, in the order of their first event.

    A browser loads a page at its first event, at its first event after 30 minutes without one and, with
    ``page_loads="page"``, at every page call, as the ``web-actions`` profile replays it.
    """
    out: list[Visit] = []
    current: dict[str, Visit] = {}
    last_seen: dict[str, int] = {}
    seen: dict[str, set[str]] = {}
    for position, event in enumerate(events):
        if event.get("channel") in ("mobile", "server"):
            continue
        key = browser_key(event)
        now = timestamp_ms(event.get("timestamp"))
        previous = last_seen.get(key)
        visit = current.get(key)
        if (
            visit is None
            or (page_loads == "page" and event.get("type") == "page")
            or (now is not None and previous is not None and now - previous > VISIT_GAP_MS)
        ):
            visit = current[key] = Visit(key, 0 if visit is None else visit.index + 1, [], [], frozenset())
            out.append(visit)
        visit.events.append(event)
        visit.positions.append(position)
        ids = seen.setdefault(key, set())
        for name, value in (("user", event.get("userId")), ("group", event.get("groupId"))):
            if value not in (None, ""):
                ids.add(name + ":" + json.dumps(value))
        visit.identities = frozenset(ids)
        if now is not None:
            last_seen[key] = now
    return out


def schedule(found: Sequence[Visit]) -> list[list[int]]:
    """For each visit, the earlier visits it must wait for: the same browser's, and other browsers' visits
    concerning the same user or group (Pendo merges their writes in the order they arrive, as the profile
    replays them in the order of the traffic).

    Raises :class:`BrowserError` when two such visits interleave in the traffic: one Chromium run per visit
    cannot replay that order.
    """
    waits: list[list[int]] = []
    for i, v in enumerate(found):
        before = []
        for j in range(i):
            w = found[j]
            if w.browser != v.browser and not (w.identities & v.identities):
                continue
            before.append(j)
            if w.positions[-1] > v.positions[0]:
                raise BrowserError(
                    f"events {v.positions[0] + 1} to {v.positions[-1] + 1} (browser {v.browser}) interleave with "
                    "events "
                    f"{w.positions[0] + 1} to {w.positions[-1] + 1} (browser {w.browser}) of the same user or group: "
                    "one Chromium run per visit cannot replay that order"
                )
        waits.append(before)
    return waits


# -- the page server -----------------------------------------------------------------------------------------


class PageServer:
    """Serves page.html, destination.js, analytics-next and the agent; hands each Chromium run its visit and
    takes its report."""

    def __init__(
        self,
        page: Path = HERE / "page.html",
        destination: Path = HERE / "destination.js",
        agent: Path = AGENT_JS,
        analytics: Path = ANALYTICS_DIR,
    ):
        self.files = {
            "page": (page, "text/html; charset=utf-8"),
            "destination": (destination, "text/javascript"),
            "agent": (agent, "text/javascript"),
            "analytics": (analytics / "index.js", "text/javascript"),
        }
        # analytics-next's optional chunks (`<name>.bundle.<hash>.js`), loaded only if a feature needs them
        self.chunks = {p.name: p for p in analytics.glob("*.bundle.*.js")}
        self.urls = Map(
            [
                Rule("/", endpoint="page"),
                Rule("/page.html", endpoint="page"),
                Rule("/destination.js", endpoint="destination"),
                Rule("/agent/pendo.module.js", endpoint="agent"),
                Rule("/analytics-next/index.js", endpoint="analytics"),
                Rule("/analytics-next/bundles/<name>", endpoint="chunk"),
                Rule("/visit/<token>", endpoint="visit", methods=["GET"]),
                Rule("/done/<token>", endpoint="done", methods=["POST"]),
            ]
        )
        self.lock = threading.Lock()
        self.visits: dict[str, dict[str, Any]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.finished: dict[str, threading.Event] = {}
        self.thread = ServerThread(self)

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.thread.stop()

    @property
    def url(self) -> str:
        return self.thread.url

    def offer(self, visit: dict[str, Any]) -> str:
        token = uuid.uuid4().hex
        with self.lock:
            self.visits[token] = visit
            self.finished[token] = threading.Event()
        return token

    def wait(self, token: str, timeout: float) -> dict[str, Any] | None:
        self.finished[token].wait(timeout)
        with self.lock:
            self.visits.pop(token, None)
            self.finished.pop(token, None)
            return self.reports.pop(token, None)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            response = self.dispatch(request, endpoint, args)
        except HTTPException as exc:
            response = exc.get_response(environ)
        response.headers["Cache-Control"] = "no-store"
        return response(environ, start_response)

    def dispatch(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> Response:
        if endpoint in self.files:
            path, kind = self.files[endpoint]
            return Response(path.read_bytes(), content_type=kind)
        if endpoint == "chunk":
            chunk = self.chunks.get(args["name"])
            if chunk is None:
                raise NotFound()
            return Response(chunk.read_bytes(), content_type="text/javascript")
        with self.lock:
            visit = self.visits.get(args["token"])
        if visit is None:
            raise NotFound()
        if endpoint == "visit":
            return Response(json.dumps(visit), content_type="application/json")
        report = json.loads(request.get_data() or b"{}")
        with self.lock:
            self.reports[args["token"]] = report
            self.finished[args["token"]].set()
        return Response(b"", status=204)


# -- Chromium ----------------------------------------------------------------------------------------------


@dataclass
class VisitResult:
    browser: str
    index: int
    events: int
    report: dict[str, Any]
    seconds: float


def _kept(storage: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in storage.items() if k.startswith(KEPT_KEYS)}


class Runner:
    """Runs browsers' visits in headless Chromium against a fake Pendo server at ``pendo_url``, whose API key is
    ``api_key`` (``segpendo.keys.api_key`` in a test)."""

    def __init__(
        self,
        pendo_url: str,
        *,
        api_key: str | None = None,
        settings: dict[str, Any] | None = None,
        bugs: Sequence[str] = (),
        chromium: str | None = None,
        workers: int | None = None,
        visit_timeout: float = 90.0,
    ):
        self.pendo_url = pendo_url
        self.api_key = api_key or API_KEY  # the Pendo app's API key: the fake Pendo server checks it
        self.settings = dict(settings or {})
        self.bugs = list(bugs)
        found = chromium or chromium_path()
        problem = missing()
        if found is None or problem:
            raise BrowserError(problem or "Chromium is needed")
        self.chromium: str = found
        self.workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
        self.visit_timeout = visit_timeout

    def run(self, events: Sequence[dict[str, Any]]) -> list[VisitResult]:
        """Send every browser's visits through Chromium; returns what each visit's page reported, in order."""
        found = visits(events, self.settings.get("pageLoads", "visit"))
        waits = schedule(found)
        with PageServer() as pages, tempfile.TemporaryDirectory(prefix="segpendo-web-actions-") as root:
            profiles = {
                key: Path(root) / f"browser-{i}" for i, key in enumerate(dict.fromkeys(v.browser for v in found))
            }
            for path in profiles.values():
                path.mkdir()
            # Tasks start in submission order and only wait for earlier ones: no deadlock whatever `workers` is.
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures: list[Future[VisitResult]] = []
                for visit, before in zip(found, waits):
                    futures.append(
                        pool.submit(self._after, [futures[j] for j in before], pages, visit, profiles[visit.browser])
                    )
                try:
                    results = [f.result() for f in futures]
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
            pages.thread.raise_errors()
        self._check_storage(results)
        return results

    def _after(self, before: list[Future[VisitResult]], pages: PageServer, visit: Visit, profile: Path) -> VisitResult:
        for future in before:
            future.result()  # an earlier visit failed: so does this one
        return self._visit(pages, visit, profile)

    @staticmethod
    def _check_storage(results: list[VisitResult]) -> None:
        """A returning browser must find what it stored: analytics.js's memory and the agent's."""
        last: dict[str, dict[str, Any]] = {}
        for r in results:
            found = _kept(r.report["storageBefore"])
            if r.browser in last and found != last[r.browser]:
                raise BrowserError(
                    f"browser {r.browser}: localStorage did not survive until visit {r.index + 1}:\n"
                    f"  after visit {r.index}: {last[r.browser]}\n  before visit {r.index + 1}: {found}"
                )
            if r.browser not in last and found:
                raise BrowserError(f"browser {r.browser}: a new browser already holds {found}")
            last[r.browser] = _kept(r.report["storageAfter"])

    def _visit(self, pages: PageServer, v: Visit, profile: Path) -> VisitResult:
        key, index, events = v.browser, v.index, v.events
        visit = {
            "events": events,
            "newBrowser": index == 0,
            "writeKey": WRITE_KEY,
            "apiKey": self.api_key,
            "dataHost": self.pendo_url,
            "settings": self.settings,
            "bugs": self.bugs,
            "pause_ms": PAUSE_MS,
        }
        token = pages.offer(visit)
        budget_ms = (2 * len(events) + 12) * PAUSE_MS + 5_000
        cmd = [
            self.chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            f"{pages.url}/page.html?visit={token}",
        ]
        start = time.monotonic()
        # its own process group, so that a Chromium that hangs goes with all its children
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _out, err = process.communicate(timeout=self.visit_timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pages.wait(token, 0)
            raise BrowserError(
                f"browser {key}, visit {index + 1}: Chromium did not finish in {self.visit_timeout:g} s"
            ) from exc
        report = pages.wait(token, 5)
        seconds = time.monotonic() - start
        if report is None:
            raise BrowserError(
                f"browser {key}, visit {index + 1}: the page never reported back; Chromium exit "
                f"{process.returncode}:\n{err[-3000:]}"
            )
        if report.get("error"):
            raise BrowserError(f"browser {key}, visit {index + 1}: the page failed: {report['error']}")
        outside = [url for url in report.get("requests", []) if not url.startswith(LOCAL)]
        if outside:
            raise BrowserError(f"browser {key}, visit {index + 1}: the page reached beyond 127.0.0.1: {outside}")
        return VisitResult(key, index, len(events), report, seconds)
