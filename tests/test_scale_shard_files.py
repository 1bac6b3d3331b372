"""Files in, as the commands read them: ``expect_to_file`` writes the bytes ``segpendo expect`` writes,
``diff_files`` gives the report ``segpendo diff`` prints; from plain and gzipped JSONL, folders in Segment's S3
layout, on worker processes; bad lines are counted and reported, never stopping the run; spill files go."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.jsonl import dumps_bytes, load_jsonl_values
from pytest_segpendo.profiles import get_profile
from pytest_segpendo.scale import diff_files, expect_to_file
from pytest_segpendo.scale.partition import browser_key
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, diff

BAD = [b"not json at all\n", b"[1, 2]\n", b"\n"]


def lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [dumps_bytes(e) + b"\n" for e in events]


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return generate(700, seed=11, mix={"saas": 3, "edge": 1, "anonymous": 1})


def archive(folder: Path, events: list[dict[str, Any]]) -> Path:
    """Segment's S3 layout: two days, gzipped, a bad line in each."""
    root = folder / "segment-logs" / "src1"
    half = len(events) // 2
    for n, (day, part) in enumerate([("1767571200000", events[:half]), ("1767657600000", events[half:])]):
        (root / day).mkdir(parents=True)
        body = lines(part)
        body.insert(3, BAD[n])
        with gzip.open(root / day / f"part-{n}.gz", "wb") as f:
            f.writelines(body)
    return folder


@pytest.mark.parametrize("profile", ["track-api+metadata", "web-actions", "classic"])
@pytest.mark.parametrize("view", ["state", "stream"])
def test_expect_to_file_writes_what_segpendo_expect_writes(
    profile: str, view: str, events: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    body = lines(events)
    body[10:10] = BAD
    path.write_bytes(b"".join(body))
    expectation = get_profile(profile).expect(events)
    want = b"".join(dumps_bytes(r) + b"\n" for r in expectation.view(view))
    out = tmp_path / "expected.jsonl"
    spill = tmp_path / "spill"
    summary = expect_to_file(path, profile, out, view=view, workers=2, shards=3, spill_dir=spill, validate=False)
    assert out.read_bytes() == want
    assert summary.events == len(events) and summary.records == len(expectation.view(view))
    assert summary.ignored == expectation.ignored_summary()
    assert [(b.line, b.error.split(":")[0]) for b in summary.bad] == [
        (11, "invalid JSON"),
        (12, "not a JSON object (list)"),
    ]
    assert list(spill.iterdir()) == []  # the spill folder is emptied


def test_an_archive_folder_gzipped_and_in_one_process(events: list[dict[str, Any]], tmp_path: Path) -> None:
    folder = archive(tmp_path / "archive", events)
    buffer = io.BytesIO()
    summary = expect_to_file(folder, "web-actions", buffer, workers=1, validate=False)
    expectation = get_profile("web-actions").expect(events)
    assert buffer.getvalue() == b"".join(dumps_bytes(r) + b"\n" for r in expectation.state)
    assert [Path(b.source).name for b in summary.bad] == ["part-0.gz", "part-1.gz"]
    assert summary.events == len(events) and len(summary.files) == 2
    assert summary.line().startswith(f"{len(events)} events -> {len(expectation.state)} records (state view")


def test_validation_counts_events_that_break_the_spec(tmp_path: Path) -> None:
    good = {"type": "track", "userId": "u1", "event": "E", "messageId": "m1", "timestamp": "2026-01-05T09:00:00.000Z"}
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines([good, {"type": "track", "userId": "u1"}, good])))
    summary = expect_to_file(path, "track-api", tmp_path / "out.jsonl", workers=1)
    assert summary.events == 2 and [b.line for b in summary.bad] == [2]
    assert summary.bad[0].error.startswith("invalid event: ")


def test_a_browser_keeps_its_whole_history_in_one_shard(events: list[dict[str, Any]]) -> None:
    profile = get_profile("web-actions")
    profile.expect(events)
    browsers = {browser_key(e) for e in events if e.get("channel") not in ("mobile", "server")}
    assert browsers == set(profile.browsers)  # the shard key is the profile's own browser key


def test_diff_files_gives_the_report_segpendo_diff_prints(events: list[dict[str, Any]], tmp_path: Path) -> None:
    expectation = get_profile("track-api+metadata").expect(events)
    expected = tmp_path / "expected.jsonl"
    expected.write_bytes(b"".join(dumps_bytes(r) + b"\n" for r in expectation.stream))
    observed_records = [json.loads(json.dumps(r)) for r in expectation.stream[5:]]
    observed_records[0]["metadata" if observed_records[0]["kind"] != "track" else "properties"]["planted"] = True
    observed_records.append(observed_records[3])
    observed = tmp_path / "observed.jsonl.gz"
    with gzip.open(observed, "wb") as f:
        f.writelines(dumps_bytes(r) + b"\n" for r in observed_records)
    options = DiffOptions.from_hints(expectation.hints)
    whole = diff(load_jsonl_values(expected), observed_records, options, profile="track-api+metadata")
    sharded = diff_files(expected, observed, options, profile="track-api+metadata", workers=2, shards=4)
    assert sharded.as_json() == whole.as_json() and sharded.format() == whole.format()
    assert not whole.conforms


def test_lines_that_are_not_records_are_counted_and_reported(tmp_path: Path) -> None:
    record = {"kind": "visitor", "id": "u1", "metadata": {"plan": "pro"}}
    expected = tmp_path / "expected.jsonl"
    expected.write_bytes(dumps_bytes(record) + b"\n")
    observed = tmp_path / "observed.jsonl"
    observed.write_bytes(dumps_bytes(record) + b"\n{oops\n" + dumps_bytes({"kind": "visitor"}) + b"\n")
    report = diff_files(expected, observed, DiffOptions(), workers=1)
    assert report.matched == 1 and report.summary["unexpected"] == 0
    cause = report.root_causes()[0]
    assert (cause.what, cause.count) == ("unreadable lines", 2)
    assert cause.example is not None and cause.example.endswith(
        "observed.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes"
    )
    assert any("2 bad line(s) skipped" in note for note in report.notes)
    assert "unreadable lines x2" in report.format()
