"""The command line on production's bad days: ``segpendo check`` runs under seeded Pendo faults and Segment
re-deliveries unless ``--no-faults``; ``--fault``/``--faults`` set the rules (check and serve); ``serve --now``
and ``send --pendo`` drive the fake's clock; a check that cannot pass stops early and says why in its first line;
reproduce lines name every key by its environment variable. Subprocesses and real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from test_conformance import AcksThenLoses, EightDaysBack, StrictOnRefusal

from pytest_segpendo.conformance import default_faults
from pytest_segpendo.events import timestamp_ms
from pytest_segpendo.relay import Relay

CLI = [sys.executable, "-m", "pytest_segpendo"]
KEYS = ["--track-secret", "t-secret", "--integration-key", "i-key"]
RELAY_KEYS = {"track_secret": "t-secret", "integration_key": "i-key"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=240, env={**os.environ, **(env or {})})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def relay_on(port: int, kind: type[Relay] = Relay, **options: Any) -> Iterator[Relay]:
    keys = options.pop("keys", RELAY_KEYS)
    with kind(f"http://127.0.0.1:{port}", **keys, **options) as relay:
        yield relay


@contextmanager
def serve(*args: str) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen([*CLI, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "serve did not start"
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def check(port: int, relay: Relay, *args: str, report: Path | None = None) -> subprocess.CompletedProcess[str]:
    more = ["--report", str(report)] if report is not None else []
    return run("check", "--sut", relay.url, "--pendo-port", str(port), *KEYS, *args, *more)


def test_check_runs_on_a_bad_day_unless_told_otherwise(tmp_path: Path) -> None:
    port = free_port()
    with relay_on(port) as relay:
        bad = check(port, relay, report=tmp_path / "bad.json")
        good = check(port, relay, "--no-faults", "--seed", "1", report=tmp_path / "good.json")
        off = check(port, relay, "--faults", "off", "--seed", "2", report=tmp_path / "off.json")
    assert bad.returncode == good.returncode == off.returncode == 0, bad.stdout + good.stdout + off.stdout
    b, g, o = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("bad", "good", "off"))
    assert {i["route"] for i in b["injected"]} >= {"track", "metadata"}
    assert b["delivery"]["redelivered"] >= 1 and b["delivery"]["retried"] >= 2
    assert "faults injected by the test x" in bad.stdout and "re-delivered" in bad.stdout.splitlines()[0]
    assert g["injected"] == o["injected"] == [] and g["delivery"]["redelivered"] == o["delivery"]["redelivered"] == 0
    assert " --no-faults " in g["reproduce"] + " " and " --no-faults " in o["reproduce"] + " "
    assert "--no-faults" not in b["reproduce"] and "--faults" not in b["reproduce"]


def test_fault_rules_from_the_command_line_replace_the_default_ones(tmp_path: Path) -> None:
    rule = {"route": "track", "status": 503, "nth": 1, "count": 2}
    other = {"route": "metadata", "status": 429, "retry_after": 1, "nth": 2, "count": 1}
    (tmp_path / "faults.json").write_text(json.dumps([rule]))
    port = free_port()
    with relay_on(port) as relay:
        given = check(
            port, relay, "--fault", json.dumps(rule), "--fault", json.dumps(other), report=tmp_path / "a.json"
        )
        filed = check(port, relay, "--faults", str(tmp_path / "faults.json"), "--seed", "1", report=tmp_path / "b.json")
        both = check(
            port, relay, "--faults", str(tmp_path / "faults.json"), "--fault", json.dumps(other), "--seed", "2"
        )
    assert given.returncode == filed.returncode == both.returncode == 0, given.stdout + filed.stdout + both.stdout
    a = json.loads((tmp_path / "a.json").read_text())
    assert sorted((i["route"], i["status"]) for i in a["injected"]) == [
        ("metadata", 429),
        ("track", 503),
        ("track", 503),
    ]
    assert "--faults '[{" in a["reproduce"]  # the rules, as they were given, rerun the same check
    b = json.loads((tmp_path / "b.json").read_text())
    assert [(i["route"], i["status"]) for i in b["injected"]] == [("track", 503), ("track", 503)]
    bad = run(
        "check", "--sut", "http://127.0.0.1:9", "--pendo-port", "0", "--fault", '{"route": "track", "status": 200}'
    )
    assert bad.returncode == 2 and bad.stderr.startswith(
        "segpendo check: faults[0].status: must be an HTTP error status"
    )
    both_ways = run("check", "--sut", "http://x", "--pendo-port", "0", "--no-faults", "--fault", json.dumps(rule))
    assert both_ways.returncode == 2 and "give --no-faults, or --faults/--fault, not both" in both_ways.stderr
    unreadable = run("check", "--sut", "http://x", "--pendo-port", "0", "--faults", str(tmp_path / "none.json"))
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr


def test_serve_takes_fault_rules_and_a_clock_and_check_keeps_them(tmp_path: Path) -> None:
    rule = {"route": "track", "status": 500, "nth": 3, "count": 1}
    now = "2026-01-20T00:00:00Z"
    with serve(*KEYS, "--fault", json.dumps(rule), "--now", now) as urls:
        pendo = urls["pendo"]
        rules = requests.get(pendo + "/__segpendo/faults", timeout=10).json()["faults"]
        assert [(r["route"], r["status"], r["nth"]) for r in rules] == [("track", 500, 3)]
        assert requests.get(pendo + "/__segpendo/clock", timeout=10).json() == {
            "now": timestamp_ms(now),
            "kind": "fixed",
        }
        port = int(pendo.rsplit(":", 1)[1])
        with relay_on(port) as relay:
            done = run("check", "--sut", relay.url, "--pendo", pendo, "--report", str(tmp_path / "r.json"))
        after = requests.get(pendo + "/__segpendo/faults", timeout=10).json()["faults"]
        clock = requests.get(pendo + "/__segpendo/clock", timeout=10).json()
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["injected"][0]["request"] <= 3 + len(default_faults(0))  # serve's rule fired, reset kept it
    assert any(i["route"] == "track" and i["status"] == 500 for i in report["injected"])
    assert [(r["route"], r["status"], r["nth"]) for r in after] == [("track", 500, 3)], "the check's rules are gone"
    assert clock == {"now": timestamp_ms(now), "kind": "fixed"}, "serve's clock is back"
    assert run("serve", "--now", "yesterday").returncode == 2


def test_send_with_pendo_judges_ages_by_the_traffics_clock(tmp_path: Path) -> None:
    events = tmp_path / "old.jsonl"
    run("generate", "--seed", "4", "--count", "120", "--start", "2019-05-01T00:00:00Z", "-o", str(events))
    with serve(*KEYS) as urls:
        pendo = urls["pendo"]
        port = int(pendo.rsplit(":", 1)[1])
        with relay_on(port) as relay:
            followed = run("send", "--sut", relay.url, "--pendo", pendo, str(events))
            records = requests.get(pendo + "/__segpendo/records", timeout=10).json()
            requests.post(pendo + "/__segpendo/reset", timeout=10)
            plain = run("send", "--sut", relay.url, str(events))  # messageIds seen: the relay forwards nothing
            relay2 = Relay(relay.pendo_url, **RELAY_KEYS).start()
            try:
                plain = run("send", "--sut", relay2.url, str(events))
            finally:
                relay2.stop()
            dropped = requests.get(pendo + "/__segpendo/records", timeout=10).json()["dropped"]
        clock = requests.get(pendo + "/__segpendo/clock", timeout=10).json()
    assert followed.returncode == 0 and plain.returncode == 0, followed.stdout + plain.stdout
    assert records["dropped"] == [] and any(r["kind"] == "track" for r in records["records"])
    assert dropped and {d["rule"] for d in dropped} == {"timestamp-too-old"}, "by the wall clock, 2019 is too old"
    assert clock["kind"] == "wall"


def test_acknowledged_then_lost_is_named_in_the_first_lines() -> None:
    port = free_port()
    with relay_on(port, AcksThenLoses) as relay:
        done = check(port, relay)
    first = "\n".join(done.stdout.splitlines()[:15])
    assert done.returncode == 1, done.stdout
    assert "acknowledged to Segment, lost after Pendo answered" in first, first


def test_a_check_that_cannot_pass_stops_early_and_says_so_first() -> None:
    port = free_port()
    swapped = {"track_secret": "i-key", "integration_key": "t-secret"}
    with relay_on(port, StrictOnRefusal, keys=swapped) as relay:
        start = time.monotonic()
        done = check(port, relay)
        seconds = time.monotonic() - start
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("segpendo: stopped early: every Pendo request refused (the last 20): 403 "), first
    assert "on /data/track" in first
    assert seconds < 60


def test_keys_come_from_the_environment_and_reproduce_lines_name_them(tmp_path: Path) -> None:
    port = free_port()
    env = {"SEGPENDO_TRACK_SECRET": "t-secret", "SEGPENDO_INTEGRATION_KEY": "i-key", "SEGPENDO_SECRET": "wh"}
    with relay_on(port, secret="wh") as relay:
        done = run(
            "check", "--sut", relay.url, "--pendo-port", str(port), "--report", str(tmp_path / "r.json"), env=env
        )
        wrong = run("check", "--sut", relay.url, "--pendo-port", str(port), "--count", "20", "--seed", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    reproduce = json.loads((tmp_path / "r.json").read_text())["reproduce"]
    assert reproduce.endswith(
        '--secret "$SEGPENDO_SECRET" --integration-key "$SEGPENDO_INTEGRATION_KEY" --track-secret '
        '"$SEGPENDO_TRACK_SECRET"'
    )
    assert "t-secret" not in reproduce and "i-key" not in reproduce and "wh" not in reproduce.split()
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stdout  # without them, the relay refuses unsigned webhooks


@pytest.mark.parametrize("start", ["2019-01-01T00:00:00Z", "2040-01-01T00:00:00Z"])
def test_check_of_traffic_of_any_date_passes_and_seconds_timestamps_are_dropped_by_pendo(start: str) -> None:
    port = free_port()
    with relay_on(port) as relay:
        good = check(port, relay, "--start", start, "--count", "150")
    with relay_on(port, bugs=["seconds-timestamps"]) as relay:
        bad = check(port, relay, "--start", start, "--count", "150")
    assert good.returncode == 0, good.stdout
    assert "dropped" not in good.stdout.splitlines()[1]
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert "dropped" in lines[1] and any(line.startswith("    dropped by Pendo") for line in lines[:8]), lines[:8]
    assert "timestamp-too-old" in "\n".join(lines[:8]) and "looks like seconds" in "\n".join(lines[:8])


def test_a_relay_writing_timestamps_eight_days_back_has_them_dropped_by_pendo() -> None:
    port = free_port()
    with relay_on(port, EightDaysBack) as relay:
        done = check(port, relay, "--count", "150", "--no-faults")
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    assert "dropped" in lines[1] and lines[3].startswith("    dropped by Pendo"), lines[:5]
    assert "rule timestamp-too-old" in lines[3] and " days old at " in lines[3]
