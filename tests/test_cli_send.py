"""``segpendo send``: delivery from the command line, the printed report, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_segpendo.fakes import FakePendo, FakeSegment
from pytest_segpendo.traffic import generate_jsonl

CLI = [sys.executable, "-m", "pytest_segpendo"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "send", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(generate_jsonl(120, seed=9)), encoding="utf-8")
    return path


def test_tracking_api_to_the_fake_segment_with_a_json_report(events: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with FakeSegment(write_key="wk") as segment:
        url = segment.url
        done = run(
            "--sut",
            url,
            "--via",
            "tracking-api",
            "--write-key",
            "wk",
            "--batch-size",
            "50",
            "--report",
            str(report),
            str(events),
        )
        assert done.returncode == 0, done.stderr
        assert len(segment.events()) == 120
    assert done.stdout.startswith(
        f"120 events to {url}/v1/batch via tracking-api in 3 requests: 120 acknowledged, 0 retries, 0 failed"
    )
    data = json.loads(report.read_text())
    assert data["acknowledged"] == 120 and data["requests"] == 3 and data["failures"] == []


def test_failures_exit_1_and_are_listed(events: Path) -> None:
    with FakePendo(api_key="right") as pendo:
        done = run("--sut", pendo.url, "--via", "segmentio", "--api-key", "wrong", "--max-attempts", "1", str(events))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "120 failed" in lines[0]
    assert lines[1].startswith("  failed: event 1 (")
    assert "HTTP 403, not retried (Segment does not retry 4xx): " in lines[1]
    assert lines[-1] == "  ... and 110 more failures"


def test_webhook_actions_with_a_data_mapping_file(events: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "data.json"
    mapping.write_text(json.dumps({"type": "track", "event": {"@path": "$.event"}, "visitorId": {"@path": "$.userId"}}))
    with FakePendo() as pendo:
        done = run(
            "--sut",
            pendo.url + "/data/track",
            "--via",
            "webhook-actions",
            "--data",
            str(mapping),
            "--header",
            "x-pendo-integration-key: k",
            "--max-attempts",
            "1",
            str(events),
        )
        refused = {r["reason"] for r in pendo.rejected}
    assert done.returncode == 1, "bodies without timestamp are refused by the Track Events API"
    assert "timestamp: required (integer milliseconds since the epoch)" in refused
    assert refused <= {
        "timestamp: required (integer milliseconds since the epoch)",
        "event: required (a non-empty string)",
        "visitorId: required",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--sut", "http://127.0.0.1:9", "--via", "tracking-api", "EVENTS"],
            "segpendo send: tracking-api needs a write key (--write-key)",
        ),
        (["--sut", "nope", "--via", "webhook", "EVENTS"], "segpendo send: target must be an http(s) URL (got 'nope')"),
        (["--sut", "http://x", "--via", "email", "EVENTS"], "segpendo send: argument --via: invalid choice: 'email'"),
        (
            ["--sut", "http://x", "--via", "webhook", "--header", "novalue", "EVENTS"],
            "segpendo send: argument --header: takes NAME: VALUE (got 'novalue')",
        ),
        (
            ["--sut", "http://x", "--via", "webhook-actions", "--data", "MISSING", "EVENTS"],
            "segpendo send: cannot read data mapping MISSING: No such file or directory",
        ),
        (
            ["--sut", "http://x", "--via", "webhook-actions", "--data", "BAD", "EVENTS"],
            "segpendo send: /x/@path should be a string or a mapping directive but it is a number.",
        ),
        (
            ["--sut", "http://x", "--via", "webhook", "/nonexistent.jsonl"],
            "segpendo send: cannot read /nonexistent.jsonl: No such file or directory",
        ),
    ],
)
def test_usage_errors(events: Path, tmp_path: Path, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": {"@path": 1}}')
    names = {"EVENTS": str(events), "MISSING": str(tmp_path / "missing.json"), "BAD": str(bad)}
    done = run(*[names.get(a, a) for a in args])
    assert done.returncode == 2 and done.stdout == ""
    expected = message.replace("MISSING", str(tmp_path / "missing.json"))
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith(expected), done.stderr
