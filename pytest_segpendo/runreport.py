"""The run's conformance reports: collected from the test reports (in the xdist controller too), summed up on the
terminal, written as one JSON file (``--segpendo-report``) and one HTML file (``--segpendo-html``), and shown in
pytest-html's results table when pytest-html is installed."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from .options import SegpendoConfig

__all__ = ["Collector", "summary_text", "terminal_summary", "write_html_report", "write_run_report"]


class Collector:
    """Collects the conformance reports carried by test reports (in the controller under xdist): the JSON ones of
    every check, and the HTML report's run documents when ``--segpendo-html`` is given."""

    def __init__(self, config: pytest.Config, html_path: str | None = None):
        self.config = config
        self.tests: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.html_path = html_path
        self.html_runs: list[dict[str, Any]] = []

    @pytest.hookimpl(tryfirst=True)  # before pytest-html reads the report's extras and builds its row
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        found = getattr(report, "segpendo", None)
        if found:
            self.tests.append((report.nodeid, report.outcome, found))
        docs = getattr(report, "segpendo_html", None)
        if not docs or self.html_path is None:
            return
        first = len(self.html_runs)
        for doc in docs:
            self.html_runs.append({**doc, "outcome": report.outcome})
        setattr(report, "segpendo_html_runs", [first + i for i in range(len(docs))])  # noqa: B010
        target = self._link(first)
        if target is not None:
            extras = list(getattr(report, "extras", []) or [])
            extras.append(
                {
                    "name": "segpendo report",
                    "format_type": "url",
                    "content": target,
                    "mime_type": None,
                    "extension": None,
                }
            )
            setattr(report, "extras", extras)  # noqa: B010

    # pytest-html (when installed): a column with each test's conformance summary, linking to the HTML report
    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="col-segpendo">segpendo</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        cells.insert(2, html_cell(report, self))

    def _link(self, index: int) -> str | None:
        """The link from pytest-html's report (``--html``) to this check's part of ours."""
        if self.html_path is None:
            return None
        theirs = getattr(self.config.option, "htmlpath", None)
        ours = os.path.abspath(self.html_path)
        base = os.path.dirname(os.path.abspath(theirs)) if theirs else os.getcwd()
        return f"{Path(os.path.relpath(ours, base)).as_posix()}#run-{index}"


def summary_text(reports: Sequence[dict[str, Any]]) -> str:
    """One line per conformance report of a test: its verdict and counts (``conforms 90/90``)."""
    lines = []
    for r in reports:
        s = r["summary"]
        counts = ", ".join(
            f"{k} {s[k]:,}"
            for k in ("missing", "unexpected", "changed", "duplicated", "rejected", "dropped")
            if s.get(k)
        )
        verdict = "conforms" if r["conforms"] else "differs"
        lines.append(f"{verdict} {r['matched']:,}/{r['expected']:,}" + (f": {counts}" if counts else ""))
    return "; ".join(lines)


def html_cell(report: Any, collector: Collector | None) -> str:
    """pytest-html's cell of a test: its conformance summary, linking to its part of the run's HTML report."""
    found = getattr(report, "segpendo", None) if getattr(report, "when", "call") == "call" else None
    if not found:
        return '<td class="col-segpendo"></td>'
    text = html.escape(summary_text(found))
    runs = getattr(report, "segpendo_html_runs", None)
    link = collector._link(runs[0]) if collector is not None and runs else None
    if link:
        text = f'<a href="{html.escape(link, quote=True)}">{text}</a>'
    return f'<td class="col-segpendo">{text}</td>'


def write_html_report(path: Path, runs: Sequence[dict[str, Any]], config: SegpendoConfig) -> Path | None:
    """The run's HTML report: every check of the run, with a table of the checks (None when no test checked)."""
    if not runs:
        return None
    from .html import write_html

    title = f"segpendo: {len(runs):,} conformance check{'s' if len(runs) != 1 else ''} ({config.describe()})"
    return write_html(path, list(runs), title=title)


def terminal_summary(terminalreporter: Any, collector: Collector | None) -> None:
    """The ``segpendo conformance`` section: one line per report, its verdict and counts."""
    if collector is None or not collector.tests:
        return
    collected = collector.tests
    tr = terminalreporter
    tr.write_sep("-", "segpendo conformance")
    for nodeid, _outcome, reports in collected:
        for r in reports:
            s = r["summary"]
            counts = ", ".join(
                f"{k} {s[k]:,}" for k in ("missing", "unexpected", "changed", "duplicated", "rejected") if s[k]
            )
            verdict = "conforms" if r["conforms"] else "DIFFERS" if r.get("asserted") else "differs"
            extra = f"; ignored {s['ignored']:,}" if s["ignored"] else ""
            looked = "" if r.get("asserted") or r["conforms"] else "  (verify(): the test judged this report itself)"
            tr.write_line(
                f"{verdict:8} {nodeid}  profile={r['profile']} view={r['view']}  matched "
                f"{r['matched']:,}/{r['expected']:,}" + (f"; {counts}" if counts else "") + extra + looked
            )


def _counts(outcome: str, report: dict[str, Any]) -> bool:
    """Whether a report counts in the run's verdict: a check the test asserted, or any report of a failed test.
    A report a passing test only looked at (``verify()``, e.g. to prove a planted bug is caught) does not."""
    return bool(report.get("asserted")) or outcome != "passed"


def write_run_report(
    path: Path, tests: Sequence[tuple[str, str, list[dict[str, Any]]]], config: SegpendoConfig
) -> None:
    """The run's JSON report: the report shape of docs/index.md summed over the reports that count (``_counts``),
    with every difference of each, then every test's reports (each with ``asserted``, and all its differences);
    ``config`` is the run's configuration (also under its old name ``settings``, for one release)."""
    summary: dict[str, int] = {}
    differences: list[dict[str, Any]] = []
    counted = [(nodeid, outcome, r) for nodeid, outcome, reports in tests for r in reports if _counts(outcome, r)]
    for nodeid, _outcome, r in counted:
        for key, n in r["summary"].items():
            summary[key] = summary.get(key, 0) + n
        differences.extend({"test": nodeid, **d} for d in r["differences"])
    document = {
        "conforms": all(outcome == "passed" for _n, outcome, _r in tests)
        and all(r["conforms"] for _n, _o, r in counted),
        "summary": summary,
        "differences": differences,
        "config": config.as_json(),
        "settings": config.as_json(),  # deprecated name of "config", kept for one release
        "tests": [{"nodeid": n, "outcome": o, "reports": r} for n, o, r in tests],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
