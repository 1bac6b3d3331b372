"""``segpendo diff``, ``segpendo check`` (against a relay in Node.js and one in another Python process) and
``segpendo demo``: verdicts, exit codes, JSON reports, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_segpendo.cli import main
from pytest_segpendo.profiles import expect
from pytest_segpendo.traffic import generate

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pytest_segpendo"]
KEYS = ["--track-secret", "t-secret", "--integration-key", "i-key"]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# -- diff -----------------------------------------------------------------------------------------------------


@pytest.fixture
def expected_file(tmp_path: Path) -> tuple[Path, list[dict]]:
    records = expect(generate(300, seed=8, scenario="saas"), "track-api+metadata").stream
    return write_jsonl(tmp_path / "expected.jsonl", records), records


def test_diff_of_equal_files_conforms(
    expected_file: tuple[Path, list[dict]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, records = expected_file
    assert main(["diff", str(path), str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("segpendo: conforms (state view): ")


def test_diff_reports_each_planted_difference_and_writes_the_json_report(
    expected_file: tuple[Path, list[dict]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, records = expected_file
    observed = json.loads(json.dumps(records))
    tracks = [r for r in observed if r["kind"] == "track"]
    tracks[0]["properties"]["plan"] = "planted"
    missing = tracks[1]
    observed.remove(missing)
    observed.append({"kind": "account", "id": "ghost", "metadata": {}, "parentAccountId": None})
    obs = write_jsonl(tmp_path / "observed.jsonl", observed)
    report = tmp_path / "report.json"
    assert main(["diff", str(path), str(obs), "--view", "stream", "--report", str(report)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == "segpendo: Pendo did not get what was expected (stream view): 1 missing, 1 unexpected, 1 changed; "
        f"{len(records) - 2} of {len(records)} expected records matched"
    )
    assert any(
        line.startswith(f'  missing track "{missing["event"]}" (visitor "{missing["visitorId"]}"') for line in out
    )
    assert '  unexpected account "ghost": received {}, not expected' in out
    assert any(line.startswith("      properties.plan: expected ") and line.endswith(', got "planted"') for line in out)
    data = json.loads(report.read_text())
    assert data["conforms"] is False
    assert {k: v for k, v in data["summary"].items() if v} == {"missing": 1, "unexpected": 1, "changed": 1}
    assert [d["class"] for d in data["differences"]] == ["missing", "unexpected", "changed"]


def test_diff_with_a_profile_uses_its_hints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expectation = expect(generate(200, seed=2, scenario="saas"), "web-actions")
    observed = json.loads(json.dumps(expectation.stream))
    for r in observed:
        if r["kind"] == "visitor":
            r["metadata"]["language"] = "de-DE"
        if r["kind"] == "track":
            r["timestamp"] += 999
    e = write_jsonl(tmp_path / "e.jsonl", expectation.stream)
    o = write_jsonl(tmp_path / "o.jsonl", observed)
    assert main(["diff", str(e), str(o)]) == 1, "without the profile, language and browser clocks differ"
    capsys.readouterr()
    assert main(["diff", "--profile", "web-actions", str(e), str(o)]) == 0
    assert main(["diff", str(e), str(o), "--ignore-timestamps", "--agent-field", "visitor.metadata.language"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "{e}"], "segpendo diff: cannot read missing.jsonl"),
        (  # lines that are not records: skipped, the report printed, and exit 2 with the first one
            ["{e}", "{events}"],
            "segpendo diff: 3 line(s) that are not records skipped, not compared (first: {events_name}:1: not a Pendo "
            "record: kind: must be one of visitor, account, parentAccount, track (got None)); the report covers the "
            "rest",
        ),
        (
            ["{e}", "{e}", "--profile", "webactions"],
            "segpendo diff: unknown profile 'webactions' (choose from web-actions, classic, track-api, "
            "track-api+metadata)",
        ),
        (
            ["{e}", "{e}", "--ignore", "metadata.x"],
            "segpendo diff: path 'metadata.x': must start with visitor, account, parentAccount, track or *",
        ),
        (["-", "-"], "segpendo diff: only one of EXPECTED and OBSERVED can be - (stdin)"),
        (["{e}", "{e}", "--view", "merged"], "segpendo diff: argument --view: invalid choice: 'merged'"),
    ],
)
def test_diff_usage_errors_are_one_line_exit_2(
    args: list[str],
    message: str,
    expected_file: tuple[Path, list[dict]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = expected_file
    events = write_jsonl(tmp_path / "events.jsonl", generate(3, seed=1))
    monkeypatch.chdir(tmp_path)
    fill = {"e": str(path), "events": str(events), "events_name": str(events)}
    assert main([a.format(**fill) for a in ["diff", *args]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.strip().startswith(message.format(**fill))


# -- check ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a relay process and yield its URL from the JSON line it prints when listening."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"{cmd[0]} did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield json.loads(line)["relay"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "check", *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("Node.js is required here (scripts/test-setup installs it)")
    return path


def test_check_a_relay_written_in_node_conforms_on_a_good_day_and_on_a_bad_one(node: str, tmp_path: Path) -> None:
    """examples/node-relay/relay.js conforms on a good day (--no-faults) and on the default check's bad day: it asks
    Segment to retry when Pendo answers 429 or 5xx, and forwards a re-delivered event once. The bad day's faults and
    re-deliveries are listed in the first lines. (The second check sends other traffic: the relay remembers the
    messageIds it forwarded, so the same traffic again would be a re-delivery of everything.)"""
    port = free_port()
    env = {
        "PENDO_URL": f"http://127.0.0.1:{port}",
        "PENDO_TRACK_SECRET": "t-secret",
        "PENDO_INTEGRATION_KEY": "i-key",
        "SEGMENT_SHARED_SECRET": "wh",
    }
    report = tmp_path / "report.json"
    common = ["--sut", "", "--via", "webhook", "--profile", "track-api+metadata", "--pendo-port", str(port)]
    common += ["--secret", "wh", *KEYS, "--count", "400", "--scenario", "saas"]
    with process([node, str(ROOT / "examples" / "node-relay" / "relay.js")], env) as relay:
        common[1] = relay
        good = run_check(*common, "--seed", "3", "--no-faults", "--report", str(report))
        bad_day = run_check(*common, "--seed", "4")
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    assert lines[0].startswith(
        f"400 events to {relay} via webhook in 400 requests: 400 acknowledged, 0 retries, 0 failed"
    )
    assert lines[1].startswith("segpendo: conforms (profile track-api+metadata, state view): ")
    data = json.loads(report.read_text())
    assert data["conforms"] is True and data["delivery"]["acknowledged"] == 400 and data["seed"] == 3
    assert data["reproduce"].endswith(
        "--no-faults " + '--secret "$SEGPENDO_SECRET" --integration-key '
        '"$SEGPENDO_INTEGRATION_KEY" --track-secret "$SEGPENDO_TRACK_SECRET"'
    )
    assert bad_day.returncode == 0, bad_day.stdout + bad_day.stderr
    first = "\n".join(bad_day.stdout.splitlines()[:12])
    assert "re-delivered" in first and "faults injected by the test x" in first, first


def test_check_finds_the_bug_of_a_relay_in_another_process(tmp_path: Path) -> None:
    port = free_port()
    cmd = [
        *CLI[:1],
        "-m",
        "pytest_segpendo.relay",
        "--pendo",
        f"http://127.0.0.1:{port}",
        *KEYS,
        "--bug",
        "account-lost",
    ]
    events = write_jsonl(tmp_path / "events.jsonl", generate(200, seed=5, scenario="saas"))
    with process(cmd) as relay:
        done = run_check(
            "--sut",
            relay,
            "--profile",
            "track-api+metadata",
            "--pendo-port",
            str(port),
            *KEYS,
            "--events",
            str(events),
            "--limit",
            "2",
        )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert out[1].startswith("segpendo: Pendo did not get what was expected (profile track-api+metadata, state view): ")
    assert "missing" not in out[1] and "unexpected" not in out[1], "every track is there, without its account"
    assert out[2:4] == ["  root causes (what explains the rest):", out[3]]
    assert out[3].startswith("    faults injected by the test x"), "the check ran on a bad day: the relay coped"
    most = out.index("  fields that differ most:")
    assert out[most + 1].startswith("    track accountId: ")
    assert any(line.startswith('      accountId: expected "') and line.endswith(", got null") for line in out)
    assert (
        out[-1]
        == f"reproduce: segpendo check --sut {relay} --via webhook --profile track-api+metadata --pendo-port {port} "
        f'--events {events} --integration-key "$SEGPENDO_INTEGRATION_KEY" --track-secret "$SEGPENDO_TRACK_SECRET"'
    )


def test_check_with_nothing_listening_at_the_sut_is_a_usage_error() -> None:
    done = run_check(
        "--sut",
        f"http://127.0.0.1:{free_port()}",
        "--profile",
        "track-api",
        "--pendo-port",
        "0",
        "--count",
        "3",
        "--max-attempts",
        "1",
    )
    assert done.returncode == 2
    assert done.stderr.startswith("segpendo check: cannot reach the system under test at http://127.0.0.1:")
    assert "(is it running and listening there?)" in done.stderr and done.stderr.count("\n") == 1


def test_check_with_the_pendo_port_taken_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_check(
            "--sut", "http://127.0.0.1:9", "--profile", "track-api", "--pendo-port", str(port), "--count", "3"
        )
    assert done.returncode == 2
    assert (
        done.stderr.startswith(f"segpendo check: cannot listen on 127.0.0.1:{port}: ") and done.stderr.count("\n") == 1
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--profile", "nope"],
            "segpendo check: unknown profile 'nope' (choose from web-actions, classic, track-api, track-api+metadata)",
        ),
        (
            ["--profile", "track-api", "--events", "x.jsonl", "--seed", "1"],
            "segpendo check: give --events FILE, or --seed/--count/--scenario/--mix/--start to generate traffic, not "
            "both",
        ),
        (["--profile", "track-api", "--events", "nowhere.jsonl"], "segpendo check: cannot read nowhere.jsonl"),
    ],
)
def test_check_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--sut", "http://127.0.0.1:9", "--pendo-port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


# -- demo -----------------------------------------------------------------------------------------------------


def test_demo_passes_the_correct_relay_and_catches_the_broken_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--count", "400", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    correct, broken = out.split("== a broken relay")
    assert "segpendo: conforms (profile track-api+metadata, state view)" in correct
    assert "segpendo: Pendo did not get what was expected (profile track-api+metadata, state view)" in broken
    assert "    track accountId: " in broken and "got null" in broken, "account-lost shows as the accountId it loses"
    assert "got (absent)" in broken, "non-string traits dropped show as absent metadata"
    assert "verdict: the correct relay conforms; the broken one is caught" in out


def test_demo_with_a_chosen_bug_and_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--count", "300", "--bug", "event-name-case"]) == 0
    assert "    track event: " in capsys.readouterr().out
    assert main(["demo", "--bug", "nope"]) == 2
    assert capsys.readouterr().err.startswith("segpendo demo: unknown bug 'nope' (choose from ")


def test_check_against_a_fake_that_is_not_running_is_a_usage_error() -> None:
    done = run_check(
        "--sut",
        "http://127.0.0.1:9",
        "--profile",
        "track-api",
        "--pendo",
        f"http://127.0.0.1:{free_port()}",
        "--count",
        "3",
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("segpendo check: cannot reach the fake Pendo server at http://127.0.0.1:")
    assert done.stderr.rstrip().endswith("(is segpendo serve running there?)")


def test_remote_pendo_reads_a_fake_in_another_process_through_its_inspection_endpoints() -> None:
    import urllib.request

    from pytest_segpendo.fakes import RemoteError, RemotePendo

    with _serve() as urls:
        remote = RemotePendo(urls["pendo"])
        now = int(time.time() * 1000)
        body = json.dumps({"type": "track", "event": "E", "visitorId": "u", "timestamp": now, "context": {}}).encode()
        urllib.request.urlopen(
            urllib.request.Request(urls["pendo"] + "/data/track", body, {"x-pendo-integration-key": "k"})
        ).read()
        received, active = remote.activity()
        assert received >= 1 and active == 0
        assert [r["event"] for r in remote.inspection()["records"]] == ["E"]
        remote.reset()
        assert remote.inspection()["records"] == []
        with pytest.raises(RemoteError, match="answered HTTP 404: is this a segpendo fake"):
            RemotePendo(urls["segment"])._call("GET", "nothing")
    with pytest.raises(RemoteError, match=r"must be http://host:port"):
        RemotePendo("ftp://example.com")


@contextmanager
def _serve() -> Iterator[dict[str, str]]:
    proc = subprocess.Popen([*CLI, "serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
