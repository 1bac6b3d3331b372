"""What the HTML report's tests share: run documents (a real one from the demo's broken relay, small planted
ones) and a real browser (Playwright driving the system's Chromium; no browser download).

No test lives here; the test_html_*.py files import it.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.html import TimelineRecorder, run_document

DEMO_COUNT = 600
DEMO_SEED = 2026
DEMO_FAULTS = [{"route": "track", "status": 503, "nth": 40, "count": 3}]


def demo_document() -> dict[str, Any]:
    """The demo's broken relay (``segpendo demo``'s bugs), with three 503s injected on Pendo's track route, checked
    in-process with the toolkit's own pieces; its run document as the CLI would hand it to ``write_html``."""
    from pytest_segpendo.conformance import run_check
    from pytest_segpendo.fakes.pendo import FakePendo
    from pytest_segpendo.relay import BROKEN, Relay
    from pytest_segpendo.traffic import generate

    events = generate(DEMO_COUNT, DEMO_SEED, mix={"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1})
    recorder = TimelineRecorder(events)
    with (
        FakePendo(max_age_days=None, track_secret="t", integration_key="k", faults=DEMO_FAULTS) as pendo,
        Relay(pendo.url, track_secret="t", integration_key="k", secret="s", bugs=BROKEN) as relay,
    ):
        result = run_check(
            events,
            relay.url,
            pendo=pendo,
            via="webhook",
            delivery_options={"secret": "s", "observer": recorder},  # one lane: the same run every time
            quiet=0.1,
            faults=False,  # the document's faults are exactly DEMO_FAULTS (the check's own bad days are off)
            seed=DEMO_SEED,
            reproduce=f"segpendo demo --seed {DEMO_SEED} --count {DEMO_COUNT}" + "".join(f" --bug {b}" for b in BROKEN),
        )
        doc = run_document(
            result, pendo=pendo, events=events, marks=recorder.marks, title="segpendo demo: the broken relay"
        )
        relay.raise_errors()
        pendo.raise_errors()
    return doc


_DEMO: dict[str, Any] = {}


def demo_document_cached() -> dict[str, Any]:
    """:func:`demo_document`, made once per process (a copy each call)."""
    if not _DEMO:
        _DEMO.update(demo_document())
    return copy.deepcopy(_DEMO)


def track(i: int, event: str = "Signed Up", account: str | None = "acc_1", **props: Any) -> dict[str, Any]:
    return {
        "kind": "track",
        "event": event,
        "visitorId": f"usr_{i:04d}",
        "accountId": account,
        "timestamp": 1_767_603_600_000 + i * 60_000,
        "properties": {"plan": "pro", **props},
        "context": {},
    }


REASONS = ("timestamp: required", "visitorId: required", "timestamp: required")


def planted_document(changed: int = 30, missing: int = 10, unexpected: int = 5, rejected: int = 0) -> dict[str, Any]:
    """A run document made by the diff engine itself from records with planted differences."""
    from pytest_segpendo.verify import DiffOptions, diff

    expected: list[dict[str, Any]] = [
        {"kind": "visitor", "id": f"usr_{i:04d}", "metadata": {"plan": "pro", "seats": i}} for i in range(40)
    ]
    expected += [{"kind": "account", "id": f"acc_{i}", "metadata": {"tier": "gold"}} for i in range(5)]
    events = ["Signed Up", "Invite Sent", "Report Created"]
    expected += [track(i, events[i % 3], f"acc_{i % 4}") for i in range(200)]
    observed = copy.deepcopy(expected)
    tracks = [r for r in observed if r["kind"] == "track"]
    for r in tracks[:changed]:
        r["properties"]["plan"] = "free"
    for r in tracks[changed : changed + changed // 3]:
        r["properties"]["items"] = [{"sku": "x"}]
    gone = {id(r) for r in tracks[-missing:]} if missing else set()
    observed = [r for r in observed if id(r) not in gone]
    observed += [track(900 + k, "Ghost Event", None) for k in range(unexpected)]
    refused = [
        {"method": "POST", "path": "/data/track", "status": 400, "reason": REASONS[k % len(REASONS)]}
        for k in range(rejected)
    ]
    report = diff(
        expected, observed, DiffOptions(view="state"), rejected=refused, seed=7, reproduce="segpendo diff e o"
    )
    return run_document(report, expected=expected, received=observed, title="planted differences")


# -- a real browser -------------------------------------------------------------------------------------------------


def chromium() -> str:
    """The system's Chromium; without it (or without Playwright) fail in CI and skip elsewhere."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is needed (pip install -e '.[dev]', or ./scripts/test-setup)"
    if path is None:
        problem = "Chromium is needed (apt-get install chromium; ./scripts/test-setup installs it)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    assert path is not None
    return path


@dataclass
class Opened:
    """A report open in a browser page, with everything the page logged and requested."""

    page: Any
    url: str
    console: list[tuple[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind in ("error", "pageerror")]


class Browser:
    """One headless Chromium for a test module; :meth:`open` loads a report file in a fresh page."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._driver = sync_playwright().start()
        self._browser = self._driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        self._pages: list[Any] = []

    def open(self, path: Path, *, width: int = 1280, height: int = 900, rows: bool = True) -> Opened:
        context = self._browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(15_000)
        self._pages.append(context)
        opened = Opened(page, path.resolve().as_uri())
        page.on("console", lambda m: opened.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: opened.console.append(("pageerror", str(e))))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(opened.url)
        if rows:
            page.wait_for_function(
                "() => [...document.querySelectorAll('p.shown')].some(p => p.hasAttribute('data-matches'))"
            )
        return opened

    def close(self) -> None:
        for context in self._pages:
            context.close()
        self._browser.close()
        self._driver.stop()


def browser_session() -> Iterator[Browser]:
    """For a module's ``browser`` fixture: one Chromium, closed at the end."""
    chromium()
    b = Browser()
    try:
        yield b
    finally:
        b.close()
