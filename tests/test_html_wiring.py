"""The HTML report wired in: ``--html FILE`` on ``segpendo check``, ``diff`` and ``demo`` (both runs in one file),
``--segpendo-html FILE`` in pytest (one file per run, every check, under pytest-xdist too), and pytest-html's
results table (a column with each test's conformance summary, linking to its part of the report). The files are
opened from disk in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_html_support import Browser, browser_session

from pytest_segpendo.profiles import expect
from pytest_segpendo.relay import Relay
from pytest_segpendo.traffic import generate

pytestmark = pytest.mark.slow  # a browser, and commands run end to end
pytest_plugins = ["pytester"]
CLI = [sys.executable, "-m", "pytest_segpendo"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def counts_on_screen(browser: Browser, path: Path, run_id: str = "run-0") -> dict[str, str]:
    opened = browser.open(path)
    assert opened.errors == [] and opened.requests == [opened.url], (opened.errors, opened.requests)
    shown: dict[str, str] = opened.page.eval_on_selector_all(
        f"#{run_id} table.counts td.count, #{run_id} dd[data-key]",
        "els => Object.fromEntries(els.map(e => [e.dataset.key, e.textContent.trim()]))",
    )
    bars = opened.page.locator(f"#{run_id} svg.chart g.bar").count()
    assert bars > 0, "the charts are drawn"
    return shown


def planted(tmp_path: Path) -> tuple[Path, Path, int]:
    """Expected records of generated traffic, and received ones with changed, missing and unexpected records."""
    records = expect(generate(3000, seed=11, mix={"saas": 3, "edge": 1})).state
    received = []
    for i, record in enumerate(records):
        if i % 50 == 7:
            continue  # missing
        copy = json.loads(json.dumps(record))
        if i % 40 == 3 and copy["kind"] == "track":
            copy["event"] = copy["event"] + " (renamed)"  # a record nothing expected, and one missing
        elif i % 25 == 1:
            copy.setdefault("metadata", copy.get("properties", {}))["planted"] = i
        received.append(copy)
    (tmp_path / "expected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "observed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in received))
    return tmp_path / "expected.jsonl", tmp_path / "observed.jsonl", len(records)


def test_diff_writes_an_html_report_whose_counts_are_the_json_reports(browser: Browser, tmp_path: Path) -> None:
    expected, observed, n = planted(tmp_path)
    done = run("diff", str(expected), str(observed), "--html", "report.html", "--report", "report.json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["expected"] == n and report["summary"]["missing"] > 0 and report["summary"]["changed"] > 0
    shown = counts_on_screen(browser, tmp_path / "report.html")
    for key, count in report["summary"].items():
        assert shown[key] == f"{count:,}", key
    for key in ("expected", "observed", "matched"):
        assert shown[key] == f"{report[key]:,}", key
    (tmp_path / "a-file").write_text("")
    bad = run("diff", str(expected), str(observed), "--html", str(tmp_path / "a-file" / "report.html"), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("segpendo diff: cannot write "), bad.stderr


def test_check_and_demo_write_html_reports(browser: Browser, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Relay(f"http://127.0.0.1:{port}", track_secret="t", integration_key="k", bugs=["event-name-case"]) as relay:
        done = run(
            "check", "--sut", relay.url, "--pendo-port", str(port), "--track-secret", "t", "--integration-key", "k",
            "--html", "check.html", "--report", "check.json", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "check.json").read_text())
    page = (tmp_path / "check.html").read_text(encoding="utf-8")
    assert "Differs" in page and report["reproduce"] in page.replace("&#34;", '"').replace("&quot;", '"')
    shown = counts_on_screen(browser, tmp_path / "check.html")
    assert shown["changed"] == f"{report['summary']['changed']:,}"
    demo = run("demo", "--count", "300", "--html", "demo.html", cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    opened = browser.open(tmp_path / "demo.html")
    assert opened.errors == []
    assert opened.page.locator("section.run").count() == 2, "both runs in one file"
    classes = "els => els.map(e => e.dataset.class)"
    good = set(opened.page.eval_on_selector_all("#run-0 li.diff", classes))
    opened.page.locator("#run-1").scroll_into_view_if_needed()  # a part's rows are drawn when it comes into view
    opened.page.wait_for_selector("#run-1 li.diff")
    bad = opened.page.eval_on_selector_all("#run-1 li.diff", classes)
    assert not good & {"missing", "unexpected", "changed", "duplicated", "rejected", "dropped"}, good
    assert "changed" in bad, "the broken relay's differences are shown"
    titles = opened.page.inner_text("body")
    assert "the correct relay" in titles and "a broken relay (bugs: account-lost, non-string-traits-dropped)" in titles


RELAY = """
import pytest
from pytest_segpendo.relay import Relay

@pytest.fixture
def relay(segpendo, request):
    keys = segpendo.keys
    with Relay(segpendo.pendo.url, track_secret=keys.track_secret, integration_key=keys.integration_key,
               bugs=getattr(request, "param", ())) as r:
        yield r
"""

TESTS = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_good(segpendo, relay, n):
    segpendo.check(relay.url, events=segpendo.traffic(60, seed=n))

@pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
def test_bad(segpendo, relay):
    segpendo.check(relay.url, events=segpendo.traffic(60))

def test_two_checks(segpendo, relay):
    segpendo.check(relay.url, events=segpendo.traffic(40, seed=5))
    segpendo.pendo.reset()
    segpendo.check(relay.url, events=segpendo.traffic(40, seed=6))

def test_no_check():
    pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_the_pytest_run_report_holds_every_check(
    pytester: pytest.Pytester, browser: Browser, workers: list[str]
) -> None:
    pytester.makeconftest(RELAY)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--segpendo-html", "out/run.html", *workers)
    result.assert_outcomes(passed=5, failed=1)
    path = pytester.path / "out" / "run.html"
    opened = browser.open(path)
    assert opened.errors == []
    assert opened.page.locator("section.run").count() == 6, "every check, the two of one test included"
    body = opened.page.inner_text("body")
    for name in ("test_good[0]", "test_good[2]", "test_bad", "test_two_checks (check 2)"):
        assert name in body, name
    assert opened.page.locator('a[href="#run-5"]').count() >= 1, "a table of the checks links to each"
    failed = opened.page.locator("section.run", has_text="test_bad")
    failed.scroll_into_view_if_needed()
    failed.locator("li.diff").first.wait_for()


def test_pytest_html_shows_each_tests_summary_and_links_to_its_part(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RELAY)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--html", "ph/report.html", "--segpendo-html", "sp/run.html", "--junitxml", "j.xml"
    )
    result.assert_outcomes(passed=5, failed=1)
    import html

    # pytest-html keeps its rows as escaped JSON inside the page: unescape it and look for the cells as strings
    page = html.unescape((pytester.path / "ph" / "report.html").read_text(encoding="utf-8")).replace('\\"', '"')
    assert '<th class="col-segpendo">segpendo</th>' in page
    cells = re.findall(r'<td class="col-segpendo"><a href="([^"]+)">([^<]+)</a></td>', page)
    assert len(cells) == 5, cells  # the five tests that checked, each linking to its first check's part
    assert {link.split("#")[0] for link, _ in cells} == {"../sp/run.html"}
    texts = [text for _, text in cells]
    assert sum(t.startswith("conforms ") for t in texts) == 4 and any(t.startswith("differs ") for t in texts)
    assert any("; " in t for t in texts), "a test with two checks shows both"
    assert page.count('class="col-links__extra url">segpendo report</a>') == 5
    junit = (pytester.path / "j.xml").read_text(encoding="utf-8")
    assert 'name="segpendo_conforms"' in junit, "the JUnit properties stay"
