"""Drive the real Pendo agent (npm ``@pendo/agent``, pinned in tests/node) in headless Chromium.

A page served from 127.0.0.1 loads ``dist/pendo.module.js``, initializes Pendo with ``dataHost`` pointing at a
fake Pendo server (another origin: CORS is exercised), makes a list of calls, flushes, and reports back. The
calls are data (``[("initialize", {...}), ("track", "Name", {...}), ...]``) so a test can also feed them to the
agent model and compare.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from pytest_segpendo.fakes.core.server import ServerThread

ROOT = Path(__file__).resolve().parents[1]
AGENT_JS = ROOT / "tests" / "node" / "node_modules" / "@pendo" / "agent" / "dist" / "pendo.module.js"
API_KEY = "k123"
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
]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>segpendo agent page</title></head><body>
<script type="module">
import { loadAgent } from '/agent/pendo.module.js';
const CALLS = __CALLS__;
const OPTIONS = __OPTIONS__;
const sleep = ms => new Promise(r => setTimeout(r, ms));
const report = async body => { try { await fetch('/done', {method: 'POST', body: JSON.stringify(body)}); } catch (e) {} };
let error = null;
try {
  window.pendo = loadAgent({apiKey: OPTIONS.apiKey, env: 'prod', server: 'app.pendo.io', assetHost: 'cdn.pendo.io', loadAsModule: true});
  for (const [fn, ...args] of CALLS) {
    if (fn === 'initialize') {
      pendo.initialize(Object.assign({}, args[0], {apiKey: OPTIONS.apiKey, dataHost: OPTIONS.dataHost,
                                                   initializeImmediately: true, guides: {disabled: !OPTIONS.guides}}));
    } else {
      pendo[fn](...args);
    }
    await sleep(300);
    pendo.flushNow(true);
    await sleep(300);
  }
  await sleep(1500);
  pendo.flushNow(true);
  await sleep(1500);
} catch (e) { error = String(e && e.stack || e); }
await report({error, visitorId: window.pendo && pendo.getVisitorId(), accountId: window.pendo && pendo.getAccountId()});
</script></body></html>
"""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """The Chromium binary; without it (or the agent package) fail in CI and skip locally."""
    path = chromium_path()
    problem = None
    if path is None:
        problem = "Chromium is needed (apt-get install chromium; ./scripts/test-setup installs it)"
    elif not AGENT_JS.is_file():
        problem = "the @pendo/agent package is needed: run ./scripts/test-setup (npm ci in tests/node)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    assert path is not None
    return path


class _PageApp:
    def __init__(self, calls: list[list[Any]], options: dict[str, Any]):
        self.html = PAGE.replace("__CALLS__", json.dumps(calls)).replace("__OPTIONS__", json.dumps(options)).encode()
        self.done: dict[str, Any] | None = None
        self.finished = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/agent/pendo.module.js":
            response = Response(AGENT_JS.read_bytes(), content_type="text/javascript")
        elif request.path == "/done":
            self.done = json.loads(request.get_data() or b"{}")
            self.finished.set()
            response = Response(b"", status=204)
        elif request.path in ("/", "/page"):
            response = Response(self.html, content_type="text/html; charset=utf-8")
        else:
            response = Response(b"not found", status=404)
        return response(environ, start_response)


def run_agent(
    calls: list[list[Any]], data_host: str, *, guides: bool = False, budget_ms: int = 20_000
) -> dict[str, Any]:
    """Run ``calls`` against the agent in Chromium; returns what the page reported (visitorId, accountId)."""
    browser = require_browser()
    app = _PageApp(calls, {"apiKey": API_KEY, "dataHost": data_host, "guides": guides})
    profile = tempfile.mkdtemp(prefix="segpendo-chromium-")
    try:
        with ServerThread(app) as pages:
            cmd = [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                f"{pages.url}/page",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
            app.finished.wait(5)
            pages.raise_errors()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if app.done is None:
        raise AssertionError(f"the page never reported back; chromium exit {done.returncode}:\n{done.stderr[-3000:]}")
    if app.done.get("error"):
        raise AssertionError(f"the page failed: {app.done['error']}")
    return app.done
