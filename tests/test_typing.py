"""The package is published as typed (``py.typed``): it passes ``mypy --strict``, and code using its public API
the way the docs show type-checks for users, with the package's own types (not ``Any``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parent.parent

# Code as a user writes it, after docs/verify.md, docs/pendo.md, docs/segment.md, docs/index.md, docs/traffic.md,
# docs/pytest.md.
USER_CODE = """
import json
from typing import Any

from pytest_segpendo.fakes import FakePendo
from pytest_segpendo.profiles import expect
from pytest_segpendo.delivery import deliver
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, Matcher, compare, diff


def check_diff() -> None:
    # Annotated: unannotated, mypy infers list[object] for these mixed literals, which diff() refuses.
    expected: list[dict[str, Any]] = [
        {"kind": "visitor", "id": "u1", "metadata": {"plan": "pro", "seats": 10}},
        {"kind": "track", "event": "Report Created", "visitorId": "u1", "accountId": "acct-1",
         "timestamp": 1767603600000, "properties": {"widgets": 3}, "context": {}},
    ]
    observed: list[dict[str, Any]] = [
        {"kind": "visitor", "id": "u1", "metadata": {"plan": "free", "seats": 10}},
        {"kind": "track", "event": "Report Created", "visitorId": "u1", "accountId": None,
         "timestamp": 1767603600000, "properties": {"widgets": 3}, "context": {}},
    ]
    report = diff(expected, observed, DiffOptions(view="state"))
    assert not report.conforms
    assert report.summary["changed"] == 2
    print(report.format())


def check_matchers() -> None:
    expected = [{"kind": "track", "event": "Checkout", "visitorId": "u1", "accountId": None, "timestamp": 1000,
                 "properties": {"total": 10.0, "cartId": "c-1"}, "context": {}}]
    observed = [{"kind": "track", "event": "Checkout", "visitorId": "u1", "accountId": None, "timestamp": 1450,
                 "properties": {"total": 10.004, "cartId": "generated-9"}, "context": {"ip": "203.0.113.7"}}]
    options = DiffOptions(
        view="stream",
        timestamp_tolerance_ms=500,
        ignore_paths=("track.context",),
        matchers=(
            Matcher("track.properties.total", lambda e, a: abs(e - a) < 0.01, "cents"),
            Matcher("track.properties.cartId", lambda e, a: isinstance(a, str) and a != "", "any cart id"),
        ),
    )
    assert diff(expected, observed, options).conforms


def check_fake_pendo() -> None:
    events: list[dict[str, Any]] = [
        {"type": "track", "userId": "u1", "event": "Report Created", "properties": {"widgets": 3},
         "messageId": "m1", "timestamp": "2026-01-05T09:00:00.000Z"},
    ]
    expectation = expect(events, "track-api")
    with FakePendo(track_secret="s3cret", integration_key="int-key") as pendo:
        pendo.faults.add(route="track", status=503, retry_after=1, nth=1, count=2)
        report = compare(expectation, pendo)
        assert report.conforms and report.summary["ignored"] == 0
        records: list[dict[str, Any]] = pendo.records(view="state")
        status: int = pendo.rejected[0]["status"] if pendo.rejected else 0
        url: str = pendo.url
        print(records, status, url, pendo.warnings, pendo.duplicates)
        pendo.raise_errors()


def check_deliver_and_expect() -> None:
    events = generate(200, seed=4, scenario="saas")
    with FakePendo(api_key="pendo-key") as pendo:
        report = deliver(events, pendo.url, "segmentio", api_key="pendo-key", concurrency=2)
        assert report.ok and report.acknowledged == 200 and report.requests == 200
    received: list[Any] = []
    report = deliver(events, received.append, "callable")
    body = json.dumps(events[0], separators=(",", ":"), ensure_ascii=False).encode()
    result = expect(events, profile="web-actions")
    visitors = [r for r in result.state if r["kind"] == "visitor"]
    assert all(i.type == "page" for i in result.ignored)
    print(result.hints.view, len(result.stream), len(visitors), len(body), report.format())


# The same API from the package (docs/index.md "Stable contracts"), and the plugin's objects (docs/pytest.md).
import pytest_segpendo
from pytest_segpendo import DiffOptions as PackageDiffOptions
from pytest_segpendo import FakePendo as PackageFakePendo
from pytest_segpendo import Segpendo, SegpendoConfig, SegpendoKeys, run_check
from pytest_segpendo import defaults


def check_package_api() -> None:
    events = pytest_segpendo.generate(20, seed=1)
    with PackageFakePendo(track_secret="t", integration_key="k") as pendo:
        result = run_check(events, None, pendo=pendo, options=PackageDiffOptions(view="stream"), overrides={"limit": 3})
        conforms: bool = result.report.conforms
    expectation = pytest_segpendo.expect(events)  # the default profile
    config = SegpendoConfig(count=defaults.COUNT, profile=defaults.PROFILE)
    keys = SegpendoKeys(track_secret="t")
    secret: str | None = keys.track_secret
    print(conforms, expectation.profile, config.describe(), secret, keys.as_dict())


def a_test_with_the_fixture(segpendo: Segpendo) -> None:
    report = segpendo.verify("http://127.0.0.1:9", secret="s", options=DiffOptions(view="stream"), limit=3)
    segpendo.check(lambda event: None, events=segpendo.traffic(10), ignore_paths=["track.context"])
    same: bool = segpendo.observed() == segpendo.expect()
    write_key: str | None = segpendo.keys.write_key
    count: int = segpendo.config.count
    print(report.conforms, same, write_key, count, segpendo.pendo.url)
"""

# Misuse that mypy must refuse: proof that the user sees the package's types, not Any.
MISUSE = """
from pytest_segpendo.fakes import FakePendo
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import diff
from pytest_segpendo import SegpendoConfig, compare

events = generate("ten")
flag: str = diff([], []).conforms
port: str = FakePendo().port
config = SegpendoConfig(count="many")
report: int = compare([], [])
"""


def run_mypy(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_package_passes_mypy_strict(tmp_path: Path) -> None:
    result = run_mypy(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--ignore-missing-imports",
            "--cache-dir",
            str(tmp_path / "cache"),
            "pytest_segpendo",
        ],
        ROOT,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, f"mypy --strict found errors in pytest_segpendo:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout


def test_user_code_type_checks_against_the_published_types(tmp_path: Path) -> None:
    (tmp_path / "user_code.py").write_text(textwrap.dedent(USER_CODE))
    (tmp_path / "misuse.py").write_text(textwrap.dedent(MISUSE))
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")  # no project settings: strict, and missing types are errors
    # A PYTHONPATH entry counts as installed packages for mypy (it needs py.typed there, as in site-packages);
    # the editable install's import hook is invisible to mypy.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--config-file", str(config), "--strict", "--cache-dir", str(tmp_path / "cache")]
    result = run_mypy([*common, "user_code.py", "misuse.py"], tmp_path, env)
    output = result.stdout + result.stderr
    print(output)
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert not [e for e in errors if e.startswith("user_code.py")], f"mypy --strict refused user code:\n{output}"
    assert "import-untyped" not in output and "import-not-found" not in output, output
    misuse = sorted(
        e.split(": error:")[0] + " " + e.rsplit("[", 1)[-1].rstrip("]") for e in errors if e.startswith("misuse.py")
    )
    assert misuse == [  # sorted as text
        "misuse.py:10 arg-type",
        "misuse.py:11 assignment",
        "misuse.py:7 arg-type",
        "misuse.py:8 assignment",
        "misuse.py:9 assignment",
    ], output
