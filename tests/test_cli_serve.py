"""``segpendo serve``: the ready line, real traffic to the fakes it runs, a clean exit on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

CLI = [sys.executable, "-m", "pytest_segpendo"]


@pytest.fixture
def serve() -> Iterator[callable]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
        proc = subprocess.Popen([*CLI, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the servers listen (or the process dies)
        if not line:
            proc.wait(10)
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        return proc, json.loads(line)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_traffic_and_clean_exit(serve: callable, sig: int) -> None:
    proc, urls = serve("--track-secret", "s3", "--api-key", "key", "--write-key", "wk")
    assert (
        set(urls) == {"pendo", "segment"}
        and urls["pendo"].startswith("http://127.0.0.1:")
        and urls["segment"].startswith("http://127.0.0.1:")
    )
    body = {"type": "track", "event": "Served", "visitorId": "u", "timestamp": int(time.time() * 1000), "context": {}}
    assert (
        requests.post(urls["pendo"] + "/data/track", json=body, headers={"x-pendo-integration-key": "s3"}).status_code
        == 200
    )
    assert (
        requests.post(urls["pendo"] + "/data/track", json=body, headers={"x-pendo-integration-key": "nope"}).status_code
        == 403
    )
    records = requests.get(urls["pendo"] + "/__segpendo/records").json()
    assert [r["event"] for r in records["records"]] == ["Served"] and len(records["rejected"]) == 1
    batch = {"batch": [{"type": "track", "userId": "u", "event": "Captured"}], "writeKey": "wk"}
    assert requests.post(urls["segment"] + "/v1/batch", json=batch).status_code == 200
    # a wrong write key: Segment answers 200 and drops the events; the fake lists them as rejected
    assert requests.post(urls["segment"] + "/v1/batch", json={**batch, "writeKey": "other"}).status_code == 200
    captured = requests.get(urls["segment"] + "/__segpendo/records").json()
    assert [e["event"] for e in captured["events"]] == ["Captured"] and len(captured["rejected"]) == 1
    assert "wrong write key" in captured["rejected"][0]["reason"]
    start = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(10) == 0
    assert time.monotonic() - start < 5
    for url in urls.values():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()


def test_a_taken_port_is_a_one_line_error(serve: callable) -> None:
    _, urls = serve()
    port = urls["pendo"].rsplit(":", 1)[1]
    done = subprocess.run([*CLI, "serve", "--pendo-port", port], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"segpendo serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_bad_port_argument() -> None:
    done = subprocess.run([*CLI, "serve", "--pendo-port", "70000"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "segpendo serve: argument --pendo-port: must be a port number 0-65535 (got 70000) (see 'segpendo serve "
        "--help')"
    )
