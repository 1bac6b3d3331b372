"""Production-size replays from the command line: events from files, gzipped files, folders, Segment's S3 archive
layout and stdin, bad lines counted and named, never stopping the run; expect and diff on the sharded path above a
size (the same bytes and the same report as in memory); check and serve with the fake Pendo server in worker
processes; the demo with every part in its own process from ``defaults.SCALED_EVENTS`` events."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_segpendo import defaults
from pytest_segpendo.cli import main
from pytest_segpendo.jsonl import dumps_bytes
from pytest_segpendo.profiles import get_profile
from pytest_segpendo.traffic import generate

CLI = [sys.executable, "-m", "pytest_segpendo"]
EVENTS = generate(900, seed=11, mix={"saas": 3, "edge": 1, "anonymous": 1})
BAD_JSON = b'{"type": "track", "userId": "u-cut'
INVALID = b'{"type": "track", "userId": "u1"}'  # JSON, but no event name: not a valid Segment event


def run(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], capture_output=True, cwd=cwd, input=stdin, timeout=240)


def lines(events: list[dict[str, Any]]) -> bytes:
    return b"".join(dumps_bytes(e) + b"\n" for e in events)


def archive(root: Path, events: list[dict[str, Any]], bad: tuple[bytes, ...] = (BAD_JSON,)) -> Path:
    """``events`` in Segment's S3 layout, segment-logs/{source}/{received day}/{file}.gz: three files over two days,
    the last ending with ``bad`` lines."""
    third = len(events) // 3
    parts = [events[:third], events[third : 2 * third], events[2 * third :]]
    files = ["1767571200000/a.gz", "1767571200000/b.gz", "1767657600000/a.gz"]
    for n, (name, part) in enumerate(zip(files, parts)):
        path = root / "segment-logs" / "src_1" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = b"".join(line + b"\n" for line in bad) if n == 2 else b""
        path.write_bytes(gzip.compress(lines(part) + extra))
    return root


# -- expect and diff: the sharded path gives what the in-memory one gives ----------------------------------------


@pytest.mark.parametrize("profile", ["track-api+metadata", "web-actions"])
def test_expect_of_an_archive_writes_the_same_bytes_in_memory_and_sharded(profile: str, tmp_path: Path) -> None:
    """A gzipped archive folder with a line cut short and an invalid event: both paths skip the two lines, write
    the records of every other event byte for byte alike (what the library computes), say the same line on stderr
    and exit 2; stdin (gzipped) and a plain file give the same."""
    folder = archive(tmp_path / "export", EVENTS, (BAD_JSON, INVALID))
    ways = {
        "memory": ["-o", "memory.jsonl"],
        "sharded": ["-o", "sharded.jsonl", "--sharded-above", "0", "--workers", "2"],
        "shards": ["-o", "shards.jsonl", "--shards", "5", "--workers", "1"],
    }
    done = {
        name: run("expect", "--profile", profile, str(folder), *extra, cwd=tmp_path) for name, extra in ways.items()
    }
    truth = get_profile(profile).expect(EVENTS)
    want = lines(truth.view(truth.hints.view))
    for name, result in done.items():
        assert result.returncode == 2, (name, result.stderr)
        assert (tmp_path / f"{name}.jsonl").read_bytes() == want, name
        assert result.stderr == done["memory"].stderr, name
    err = done["memory"].stderr.decode()
    last = folder / "segment-logs" / "src_1" / "1767657600000" / "a.gz"
    assert err.startswith(f"segpendo expect: {len(EVENTS)} events -> {len(truth.view(truth.hints.view))} records")
    assert err.endswith(
        f"; 2 bad line(s) skipped (first: {last}:{len(EVENTS) - 2 * 300 + 1}: invalid JSON: Unterminated string "
        "starting at)\n"
    )
    piped = run(
        "expect", "--profile", profile, "-", "--sharded-above", "0", cwd=tmp_path, stdin=gzip.compress(lines(EVENTS))
    )
    assert piped.returncode == 0 and piped.stdout == want, piped.stderr


def test_diff_reports_the_same_in_memory_and_sharded(tmp_path: Path) -> None:
    """Records lost, changed and a line that is not a record: the same text, the same JSON report on both paths
    (the line skipped, a root cause naming it, exit 2); files that conform exit 0 both ways."""
    expectation = get_profile("track-api+metadata").expect(EVENTS)
    expected = tmp_path / "expected.jsonl"
    expected.write_bytes(lines(expectation.state))
    observed = [dict(r) for r in expectation.state[3:]]
    for record in observed[:40]:
        if record["kind"] == "track":
            record["event"] = record["event"].lower()
    (tmp_path / "observed.jsonl").write_bytes(lines(observed) + b'{"kind": "visitor"}\n')
    outcomes = {}
    for name, extra in (("memory", []), ("sharded", ["--sharded-above", "0", "--workers", "2"])):
        report = f"{name}.json"
        outcomes[name] = run(
            "diff",
            "--profile",
            "track-api+metadata",
            "expected.jsonl",
            "observed.jsonl",
            "--limit",
            "3",
            "--report",
            report,
            *extra,
            cwd=tmp_path,
        )
    memory, sharded = outcomes["memory"], outcomes["sharded"]
    assert memory.returncode == sharded.returncode == 2, memory.stderr
    assert memory.stdout == sharded.stdout and memory.stderr == sharded.stderr
    first = memory.stdout.decode().splitlines()[:4]
    assert any("unreadable lines: 1 line(s) of observed.jsonl skipped" in line for line in first), first
    assert memory.stderr.decode().startswith(
        "segpendo diff: 1 line(s) that are not records skipped, not compared (first: observed.jsonl:"
    )
    report_m = json.loads((tmp_path / "memory.json").read_text())
    assert report_m == json.loads((tmp_path / "sharded.json").read_text())
    assert report_m["summary"]["missing"] == 3 and not report_m["conforms"]
    for extra in ([], ["--shards", "3"]):
        same = run("diff", "expected.jsonl", "expected.jsonl", *extra, cwd=tmp_path)
        assert same.returncode == 0 and same.stdout.startswith(b"segpendo: conforms"), same.stderr


def test_a_bad_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["expect", "--sharded-above", "lots", "x.jsonl"]) == 2
    assert (
        "argument --sharded-above: must be a size in bytes, e.g. 1000000 or 64M (got 'lots')" in capsys.readouterr().err
    )


# -- validate, transform and send read what EventSource reads ------------------------------------------------------


def test_validate_a_folder_names_each_file_and_line(tmp_path: Path) -> None:
    folder = archive(tmp_path / "export", EVENTS[:30], (BAD_JSON, INVALID))
    (folder / "more.jsonl").write_bytes(INVALID + b"\n")
    text = run("validate", str(folder), cwd=tmp_path)
    last = folder / "segment-logs" / "src_1" / "1767657600000" / "a.gz"
    assert text.returncode == 1
    assert text.stdout.decode().splitlines() == [
        f"{folder / 'more.jsonl'}:1: track.event: required",  # files in path order
        f"{last}:11: invalid JSON: Unterminated string starting at (column 29)",
        f"{last}:12: track.event: required",
        "3 of 33 lines invalid (3 errors); 30 events valid (4 files)",
    ]
    body = json.loads(run("validate", str(folder), "--format", "json", cwd=tmp_path).stdout)
    assert (
        body["files"] == 4 and body["invalidLines"] == 3 and body["invalid"][0]["source"] == str(folder / "more.jsonl")
    )
    zipped = run("validate", "-", cwd=tmp_path, stdin=gzip.compress(lines(EVENTS[:30])))
    assert zipped.returncode == 0 and zipped.stdout == b"30 events valid\n"


def test_transform_reads_gzip_and_refuses_a_bad_line(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"who": {"@path": "$.userId"}}')
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(b'{"userId": "u1"}\n{"userId": "u2"}\n'))
    done = run("transform", "--field-mapping", "m.json", "e.jsonl.gz", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == b'{"who":"u1"}\n{"who":"u2"}\n'
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b'{"userId": "u1"}\n' + BAD_JSON + b"\n"))
    cut = run("transform", "--field-mapping", "m.json", "cut.gz", cwd=tmp_path)
    assert cut.returncode == 2 and cut.stdout == b""
    assert cut.stderr.decode() == "segpendo transform: cut.gz:2: invalid JSON: Unterminated string starting at\n"


def test_send_names_the_bad_lines_first_and_in_its_json_report(tmp_path: Path) -> None:
    folder = archive(tmp_path / "export", EVENTS[:9], (BAD_JSON,) * 7)
    done = run(
        "send",
        "--sut",
        "http://127.0.0.1:9",
        "--max-attempts",
        "1",
        "--timeout",
        "0.5",
        "--report",
        "r.json",
        str(folder),
        cwd=tmp_path,
    )
    out = done.stdout.decode().splitlines()
    assert done.returncode == 1, done.stderr
    assert out[0] == (
        f"segpendo send: 9 events from 3 files; 7 bad lines skipped (first: {folder}/segment-logs/src_1/1767657600000/"
        "a.gz:4: invalid JSON: Unterminated string starting at)"
    )
    assert len(out[1 : 1 + defaults.BAD_LINES_SHOWN]) == defaults.BAD_LINES_SHOWN
    assert out[1 + defaults.BAD_LINES_SHOWN] == "  ... and 2 more (the JSON report lists them all: bad_lines)"
    assert out[2 + defaults.BAD_LINES_SHOWN].startswith("9 events to http://127.0.0.1:9 via webhook")
    report = json.loads((tmp_path / "r.json").read_text())
    assert [b["line"] for b in report["bad_lines"]] == [4, 5, 6, 7, 8, 9, 10] and report["events"] == 9


# -- check and serve at scale ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def relay_process(port: int, *bugs: str) -> Iterator[str]:
    """The bundled relay as a process of its own (``python -m pytest_segpendo.relay``), sending to Pendo on
    ``port``; yields its URL."""
    command = [sys.executable, "-m", "pytest_segpendo.relay", "--pendo", f"http://127.0.0.1:{port}"]
    command += ["--track-secret", "t", "--integration-key", "k", "--secret", "s"]
    command += [arg for bug in bugs for arg in ("--bug", bug)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        yield json.loads(line)["relay"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.mark.slow
def test_a_gzipped_archive_folder_replays_through_check(tmp_path: Path) -> None:
    """The issue's done-when: a replay of a gzipped archive folder runs through segpendo check, the fake Pendo
    server in two worker processes and the diff on the sharded path; the line cut short is named first and listed
    in the JSON report; the correct relay conforms, a broken one does not."""
    folder = archive(tmp_path / "export", EVENTS)
    last = folder / "segment-logs" / "src_1" / "1767657600000" / "a.gz"
    check = ["check", "--events", str(folder), "--secret", "s", "--track-secret", "t", "--integration-key", "k"]
    check += ["--workers", "2", "--sharded-above", "0", "--limit", "2"]
    outcomes = {}
    for name, bugs in (("correct", ()), ("broken", ("account-lost",))):
        port = free_port()
        with relay_process(port, *bugs) as url:
            outcomes[name] = run(
                *check, "--sut", url, "--pendo-port", str(port), "--report", f"{name}.json", cwd=tmp_path
            )
    correct, broken = outcomes["correct"], outcomes["broken"]
    assert correct.returncode == 0, correct.stdout.decode() + correct.stderr.decode()
    assert broken.returncode == 1, broken.stdout.decode() + broken.stderr.decode()
    for result in (correct, broken):
        out = result.stdout.decode().splitlines()
        assert out[0] == (
            f"segpendo check: {len(EVENTS)} events from 3 files; 1 bad line skipped (first: {last}:301: invalid JSON: "
            "Unterminated string starting at)"
        )
        assert out[1] == f"  {last}:301: invalid JSON: Unterminated string starting at"
        assert out[2].startswith(f"{len(EVENTS)} events to http://127.0.0.1:")
        assert result.stderr == b""
    assert correct.stdout.decode().splitlines()[3].startswith("segpendo: conforms (profile track-api+metadata")
    assert "track accountId" in broken.stdout.decode()
    report = json.loads((tmp_path / "correct.json").read_text())
    assert report["conforms"] and report["delivery"]["events"] == len(EVENTS)
    assert report["bad_lines"] == [
        {
            "source": str(last),
            "line": 301,
            "error": "invalid JSON: Unterminated string starting at",
            "text": BAD_JSON.decode(),
        }
    ]


def test_check_diffs_in_shards_with_the_report_it_makes_in_memory() -> None:
    """run_check's sharded diff (what segpendo check and demo take above the threshold) reports what the in-memory
    comparison reports, a broken relay's differences, Pendo's faults and the writer lanes included."""
    from pytest_segpendo.conformance import _compare, run_check
    from pytest_segpendo.fakes.pendo import FakePendo
    from pytest_segpendo.relay import Relay

    events = EVENTS[:400]
    bugs = ("non-string-traits-dropped",)
    with (
        FakePendo(track_secret="t", integration_key="k") as pendo,
        Relay(pendo.url, track_secret="t", integration_key="k", bugs=bugs) as relay,
    ):
        result = run_check(events, relay.url, pendo=pendo, seed=3, sharded={"above": 0, "workers": 2})
    assert result.observed is not None and result.report.injected and not result.report.conforms
    sharded = _compare(result.expectation, result.observed, None, 3, None, {}, {"above": 0, "workers": 2})
    memory = _compare(result.expectation, result.observed, None, 3, None, {}, None)
    assert sharded.as_json() == memory.as_json() and sharded.notes == memory.notes
    assert sharded.format() == memory.format()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_serve_runs_the_fake_pendo_server_in_worker_processes(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    proc = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--workers",
            "2",
            "--memory-records",
            "10",
            "--spill-dir",
            str(spill),
            "--integration-key",
            "k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        assert len(children(proc.pid)) >= 2, "one process per worker"
        items = [{"visitorId": f"v{i}", "values": {"n": i}} for i in range(50)]
        url = urls["pendo"] + "/api/v1/metadata/visitor/custom/value?create=true"
        answer = requests.post(url, json=items, headers={"x-pendo-integration-key": "k"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["updated"] == 50
        got = requests.get(urls["pendo"] + "/__segpendo/records.jsonl", timeout=10).text.splitlines()
        assert len(got) == 51 and any(spill.iterdir()), "records past 10 spilled to --spill-dir"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


# -- the demo at scale ---------------------------------------------------------------------------------------------


def test_the_demo_from_the_scaled_count_runs_every_part_in_its_own_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Above the threshold each pass runs with run_scaled_check (the relay and the fake in processes of their own);
    the output reads as the one-process demo's, --html included."""
    import pytest_segpendo.scale as scale

    calls = []
    real = scale.run_scaled_check

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["delivery_options"]["concurrency"])
        return real(*args, **kwargs)

    monkeypatch.setattr(scale, "run_scaled_check", counted)
    assert main(["demo", "--count", "300", "--limit", "2"]) == 0
    small = capsys.readouterr().out
    assert calls == []
    monkeypatch.setattr(defaults, "SCALED_EVENTS", 300)
    assert main(["demo", "--count", "300", "--limit", "2", "--html", str(tmp_path / "demo.html")]) == 0
    scaled = capsys.readouterr().out
    assert calls == [defaults.DEMO_SCALED_CONCURRENCY] * 2

    def shape(text: str) -> list[str]:
        return [line.split(":")[0].split(" (")[0] for line in text.splitlines() if not line.startswith(" ")]

    assert shape(scaled) == shape(small)
    assert scaled.splitlines()[0] == small.splitlines()[0]
    assert "verdict: the correct relay conforms; the broken one is caught" in scaled
    page = (tmp_path / "demo.html").read_text(encoding="utf-8")
    assert "segpendo demo: the correct relay" in page and "a broken relay" in page


@pytest.mark.slow
def test_the_demo_at_the_scaled_count_passes_the_correct_relay_and_catches_the_broken_one(tmp_path: Path) -> None:
    done = run("demo", "--count", str(defaults.SCALED_EVENTS), "--limit", "1", cwd=tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 0, out[-3000:] + done.stderr.decode()
    assert out.splitlines()[0].startswith(f"segpendo demo: {defaults.SCALED_EVENTS:,} Segment events (seed 2026")
    assert "verdict: the correct relay conforms; the broken one is caught" in out and done.stderr == b""


def test_large_run_options_have_their_defaults() -> None:
    from pytest_segpendo.cli import build_parser

    parser = build_parser()
    expect = parser.parse_args(["expect", "e.jsonl"])
    assert (expect.sharded_above, expect.workers, expect.shards, expect.scheduler) == (
        defaults.SHARDED_ABOVE_BYTES,
        None,
        None,
        None,
    )
    serve = parser.parse_args(["serve"])
    assert (serve.workers, serve.memory_records) == (1, defaults.MEMORY_RECORDS)
    assert parser.parse_args(["diff", "a", "b", "--sharded-above", "2M"]).sharded_above == 2 * 2**20


def test_a_check_of_the_scaled_count_starts_its_fake_with_a_worker_per_core() -> None:
    from argparse import Namespace

    from pytest_segpendo.cli import _fake_scale
    from pytest_segpendo.scale import default_workers

    given = Namespace(workers=None, memory_records=None, spill_dir=None)
    assert _fake_scale(given, defaults.SCALED_EVENTS - 1) == {"workers": 1, "spill_dir": None}
    assert _fake_scale(given, defaults.SCALED_EVENTS)["workers"] == default_workers()
    chosen = Namespace(workers=3, memory_records=50, spill_dir="/tmp/x")
    assert _fake_scale(chosen, 10) == {"workers": 3, "spill_dir": "/tmp/x", "memory_records": 50}


# -- a replay check in slices of the users ---------------------------------------------------------------------------


def sliced_check(tmp_path: Path, *extra: str, bugs: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    """``segpendo check`` (in this process) of EVENTS from a gzipped archive through the bundled relay (in a
    thread); returns the exit code and its JSON report."""
    from pytest_segpendo.relay import Relay

    folder = archive(tmp_path / "export", EVENTS, bad=())
    port = free_port()
    report = tmp_path / "report.json"
    with Relay(f"http://127.0.0.1:{port}", track_secret="t", integration_key="k", secret="s", bugs=bugs) as relay:
        args = ["check", "--events", str(folder), "--sut", relay.url, "--pendo-port", str(port), "--secret", "s"]
        args += ["--track-secret", "t", "--integration-key", "k", "--limit", "2", "--report", str(report), *extra]
        code = main(args)
    return code, json.loads(report.read_text())


def test_slices_replay_every_user_once_with_one_slice_in_memory_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_segpendo.scale import in_slice

    code, report = sliced_check(tmp_path, "--slices", "3")
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    sizes = [sum(in_slice(e, i, 3) for e in EVENTS) for i in range(3)]
    assert all(sizes) and sum(sizes) == len(EVENTS), "each event in exactly one slice"
    for i, size in enumerate(sizes):
        assert f"== users slice {i} of 3 (--slice {i}/3): {size:,} events" in out
    assert out.rstrip().endswith("segpendo check: conforms in all 3 slices of the users")
    assert report["conforms"] and [p["part"] for p in report["parts"]] == [0, 1, 2]
    assert [d["events"] for d in report["delivery"]] == sizes, "each slice delivered only its own users"
    assert report["summary"]["missing"] == 0 and report["matched"] == report["expected"] > 0


def test_a_broken_relay_is_caught_in_the_slices_and_one_slice_reruns_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_segpendo.scale import in_slice

    code, report = sliced_check(tmp_path, "--slices", "2", bugs=("account-lost",))
    out = capsys.readouterr().out
    assert code == 1
    assert "segpendo check: 2 of 2 slices of the users differ (0/2, 1/2):" in out
    assert "track accountId" in out and not report["conforms"]
    reproduce = [line for line in out.splitlines() if line.startswith("reproduce: segpendo check")]
    assert [f"--slice {i}/2 " in line for i, line in enumerate(reproduce)] == [True, True], "rerun one alone"
    # --slice: one machine's share, as a CI matrix runs it
    code, alone = sliced_check(tmp_path, "--slice", "1/2", bugs=("account-lost",))
    out = capsys.readouterr().out
    assert code == 1 and "== users slice 1 of 2 (--slice 1/2)" in out and "slice 0 of 2" not in out
    assert alone["delivery"]["events"] == sum(in_slice(e, 1, 2) for e in EVENTS)
    assert "--slice 1/2" in alone["reproduce"]


def test_a_large_replay_is_sliced_by_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over defaults.REPLAY_SLICE_BYTES of events (once read) a check replays in as many slices as keep each
    under it, and says so first."""
    size = len(lines(EVENTS))
    monkeypatch.setattr(defaults, "REPLAY_SLICE_BYTES", size // 2)
    code, report = sliced_check(tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert out.splitlines()[0].startswith("segpendo check: 1 MiB of events: replayed in 3 slices of the users")
    assert len(report["parts"]) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--slice", "2/2"], "must be I/N with 0 <= I < N"),
        (["--slice", "x"], "must be I/N, e.g. 0/4"),
        (["--slice", "0/2", "--slices", "2"], "not both"),
    ],
)
def test_bad_slices_are_usage_errors(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--sut", "http://127.0.0.1:9", "--pendo-port", "0", "--secret", "s", *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_generated_traffic_slices_the_same_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_segpendo.relay import Relay
    from pytest_segpendo.scale import in_slice

    port = free_port()
    with Relay(f"http://127.0.0.1:{port}", track_secret="t", integration_key="k", secret="s") as relay:
        args = ["check", "--sut", relay.url, "--pendo-port", str(port), "--secret", "s", "--track-secret", "t"]
        args += ["--integration-key", "k", "--seed", "4", "--count", "300", "--slices", "2"]
        args += ["--report", str(tmp_path / "r.json")]
        assert main(args) == 0, capsys.readouterr().out[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    events = generate(300, seed=4)
    assert [d["events"] for d in report["delivery"]] == [sum(in_slice(e, i, 2) for e in events) for i in range(2)]
