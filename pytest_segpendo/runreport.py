"""The run's conformance reports: collected from the test reports (in the xdist controller too), summed up on the
terminal, and written as one JSON file (``--segpendo-report``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from .options import SegpendoConfig

__all__ = ["Collector", "terminal_summary", "write_run_report"]


class Collector:
    """Collects the conformance reports carried by test reports (in the controller under xdist)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.tests: list[tuple[str, str, list[dict[str, Any]]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = getattr(report, "segpendo", None)
        if found and report.when == "call":
            self.tests.append((report.nodeid, report.outcome, found))


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
