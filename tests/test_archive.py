"""Reading replays: JSONL files plain or gzipped, folders of them, Segment's S3 archive layout, and stdin; bad lines
are counted with their file and line number and never stop the read."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_segpendo.archive import EventSource, event_files

EVENT = {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": "2026-01-05T09:00:00.000Z"}


def _line(**over: object) -> str:
    return json.dumps({**EVENT, **over}) + "\n"


def test_a_segment_archive_export_is_read_day_by_day(tmp_path: Path) -> None:
    # segment-logs/{source-id}/{received-day}/{file}.gz (segment-docs, Amazon S3 destination)
    for day, names in (("1767657600000", ("b", "a")), ("1767571200000", ("c",))):
        folder = tmp_path / "segment-logs" / "src_1" / day
        folder.mkdir(parents=True)
        for name in names:
            with gzip.open(folder / f"{name}.gz", "wt", encoding="utf-8") as f:
                f.write(_line(event=f"{day}-{name}"))
    source = EventSource(tmp_path)
    assert [e["event"] for e in source] == ["1767571200000-c", "1767657600000-a", "1767657600000-b"]
    assert source.events == 3 and not source.bad and len(source.files) == 3


def test_bad_lines_are_counted_with_file_and_line_and_the_read_goes_on(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_text(_line(event="one") + "{oops\n\n[1, 2]\n" + _line(event="two"), encoding="utf-8")
    zipped = tmp_path / "b.jsonl.gz"
    with gzip.open(zipped, "wt", encoding="utf-8") as f:
        f.write(_line(event="three") + '"text"\n')
    source = EventSource([plain, zipped])
    assert [e["event"] for e in source] == ["one", "two", "three"]
    assert [(Path(b.source).name, b.line) for b in source.bad] == [("a.jsonl", 2), ("a.jsonl", 4), ("b.jsonl.gz", 2)]
    assert source.bad[0].error.startswith("invalid JSON") and source.bad[1].error.startswith("not a JSON object")
    assert "2 bad lines" not in source.summary() and "3 bad lines skipped" in source.summary()


def test_a_truncated_gzip_file_is_a_bad_line_not_a_crash(tmp_path: Path) -> None:
    data = gzip.compress((_line(event="one") * 50).encode())
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "ok.jsonl").write_text(_line(event="after"), encoding="utf-8")
    source = EventSource(tmp_path)
    events = [e["event"] for e in source]
    assert events[-1] == "after" and len(source.bad) == 1 and "unreadable" in source.bad[0].error


def test_invalid_events_are_bad_lines_when_validating(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(_line() + json.dumps({"type": "track", "userId": "u1"}) + "\n", encoding="utf-8")
    source = EventSource(path, validate=True)
    assert len(list(source)) == 1
    assert source.bad[0].line == 2 and "track.event" in source.bad[0].error


def test_gzipped_stdin_is_read() -> None:
    code = "from pytest_segpendo.archive import EventSource; s = EventSource('-'); print(len(list(s)), s.events)"
    done = subprocess.run(
        [sys.executable, "-c", code], input=gzip.compress(_line().encode() * 3), capture_output=True, check=True
    )
    assert done.stdout.split() == [b"3", b"3"]


def test_only_event_files_are_read_from_a_folder(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.json.gz", "manifest.csv", ".hidden.jsonl", "c"):
        (tmp_path / name).write_text("", encoding="utf-8")
    assert [p.name for p in event_files(tmp_path)] == ["a.jsonl", "b.json.gz", "c"]
    with pytest.raises(FileNotFoundError, match="no event files"):
        list(EventSource(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else [])
