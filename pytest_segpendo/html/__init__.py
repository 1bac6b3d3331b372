"""The HTML conformance report: one self-contained file to look at, not read (docs/report.md).

>>> from pytest_segpendo.html import render_html
>>> page = render_html({"conforms": True, "summary": {"missing": 0}, "differences": []})
>>> page.startswith("<!doctype html>") and "Conforms" in page
True

- :func:`write_html` / :func:`render_html`: the page for one run document (``segpendo check``, ``diff``,
  ``demo``) or a list of them (a pytest session: one per check, with a table of the checks);
- :func:`run_document`: a run document from a ``CheckResult`` (or a ``DiffReport``, or a JSON report);
- :class:`ReportDocumentError`: a malformed document (the message says where).
"""

from __future__ import annotations

from .build import TimelineRecorder, build_timeline, records_by_kind, run_document
from .render import render_html, write_html
from .schema import ReportDocumentError, validate_run, validate_runs

__all__ = [
    "ReportDocumentError",
    "TimelineRecorder",
    "build_timeline",
    "records_by_kind",
    "render_html",
    "run_document",
    "validate_run",
    "validate_runs",
    "write_html",
]
