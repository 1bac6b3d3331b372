"""The ``segpendo`` command line: generate, validate, demo, and every error path (one line, exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_segpendo.cli import main
from pytest_segpendo.traffic import SCENARIOS, generate_jsonl

CLI = [sys.executable, "-m", "pytest_segpendo"]


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_generate_piped_into_validate_passes_at_10000_events(scenario: str) -> None:
    gen = subprocess.Popen(
        [*CLI, "generate", "--seed", "3", "--count", "10000", "--scenario", scenario], stdout=subprocess.PIPE
    )
    val = subprocess.run([*CLI, "validate", "-"], stdin=gen.stdout, capture_output=True, text=True, timeout=120)
    assert gen.wait(timeout=120) == 0
    assert val.returncode == 0, val.stdout + val.stderr
    assert val.stdout.strip() == "10000 events valid"


def test_generate_writes_the_library_output_to_stdout_and_files(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    expected = "".join(generate_jsonl(300, seed=8, mix={"saas": 1, "edge": 1}, locale="fr_FR")).encode("utf-8")
    assert main(["generate", "--seed", "8", "--count", "300", "--mix", "saas=1,edge=1", "--locale", "fr_FR"]) == 0
    assert capsysbinary.readouterr().out == expected
    out = tmp_path / "events.jsonl"
    assert (
        main(
            ["generate", "--seed", "8", "--count", "300", "--mix", "saas=1,edge=1", "--locale", "fr_FR", "-o", str(out)]
        )
        == 0
    )
    assert out.read_bytes() == expected


def test_stdout_is_utf8_whatever_the_terminal_encoding() -> None:
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C")
    out = subprocess.run(
        [*CLI, "generate", "--seed", "1", "--count", "50", "--scenario", "edge"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    expected = "".join(generate_jsonl(50, seed=1, scenario="edge"))
    assert any(ord(c) > 127 for c in expected), "edge cases hold non-ASCII text"
    assert out.stdout.decode("utf-8") == expected


def test_python_dash_m_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("segpendo")
    assert script.exists(), "pip install puts the segpendo script next to the interpreter"
    a = subprocess.run([str(script), "generate", "--seed", "2", "--count", "20"], capture_output=True, timeout=60)
    b = run_cli("generate", "--seed", "2", "--count", "20")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout.count(b"\n") == 20


def test_validate_reports_every_bad_line_with_its_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps({"type": "track", "userId": "u", "event": "E"})
    lines = [
        good,
        json.dumps({"type": "track", "userId": "u"}),
        "",
        "{not json",
        json.dumps({"type": "group", "anonymousId": "a"}),
        good,
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:2: track.event: required",
        f"{path}:4: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:5: group.groupId: required",
        f"{path}:7: not valid UTF-8 (byte 1)",
        "4 of 6 lines invalid (4 errors); 2 events valid",
    ]


def test_validate_json_format_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps({"type": "track", "userId": "u"}) for _ in range(5)) + "\n")
    assert main(["validate", str(path), "--format", "json", "--max-errors", "2"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["valid"] is False and body["invalidLines"] == 5 and len(body["invalid"]) == 2
    assert body["invalid"][0] == {"line": 1, "errors": ["track.event: required"]}
    assert main(["validate", str(path), "--max-errors", "1"]) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[1] == "... and 4 more invalid lines"


def test_validate_of_valid_events_counts_by_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("".join(generate_jsonl(100, seed=1)))
    assert main(["validate", str(path), "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["valid"] is True and body["events"] == 100 and sum(body["byType"].values()) == 100


def test_validate_of_an_empty_file_is_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    assert main(["validate", str(path)]) == 1
    assert "holds no events" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "segpendo: a command is required (see 'segpendo --help')"),
        (["frob"], "segpendo: argument COMMAND: invalid choice: 'frob'"),
        (
            ["generate", "--count", "5"],
            "segpendo generate: the following arguments are required: --seed (see 'segpendo generate --help')",
        ),
        (["generate", "--seed", "1"], "segpendo generate: the following arguments are required: --count"),
        (
            ["generate", "--seed", "one", "--count", "5"],
            "segpendo generate: argument --seed: must be a whole number (got 'one')",
        ),
        (
            ["generate", "--seed", "1", "--count", "-5"],
            "segpendo generate: argument --count: must not be negative (got -5)",
        ),
        (
            ["generate", "--seed", "1", "--count", "5", "--scenario", "shop"],
            "segpendo generate: argument --scenario: invalid choice: 'shop'",
        ),
        (
            ["generate", "--seed", "1", "--count", "5", "--scenario", "saas", "--mix", "edge=1"],
            "segpendo generate: give --scenario or --mix, not both",
        ),
        (
            ["generate", "--seed", "1", "--count", "5", "--mix", "saas=x"],
            "segpendo generate: weight of 'saas' must be a whole number (got 'x')",
        ),
        (["generate", "--seed", "1", "--count", "5", "--locale", "xx_YY"], "segpendo generate: unknown locale 'xx_YY'"),
        (
            ["generate", "--seed", "1", "--count", "5", "--start", "soon"],
            "segpendo generate: start must be 'now' or an ISO-8601 date-time",
        ),
        (
            ["generate", "--seed", "1", "--count", "5", "-o", "/nonexistent-dir/x.jsonl"],
            "segpendo generate: cannot write /nonexistent-dir/x.jsonl: No such file or directory",
        ),
        (["validate"], "segpendo validate: the following arguments are required: EVENTS"),
        (
            ["validate", "/nonexistent.jsonl"],
            "segpendo validate: cannot read /nonexistent.jsonl: No such file or directory",
        ),
        (
            ["validate", "x", "--max-errors", "many"],
            "segpendo validate: argument --max-errors: must be a whole number (got 'many')",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    out = run_cli(*argv)
    assert out.returncode == 2
    assert out.stdout == b""
    err = out.stderr.decode().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(message), err[0]


def test_validate_a_folder_without_event_files_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("a,b\n")
    out = run_cli("validate", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.decode() == (
        f"segpendo validate: cannot read {tmp_path}: no event files in this folder (.jsonl, .json, .ndjson, "
        "optionally .gz)\n"
    )


def test_generate_into_a_closed_pipe_exits_quietly() -> None:
    proc = subprocess.Popen(
        [*CLI, "generate", "--seed", "1", "--count", "200000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert json.loads(first)["type"]
    assert proc.stderr is not None and proc.stderr.read() == b""
