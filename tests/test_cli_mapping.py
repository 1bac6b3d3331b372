"""``segpendo transform`` and ``segpendo expect``: outputs and every error path (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_segpendo.cli import main
from pytest_segpendo.profiles import expect
from pytest_segpendo.traffic import generate, generate_jsonl

CLI = [sys.executable, "-m", "pytest_segpendo"]


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, timeout=120, text=stdin is None)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(generate_jsonl(300, seed=4, mix={"saas": 2, "edge": 1})), encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "id": {"@path": "$.userId"},
                "n": {"@literal": 1.0},
                "e": {"@case": {"operator": "upper", "value": {"@path": "$.event"}}},
            }
        )
    )
    return {"events": events, "mapping": mapping, "dir": tmp_path}


def test_transform_writes_one_result_per_event_as_javascript_writes_json(
    files: dict[str, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["transform", "--field-mapping", str(files["mapping"]), str(files["events"])]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    events = [json.loads(line) for line in files["events"].read_text().splitlines()]
    assert len(lines) == len(events)
    for line, event in zip(lines, events):
        assert '"n":1' in line and '"n":1.0' not in line
        result = json.loads(line)
        assert result.get("id") == event.get("userId")
        if isinstance(event.get("event"), str):
            assert result["e"] == event["event"].upper()


def test_transform_of_a_top_level_directive_writes_null_for_undefined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.json").write_text('{"@path": "$.userId"}')
    (tmp_path / "e.jsonl").write_text('{"userId": "u"}\n{}\n')
    assert main(["transform", "--field-mapping", str(tmp_path / "m.json"), str(tmp_path / "e.jsonl")]) == 0
    assert capsys.readouterr().out == '"u"\nnull\n'


def test_transform_runtime_errors_are_reported_per_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.json").write_text('{"a": [{"@path": {"@path": "$.n"}}]}')
    (tmp_path / "e.jsonl").write_text('{"n": "x"}\n{"n": 5}\n')
    assert main(["transform", "--field-mapping", str(tmp_path / "m.json"), str(tmp_path / "e.jsonl")]) == 1
    out, err = capsys.readouterr()
    assert out == '{"a":[null]}\nnull\n'
    assert err.strip().endswith("e.jsonl: event 2: @path: expected string, got number")


def test_expect_stream_and_state(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    events = generate(300, seed=4, mix={"saas": 2, "edge": 1})
    want = expect(events, "web-actions")
    assert main(["expect", "--profile", "web-actions", "--view", "stream", str(files["events"])]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(x) for x in out.splitlines()] == want.stream
    assert err.startswith(
        f"segpendo expect: 300 events -> {len(want.stream)} records (stream view, profile web-actions); ignored: "
    )
    target = files["dir"] / "state.jsonl"
    # without --view: the profile's (web-actions compares the state view), as segpendo diff --profile does
    assert main(["expect", "--profile", "web-actions", str(files["events"]), "-o", str(target)]) == 0
    assert [json.loads(x) for x in target.read_text().splitlines()] == want.state


def test_expect_settings_and_mapping_file(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    mapping = files["dir"] / "actions.json"
    mapping.write_text(json.dumps({"actions": {"trackEvent": {"mapping": {"event": {"@template": "x-{{event}}"}}}}}))
    assert (
        main(
            [
                "expect",
                "--profile",
                "track-api",
                "--setting",
                "anonymousTracks=pendoAnonymous",
                "--mapping",
                str(mapping),
                str(files["events"]),
            ]
        )
        == 0
    )
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert records and all(r["event"].startswith("x-") for r in records)
    assert any(r["visitorId"].startswith("_PENDO_T_") for r in records)


def test_expect_reads_stdin() -> None:
    data = "".join(generate_jsonl(20, seed=1)).encode()
    done = subprocess.run([*CLI, "expect", "--profile", "classic", "-"], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(json.loads(x)["kind"] in ("visitor", "account", "parentAccount") for x in done.stdout.splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["expect", "--profile", "web", "EVENTS"],
            "segpendo expect: unknown profile 'web' (choose from web-actions, classic, track-api, track-api+metadata)",
        ),
        (
            ["expect", "--profile", "web-actions", "--setting", "pageLoads", "EVENTS"],
            "segpendo expect: --setting takes KEY=VALUE (got 'pageLoads')",
        ),
        (
            ["expect", "--profile", "web-actions", "--setting", "pageLoads=often", "EVENTS"],
            "segpendo expect: setting pageLoads takes one of visit, page (got 'often')",
        ),
        (
            ["expect", "--profile", "web-actions", "--mapping", "/nonexistent.json", "EVENTS"],
            "segpendo expect: cannot read mapping file /nonexistent.json: No such file or directory",
        ),
        (
            ["expect", "--profile", "web-actions", "/nonexistent.jsonl"],
            "segpendo expect: cannot read /nonexistent.jsonl: No such file or directory",
        ),
        (
            ["expect", "--view", "merged", "EVENTS"],
            "segpendo expect: argument --view: invalid choice: 'merged'",
        ),
        (
            ["transform", "--field-mapping", "FIELDMAP", "NOTJSON"],
            "segpendo transform: NOTJSON:2: invalid JSON: Expecting value",
        ),
        (
            ["transform", "--field-mapping", "/nonexistent.json", "EVENTS"],
            "segpendo transform: cannot read mapping /nonexistent.json: No such file or directory",
        ),
        (
            ["transform", "--field-mapping", "NOTJSON", "EVENTS"],
            "segpendo transform: mapping NOTJSON is not JSON: Extra data: line 2 column 1 (char 33)",
        ),
        (
            ["transform", "--field-mapping", "BADMAP", "EVENTS"],
            "segpendo transform: invalid mapping BADMAP: /a/@path should be a string or a mapping directive but it is "
            "a number. (and 1 more)",
        ),
        (
            ["transform", "--field-mapping", "LIQUID", "EVENTS"],
            "segpendo transform: invalid mapping LIQUID: /a/@liquid @liquid is not supported",
        ),
        (["transform", "EVENTS"], "segpendo transform: the following arguments are required: --field-mapping"),
    ],
)
def test_errors_are_one_line_exit_2(files: dict[str, Path], args: list[str], message: str) -> None:
    d = files["dir"]
    (d / "bad.jsonl").write_text('{"type":"identify","userId":"u"}\n{"type":"track","userId":"u"}\n')
    (d / "notjson.jsonl").write_text('{"type":"identify","userId":"u"}\nnope\n')
    (d / "badmap.json").write_text('{"a": {"@path": 1}, "b": {"@nope": 1}}')
    (d / "liquid.json").write_text('{"a": {"@liquid": "{{x}}"}}')
    (d / "fieldmap.json").write_text('{"a": {"@path": "$.userId"}}')
    names = {
        "EVENTS": str(files["events"]),
        "BAD": str(d / "bad.jsonl"),
        "NOTJSON": str(d / "notjson.jsonl"),
        "BADMAP": str(d / "badmap.json"),
        "LIQUID": str(d / "liquid.json"),
        "FIELDMAP": str(d / "fieldmap.json"),
    }
    if args[0] == "transform":
        names["NOTJSON"] = str(d / "notjson.jsonl")
    argv = [names.get(a, a) for a in args]
    message = message.replace("BAD:", f"{d / 'bad.jsonl'}:").replace("NOTJSON:", f"{d / 'notjson.jsonl'}:")
    message = (
        message.replace("mapping NOTJSON", f"mapping {d / 'notjson.jsonl'}")
        .replace("BADMAP", str(d / "badmap.json"))
        .replace("LIQUID", str(d / "liquid.json"))
    )
    done = run_cli(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"type":"identify","userId":"u"}\n{"type":"track","userId":"u"}\n', "invalid event: track.event: required"),
        ('{"type":"identify","userId":"u"}\nnope\n', "invalid JSON: Expecting value"),
    ],
)
def test_expect_skips_a_bad_line_names_it_and_exits_2(tmp_path: Path, content: str, why: str) -> None:
    """A bad line does not stop expect: the records of every other event are written, and the one line on stderr
    counts the skipped lines and names the first, with its file and line; exit 2 (unreadable input)."""
    path, good = tmp_path / "bad.jsonl", tmp_path / "good.jsonl"
    path.write_text(content)
    good.write_text(content.splitlines()[0] + "\n")
    done = run_cli("expect", "--profile", "web-actions", str(path))
    alone = run_cli("expect", "--profile", "web-actions", str(good))
    assert done.returncode == 2 and alone.returncode == 0
    assert done.stdout == alone.stdout and len(done.stdout.splitlines()) == 2
    assert done.stderr.splitlines() == [alone.stderr.rstrip("\n") + f"; 1 bad line(s) skipped (first: {path}:2: {why})"]
