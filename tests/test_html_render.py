"""The HTML report as written (no browser): input validation, counts, charts, embedded data, self-containment.

The browser half is tests/test_html_browser.py."""

from __future__ import annotations

import base64
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_html_support import planted_document, track

from pytest_segpendo.html import ReportDocumentError, render_html, run_document, write_html
from pytest_segpendo.verify import DiffOptions, diff


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each element with an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: dict[str, str] = {}
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "script":
            self._script = a.get("id", "")
            self.scripts[self._script] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in want.items())]

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


MINIMAL = {"conforms": True, "summary": {"missing": 0}, "differences": []}


# -- the input document -------------------------------------------------------------------------------------------


def test_a_document_with_only_the_required_keys_renders() -> None:
    page = render_html(MINIMAL)
    assert page.startswith("<!doctype html>")
    assert "Conforms" in page and "No differences" in page


@pytest.mark.parametrize(
    "change, message",
    [
        ({"conforms": "yes"}, "run.conforms: must be true or false (got 'yes')"),
        ({"summary": None}, "run.summary: must be an object"),
        ({"summary": {"missing": -1}}, "run.summary.missing: must be a whole number >= 0 (got -1)"),
        ({"summary": {"missing": True}}, "run.summary.missing: must be a whole number >= 0 (got True)"),
        ({"differences": {"class": "missing"}}, "run.differences: must be a list"),
        ({"differences": [{"kind": "track"}]}, "run.differences[0].class: must be a non-empty string (got None)"),
        ({"differences": [{"class": "changed", "fields": [{"path": 3}]}]}, "run.differences[0].fields[0].path"),
        ({"differences": [{"class": "duplicated", "count": 0}]}, "run.differences[0].count: must be a whole number"),
        ({"differences": [{"class": "missing", "expected": [1]}]}, "run.differences[0].expected: must be an object"),
        ({"by_kind": {"missing": {"track": "3"}}}, "run.by_kind.missing.track: must be a whole number >= 0"),
        ({"seed": "7"}, "run.seed: must be a whole number or null"),
        ({"reproduce": ["segpendo"]}, "run.reproduce: must be a string or null"),
        ({"delivery": {"retried": -2}}, "run.delivery.retried: must be a whole number >= 0"),
        ({"delivery": {"failures": [{"indexes": ["a"]}]}}, "run.delivery.failures[0].indexes[0]"),
        ({"timeline": {"expected": [1, "2"]}}, "run.timeline.expected[1]: must be a time in milliseconds"),
        ({"timeline": {"expected": [float("inf")]}}, "run.timeline.expected[0]: must be a time in milliseconds"),
        ({"timeline": {"marks": [{"time": 1}]}}, "run.timeline.marks[0].type: must be a non-empty string"),
        ({"timeline": {"marks": [{"type": "retry"}]}}, "run.timeline.marks[0].time: must be a time in milliseconds"),
        ({"notes": "one note"}, "run.notes: must be a list"),
        ({"causes": [3]}, "run.causes[0]: must be an object"),
    ],
)
def test_a_malformed_document_says_where(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ReportDocumentError) as raised:
        render_html({**MINIMAL, **change})
    assert message in str(raised.value)


@pytest.mark.parametrize("missing", ["conforms", "summary", "differences"])
def test_the_three_keys_of_the_json_contract_are_required(missing: str) -> None:
    doc = {k: v for k, v in MINIMAL.items() if k != missing}
    with pytest.raises(ReportDocumentError, match=rf"^run\.{missing}: "):
        render_html(doc)


def test_a_list_of_runs_is_checked_run_by_run() -> None:
    with pytest.raises(ReportDocumentError, match=r"^runs\[1\]\.conforms"):
        render_html([MINIMAL, {**MINIMAL, "conforms": None}])
    with pytest.raises(ReportDocumentError, match="at least one"):
        render_html([])


def test_a_malformed_document_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    with pytest.raises(ReportDocumentError):
        write_html(target, {"conforms": True})
    assert not target.exists()
    assert write_html(target, MINIMAL) == target and target.read_text(encoding="utf-8").startswith("<!doctype")


# -- what the page shows --------------------------------------------------------------------------------------------


def test_counts_are_the_json_reports() -> None:
    doc = planted_document(rejected=4)
    tags = parse(render_html(doc))
    shown = {a["data-key"]: int(a["data-count"]) for a in tags.with_class("td", "count")}
    for key, count in doc["summary"].items():
        assert shown[key] == count, key
    assert doc["summary"]["changed"] == 40 and doc["summary"]["missing"] == 10 and doc["summary"]["rejected"] == 4


def test_charts_have_one_bar_per_field_event_account_and_kind() -> None:
    doc = planted_document(rejected=4)
    tags = parse(render_html(doc))

    def bars(chart: str) -> list[dict[str, str]]:
        # bars are the <g class="bar"> after the chart's <svg id=...> and before the next svg
        out, inside = [], False
        for tag, a in tags.tags:
            if tag == "svg":
                inside = a.get("id") == chart
            elif inside and tag == "g" and "bar" in a.get("class", "").split():
                out.append(a)
        return out

    fields = {f["path"] for d in doc["differences"] for f in d.get("fields", ())}
    assert {"properties.plan", "properties.items"} <= fields
    assert {b["data-label"] for b in bars("run-0-fields")} == fields
    events = {
        (d.get("expected") or d.get("observed"))["event"]
        for d in doc["differences"]
        if d["kind"] == "track" and d["class"] in ("missing", "unexpected", "changed")
    }
    assert {b["data-label"] for b in bars("run-0-events")} == events
    assert {b["data-label"]: int(b["data-total"]) for b in bars("run-0-kinds")}["track"] == 205  # 200 + 5 unexpected
    accounts = bars("run-0-accounts")
    assert sum(int(b["data-total"]) for b in accounts) == sum(
        1 for d in doc["differences"] if d["kind"] == "track" and (d.get("expected") or d["observed"])["accountId"]
    )
    assert tags.find("svg", id="run-0-timeline"), "the document has a timeline"


def test_top_charts_keep_the_most_frequent_bars() -> None:
    expected = [track(i, f"Event {i:02d}") for i in range(30)]
    observed = [dict(r, properties={"plan": "free"}) for r in expected[:20]]  # 20 changed, 10 missing
    doc = diff(expected, observed, DiffOptions(view="stream")).as_json()
    page = render_html(doc)
    tags = parse(page)
    bars = [a["data-label"] for t, a in tags.tags if t == "g" and a.get("data-label", "").startswith("Event ")]
    assert len(bars) == 12 and "(top 12 of 30)" in page


def test_differences_are_embedded_once_compressed_and_whole() -> None:
    doc = planted_document(rejected=3)
    tags = parse(render_html(doc))
    blob = tags.scripts["run-0-data"].strip()
    assert json.loads(gzip.decompress(base64.b64decode(blob))) == doc["differences"]


def test_the_page_fetches_nothing() -> None:
    page = render_html(planted_document())
    tags = parse(page)
    assert not [a for t, a in tags.tags if a.get("src")], "nothing is loaded from elsewhere"
    assert not [a for t, a in tags.tags if t == "link"]
    assert not re.search(r"""(?:url\(\s*['"]?|href=["']|@import\s+['"]?)(?:https?:)?//""", page)
    csp = tags.find("meta", http_equiv="Content-Security-Policy")
    assert csp and csp[0]["content"].startswith("default-src 'none'")


def test_text_from_the_records_cannot_break_out_of_the_page() -> None:
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    doc = {
        "conforms": False,
        "summary": {"rejected": 1},
        "title": evil,
        "reproduce": evil,
        "differences": [{"class": "rejected", "kind": "request", "record": evil, "reason": evil}],
        "notes": [evil],
    }
    page = render_html(doc)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("<script") == 2  # the data and the page's own script


def test_unknown_classes_and_keys_are_shown_not_dropped() -> None:
    doc = {
        "conforms": False,
        "summary": {"missing": 0, "teleported": 2},
        "differences": [
            {"class": "teleported", "kind": "track", "record": "track X", "reason": "moved", "count": 2, "warp": 9}
        ],
        "future_key": {"a": 1},
    }
    page = render_html(doc)
    tags = parse(page)
    assert [a["data-count"] for a in tags.with_class("td", "count") if a["data-key"] == "teleported"] == ["2"]
    assert tags.find("input", name="class", value="teleported")
    assert "future_key" in page


def test_many_runs_get_a_table_of_checks_linking_to_each() -> None:
    runs = [
        {**MINIMAL, "title": "test_ok", "nodeid": "tests/test_a.py::test_ok"},
        {**planted_document(), "nodeid": "tests/test_a.py::test_bad", "title": "test_bad"},
    ]
    tags = parse(render_html(runs))
    rows = [a for t, a in tags.tags if t == "tr" and a.get("data-run")]
    assert [r["data-run"] for r in rows] == ["run-0", "run-1"]
    assert [r["class"] for r in rows] == ["ok", "fail"]
    assert tags.find("a", href="#run-1")
    assert tags.find("section", id="run-1")


def test_refusals_are_grouped_by_reason_with_one_shown() -> None:
    doc = planted_document(rejected=7)
    page = render_html(doc)
    groups = re.findall(
        r'<tr data-class="rejected">.*?<td class="reason">(.*?)</td>\s*<td class="num">(\d+)</td>', page, re.S
    )
    assert sorted(groups) == [("HTTP 400: timestamp: required", "5"), ("HTTP 400: visitorId: required", "2")]


def test_run_document_from_a_report_adds_matched_per_kind_and_a_timeline() -> None:
    expected = [track(i) for i in range(10)] + [{"kind": "visitor", "id": "u1", "metadata": {"a": 1}}]
    observed = [track(i) for i in range(8)] + [{"kind": "visitor", "id": "u1", "metadata": {"a": 2}}]
    report = diff(expected, observed, DiffOptions(view="state"))
    doc = run_document(report, expected=expected, received=observed, title="t", nodeid="n", outcome="failed")
    assert doc["records_by_kind"] == {
        "track": {"expected": 10, "observed": 8, "matched": 8},
        "visitor": {"expected": 1, "observed": 1, "matched": 0},
    }
    assert len(doc["timeline"]["expected"]) == 10 and len(doc["timeline"]["received"]) == 8
    assert (doc["title"], doc["nodeid"], doc["outcome"]) == ("t", "n", "failed")
    json.dumps(doc)  # a run document is JSON: the plugin may write it, a worker may send it


def test_received_times_far_outside_the_expected_span_are_counted_at_the_edges() -> None:
    doc = {
        **MINIMAL,
        "timeline": {"expected": [1_767_603_600_000, 1_767_603_900_000], "received": [1_767_603_600, 1_767_603_900]},
    }
    tags = parse(render_html(doc))
    bins = [a for t, a in tags.tags if t == "g" and "tbin" in a.get("class", "")]
    assert sum(int(b["data-expected"]) for b in bins) == 2
    assert [int(b["data-received"]) for b in bins if int(b["data-received"])] == [2]  # both "earlier", one bin
    assert "earlier" in render_html(doc)


def test_drops_are_grouped_by_rule_and_causes_come_first() -> None:
    drop = {
        "class": "dropped",
        "kind": "track",
        "record": 'track "Old" (visitor "u1")',
        "rule": "timestamp-too-old",
        "reason": "older than 7 days",
        "source": "https://support.pendo.io/example",
        "request": 4,
    }
    doc = {
        "conforms": False,
        "summary": {"dropped": 3},
        "by_kind": {"dropped": {"track": 3}},
        "differences": [drop, drop, {**drop, "rule": "too-large", "reason": "over 1 MB"}],
        "causes": [
            {"what": "dropped by Pendo", "text": "rule timestamp-too-old", "count": 2, "example": "request #4"},
            {"what": "delivery", "text": "3 events not acknowledged", "count": 3},
        ],
        "injected": [{"request": 4, "route": "track", "kind": "status", "status": 503}],
    }
    page = render_html(doc)
    row = r'<tr data-class="dropped">.*?<td class="reason">(.*?)</td>\s*<td class="num">(\d+)</td>'
    assert sorted(re.findall(row, page, re.S)) == [("timestamp-too-old", "2"), ("too-large", "1")]
    assert "https://support.pendo.io/example" in page  # the rule's source, in the example shown
    causes = page.index('class="causes"')
    assert (
        causes < page.index("dropped by Pendo</strong> ×2: rule timestamp-too-old") < page.index("delivery</strong> ×3")
    )
    assert causes < page.index('id="run-0-counts-h"')  # root causes before the counts
    assert "<td>503</td>" in page  # the injected fault's table
