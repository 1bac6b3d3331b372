"""One shape for the command line: one name per thing (``--sut``, ``--field-mapping``, ``--no-validate``; the old
spellings warn on stderr and keep working), one definition per option, the defaults the plugin has, the plugin's
options under the same names, and keys enforced as the plugin enforces them."""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_segpendo import defaults
from pytest_segpendo.cli import build_parser, main
from pytest_segpendo.options import OPTIONS
from pytest_segpendo.profiles import PROFILES, expect
from pytest_segpendo.relay import Relay
from pytest_segpendo.traffic import generate

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pytest_segpendo"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)


def write_jsonl(path: Path, values: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


# -- one name per thing -------------------------------------------------------------------------------------------


def test_send_takes_sut_and_to_is_a_deprecated_alias(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", generate(3, seed=1))
    new = run("send", "--sut", "http://127.0.0.1:9", "--max-attempts", "1", "--timeout", "0.5", str(events))
    old = run("send", "--to", "http://127.0.0.1:9", "--max-attempts", "1", "--timeout", "0.5", str(events))
    assert new.returncode == old.returncode == 1
    assert new.stdout.splitlines()[0].startswith("3 events to http://127.0.0.1:9 via webhook")
    assert old.stdout.split(" (")[0] == new.stdout.split(" (")[0]
    assert "--to" not in new.stderr
    assert old.stderr.splitlines()[0] == (
        "segpendo send: --to is deprecated and will be removed in the next release: use --sut"
    )
    missing = run("send", str(events))
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "segpendo send: the following arguments are required: --sut (see 'segpendo send --help')"
    )


def test_transform_takes_field_mapping_and_expect_a_mapping_file(tmp_path: Path) -> None:
    (tmp_path / "field.json").write_text('{"who": {"@path": "$.userId"}}')
    (tmp_path / "e.jsonl").write_text('{"userId": "u1", "type": "track", "event": "E"}\n')
    new = run("transform", "--field-mapping", str(tmp_path / "field.json"), str(tmp_path / "e.jsonl"))
    old = run("transform", "--mapping", str(tmp_path / "field.json"), str(tmp_path / "e.jsonl"))
    assert new.returncode == old.returncode == 0 and new.stdout == old.stdout == '{"who":"u1"}\n'
    assert "deprecated" in old.stderr and "use --field-mapping" in old.stderr and new.stderr == ""
    # expect --mapping: the user's mapping file (subscriptions and field mappings per action), as the marker's
    (tmp_path / "actions.json").write_text(json.dumps({"actions": {"trackEvent": {"mapping": {"event": "Fixed"}}}}))
    done = run(
        "expect", "--profile", "track-api", "--mapping", str(tmp_path / "actions.json"), str(tmp_path / "e.jsonl")
    )
    assert done.returncode == 0 and json.loads(done.stdout)["event"] == "Fixed", done.stderr


def test_no_validate_and_its_old_spelling(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"type": "track", "userId": "u1"}\n')
    assert run("expect", str(tmp_path / "bad.jsonl")).returncode == 2
    new = run("expect", "--no-validate", str(tmp_path / "bad.jsonl"))
    old = run("expect", "--no-check", str(tmp_path / "bad.jsonl"))
    assert new.returncode == old.returncode == 0 and new.stdout == old.stdout
    assert "--no-check is deprecated" in old.stderr and "use --no-validate" in old.stderr


@pytest.mark.parametrize("profile", list(PROFILES))
def test_expect_and_diff_agree_on_the_view(profile: str, tmp_path: Path) -> None:
    events = generate(150, seed=2, mix={"saas": 2, "edge": 1})
    path = write_jsonl(tmp_path / "e.jsonl", events)
    done = run("expect", "--profile", profile, str(path), "-o", str(tmp_path / "x.jsonl"))
    view = PROFILES[profile].hints.view
    assert done.returncode == 0 and f"({view} view, profile {profile})" in done.stderr
    assert [json.loads(x) for x in (tmp_path / "x.jsonl").read_text().splitlines()] == expect(events, profile).view(
        view
    )
    report = tmp_path / "r.json"
    diffed = run(
        "diff", "--profile", profile, str(tmp_path / "x.jsonl"), str(tmp_path / "x.jsonl"), "--report", str(report)
    )
    assert diffed.returncode == 0 and json.loads(report.read_text())["view"] == view


def test_expect_uses_the_default_profile() -> None:
    ex = commands()["expect"].parse_args(["e.jsonl"])
    assert ex.profile == defaults.PROFILE and ex.view is None  # None: the profile's


# -- one definition per option; the plugin's options under the same names -----------------------------------------


def _help(action: argparse.Action) -> str:
    return re.sub(r" \(default[^)]*\)$", "", action.help or "")


def test_an_option_shared_by_commands_has_one_help_text() -> None:
    seen: dict[str, tuple[str, str]] = {}
    differ = []
    for command, parser in commands().items():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for flag in action.option_strings:
                if not flag.startswith("--") or flag in ("--help", "--report"):
                    continue
                if flag in seen and seen[flag][1] != _help(action):
                    differ.append((flag, seen[flag][0], command))
                seen.setdefault(flag, (command, _help(action)))
    assert not differ


def test_every_plugin_option_is_a_check_option_and_docs_list_the_pairs() -> None:
    check = {flag for a in commands()["check"]._actions for flag in a.option_strings}
    table = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        cli_flag = "--" + option.name.replace("_", "-")
        assert cli_flag in check, f"segpendo check has no {cli_flag} (the plugin has {option.flag})"
        assert re.search(rf"\| `{option.flag}[ `].*\| `{cli_flag}[ `]", table), f"docs/cli.md: {option.flag}"


def test_check_defaults_are_the_plugins(tmp_path: Path) -> None:
    args = commands()["check"].parse_args(["--sut", "http://x", "--pendo-port", "0"])
    assert (args.via, args.settle, args.quiet, args.limit, args.locale, args.max_age_days) == (
        defaults.VIA,
        defaults.SETTLE,
        defaults.QUIET,
        defaults.LIMIT,
        defaults.LOCALE,
        defaults.AGE_LIMIT_DAYS,
    )


@contextmanager
def relay_at(port: int, **keys: str) -> Iterator[Relay]:
    with Relay(f"http://127.0.0.1:{port}", secret="s", **keys) as relay:  # type: ignore[arg-type]
        yield relay


def test_check_generates_the_plugins_count_and_takes_mix_and_locale(tmp_path: Path) -> None:
    port = free_port()
    keys = {"track_secret": "t", "integration_key": "k"}
    with relay_at(port, **keys) as relay:
        url = relay.url
        plain = run(
            "check",
            "--sut",
            relay.url,
            "--secret",
            "s",
            "--pendo-port",
            str(port),
            "--track-secret",
            "t",
            "--integration-key",
            "k",
            "--report",
            str(tmp_path / "plain.json"),
        )
        mixed = run(
            "check",
            "--sut",
            relay.url,
            "--secret",
            "s",
            "--pendo-port",
            str(port),
            "--track-secret",
            "t",
            "--integration-key",
            "k",
            "--mix",
            "saas=1,mobile=1",
            "--locale",
            "de_DE",
            "--count",
            "60",
            "--seed",
            "1",  # other traffic: the relay does not forward again the messageIds it forwarded
            "--report",
            str(tmp_path / "r.json"),
        )
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert plain.stdout.startswith(f"{defaults.COUNT} events to {url} via webhook")
    reproduce = json.loads((tmp_path / "plain.json").read_text())["reproduce"]
    assert f" --seed {defaults.SEED} --count {defaults.COUNT} --scenario {defaults.SCENARIO} " in reproduce
    assert reproduce.endswith(
        '--secret "$SEGPENDO_SECRET" --integration-key "$SEGPENDO_INTEGRATION_KEY" --track-secret '
        '"$SEGPENDO_TRACK_SECRET"'
    ), "keys are named by their environment variables, never printed"
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr
    assert mixed.stdout.startswith(f"60 events to {url}")
    report = json.loads((tmp_path / "r.json").read_text())
    assert " --seed 1 --count 60 --mix saas=1,mobile=1 --locale de_DE " in report["reproduce"]
    assert report["delivery"]["acknowledged"] == 60
    assert (
        run("check", "--sut", "http://x", "--pendo-port", "0", "--mix", "saas=1", "--scenario", "edge").returncode == 2
    )


@contextmanager
def serve(*args: str) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen([*CLI, "serve", *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_relay_with_swapped_keys_fails_against_segpendo_serve_with_keys() -> None:
    """The same system fails the same way in pytest (tests/test_api_plugin.py); the right keys conform, the
    traffic dated January 2026 judged by its own time (serve's clock is the wall clock again afterwards)."""
    import requests

    with serve("--track-secret", "the-secret", "--integration-key", "the-key") as urls:
        port = int(urls["pendo"].rsplit(":", 1)[1])
        with relay_at(port, track_secret="the-key", integration_key="the-secret") as relay:
            swapped = run("check", "--sut", relay.url, "--secret", "s", "--pendo", urls["pendo"], "--count", "60")
        with relay_at(port, track_secret="the-secret", integration_key="the-key") as relay:
            right = run("check", "--sut", relay.url, "--secret", "s", "--pendo", urls["pendo"], "--count", "60")
        clock = requests.get(urls["pendo"] + "/__segpendo/clock", timeout=10).json()
    assert swapped.returncode == 1, swapped.stdout + swapped.stderr
    assert "rejected x" in swapped.stdout
    assert "HTTP 403: x-pendo-integration-key (the Track Event shared secret): not the configured key" in swapped.stdout
    assert right.returncode == 0, right.stdout + right.stderr
    assert clock["kind"] == "wall"


def test_main_returns_2_for_a_missing_sut(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--pendo-port", "0"]) == 2
    assert "the following arguments are required: --sut" in capsys.readouterr().err
