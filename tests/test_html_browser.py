"""The HTML report in a real browser: headless Chromium (the system's, driven by Playwright) opens the file from
disk; the tests type, click and press keys, and assert on the DOM."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_html_support import Browser, Opened, browser_session, demo_document_cached, planted_document

from pytest_segpendo.html import write_html

pytestmark = pytest.mark.slow  # a browser per module: a few seconds


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


def rows(opened: Opened) -> list[dict[str, Any]]:
    """The difference rows on screen: class, kind and text."""
    return list(
        opened.page.eval_on_selector_all(
            "section.run:first-of-type li.diff",
            "els => els.map(e => ({cls: e.dataset.class, kind: e.dataset.kind, text: e.textContent}))",
        )
    )


def matches(opened: Opened, run: str = "run-0") -> int:
    return int(opened.page.get_attribute(f"#{run}-shown", "data-matches") or -1)


def settle(opened: Opened, expect: int, run: str = "run-0") -> None:
    """Wait until the list shows ``expect`` matches (filters re-render after a short debounce)."""
    opened.page.wait_for_function(
        "([run, n]) => document.getElementById(run + '-shown').getAttribute('data-matches') === String(n)",
        arg=[run, expect],
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    doc = demo_document_cached()
    path = write_html(tmp_path_factory.mktemp("html") / "demo.html", doc)
    return doc, path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    doc = planted_document(changed=150, missing=40, unexpected=20, rejected=7)
    path = write_html(tmp_path_factory.mktemp("html") / "planted.html", doc)
    return doc, path


def test_the_demo_report_loads_offline_with_no_error_and_no_request(browser: Browser, demo: Any) -> None:
    doc, path = demo
    opened = browser.open(path)
    assert opened.errors == []
    assert opened.requests == [opened.url]  # the file itself, nothing else
    assert not doc["conforms"]
    banner = opened.page.inner_text(".verdict")
    assert "Differs" in banner and "Pendo did not get what was expected" in banner
    assert opened.page.inner_text("code#run-0-repro") == doc["reproduce"]
    assert opened.page.locator("li.diff").count() > 0


def test_counts_on_screen_equal_the_json_report(browser: Browser, demo: Any) -> None:
    doc, path = demo
    opened = browser.open(path)
    shown = opened.page.eval_on_selector_all(
        "table.counts td.count", "els => Object.fromEntries(els.map(e => [e.dataset.key, e.textContent.trim()]))"
    )
    for key, count in doc["summary"].items():
        assert shown[key] == f"{count:,}", key
    for key in ("expected", "observed", "matched"):
        assert opened.page.inner_text(f"dd[data-key={key}]") == f"{doc[key]:,}"
    # every failing difference is a row (ignored ones are behind their unticked box)
    failing = sum(1 for d in doc["differences"] if d["class"] != "ignored")
    assert matches(opened) == failing


def test_charts_are_drawn_with_one_bar_per_category(browser: Browser, demo: Any) -> None:
    doc, path = demo
    opened = browser.open(path)
    bars = opened.page.eval_on_selector_all(
        "svg.chart",
        "svgs => Object.fromEntries(svgs.map(s => [s.id, [...s.querySelectorAll('g.bar')].map(g => g.dataset.label)]))",
    )
    failing = [d for d in doc["differences"] if d["class"] in ("missing", "unexpected", "changed", "duplicated")]
    fields = {re.sub(r"\[\d+\]", "[*]", f["path"]) for d in failing for f in d.get("fields", ())}
    assert len(bars["run-0-fields"]) == min(12, len(fields)) and set(bars["run-0-fields"]) <= fields
    kinds = {d["kind"] for d in failing} | set(doc["records_by_kind"])
    assert set(bars["run-0-kinds"]) == kinds
    events = {(d.get("expected") or d["observed"])["event"] for d in failing if d["kind"] == "track"}
    assert set(bars["run-0-events"]) <= events and len(bars["run-0-events"]) == min(12, len(events))
    # the timeline: both series drawn, and the three injected faults and their retries marked on it
    timeline = opened.page.eval_on_selector(
        "#run-0-timeline",
        """s => ({received: [...s.querySelectorAll('rect.s-received')].length,
                 expected: [...s.querySelectorAll('rect.s-expected')].length,
                 faults: [...s.querySelectorAll('g.mark.m-fault')].reduce((n, g) => n + +g.dataset.count, 0),
                 retries: [...s.querySelectorAll('g.mark.m-retry')].reduce((n, g) => n + +g.dataset.count, 0)})""",
    )
    assert timeline["received"] > 0 and timeline["expected"] > 0
    assert timeline["faults"] == 3 and timeline["retries"] >= 3
    # every chart's bars have their number as text, not only a length
    assert opened.page.locator("svg.chart g.bar text.value").count() == sum(len(v) for v in bars.values())


def test_filter_by_class_with_the_keyboard(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path)
    page = opened.page
    per_class: dict[str, int] = {}
    for d in doc["differences"]:
        per_class[d["class"]] = per_class.get(d["class"], 0) + 1
    assert matches(opened) == len(doc["differences"])
    page.focus("input[name=class][value=changed]")
    page.keyboard.press("Space")
    settle(opened, len(doc["differences"]) - per_class["changed"])
    assert all(r["cls"] != "changed" for r in rows(opened))
    page.keyboard.press("Space")
    settle(opened, len(doc["differences"]))


def test_filter_by_kind_field_event_and_id(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path)
    page = opened.page
    page.select_option("select[name=kind]", "track")
    settle(opened, sum(1 for d in doc["differences"] if d["kind"] == "track"))
    assert {r["kind"] for r in rows(opened)} == {"track"}

    page.select_option("select[name=field]", "properties.items")
    with_items = [d for d in doc["differences"] if any(f["path"] == "properties.items" for f in d.get("fields", ()))]
    settle(opened, len(with_items))
    assert all("properties.items" in r["text"] for r in rows(opened))

    page.click("button.clear")
    settle(opened, len(doc["differences"]))
    page.select_option("select[name=event]", "Ghost Event")
    settle(opened, 20)
    assert all(r["cls"] == "unexpected" for r in rows(opened))

    page.click("button.clear")
    page.fill("input[name=id]", "USR_0007")  # ids match whatever the case
    settle(opened, 1)
    assert "usr_0007" in rows(opened)[0]["text"]


def test_search_finds_text_anywhere_in_a_difference(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path)
    opened.page.type("input[name=q]", "visitorid: required")
    settle(opened, 2)  # 2 of the 7 refusals, by their reason
    assert all(r["cls"] == "rejected" for r in rows(opened))
    opened.page.fill("input[name=q]", "no such text anywhere")
    settle(opened, 0)
    assert rows(opened) == []


def test_rows_render_in_chunks_as_the_reader_asks(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path, height=600)
    page = opened.page
    total = len(doc["differences"])
    assert total > 200
    assert page.locator("li.diff").count() == 100
    page.evaluate("() => document.getElementById('run-0-more').click()")  # the button, where it is
    page.wait_for_function("() => document.querySelectorAll('li.diff').length === 200")
    page.locator("#run-0-more").scroll_into_view_if_needed()  # scrolling near the end loads the rest
    page.wait_for_function(f"() => document.querySelectorAll('li.diff').length === {total}")
    assert page.locator("#run-0-more").is_hidden()


def test_a_changed_record_opens_side_by_side_with_its_fields_marked(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path)
    page = opened.page
    page.select_option("select[name=field]", "properties.plan")
    first = page.locator("li.diff").first
    toggle = first.locator("button.toggle")
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    detail = first.locator(".detail")
    assert detail.is_visible()
    assert detail.locator("table.fields tbody tr").all_inner_texts() == ['properties.plan\t"pro"\t"free"']
    sides = detail.locator(".side")
    assert sides.locator("h4").all_inner_texts() == ["EXPECTED", "RECEIVED BY PENDO"]
    expected_marked = sides.nth(0).locator(".ln.hl").all_inner_texts()
    received_marked = sides.nth(1).locator(".ln.hl").all_inner_texts()
    assert [line.strip() for line in expected_marked] == ['"plan": "pro"']
    assert [line.strip() for line in received_marked] == ['"plan": "free"']
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "false" and not detail.is_visible()


def test_a_missing_record_shows_what_was_expected_and_nothing_received(browser: Browser, planted: Any) -> None:
    _, path = planted
    opened = browser.open(path)
    page = opened.page
    for box in ("changed", "unexpected", "rejected"):
        page.uncheck(f"input[name=class][value={box}]")
    settle(opened, 40)
    page.locator("li.diff button.toggle").first.click()
    sides = page.locator("li.diff .side")
    assert sides.nth(0).locator("pre").count() == 1
    assert sides.nth(1).inner_text().endswith("not received")


def test_a_chart_bar_filters_the_differences(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path)
    page = opened.page
    page.locator("#run-0-accounts g.bar").first.focus()
    label = page.locator("#run-0-accounts g.bar").first.get_attribute("data-label")
    page.keyboard.press("Enter")
    assert page.input_value("input[name=id]") == label
    total = int(page.locator("#run-0-accounts g.bar").first.get_attribute("data-total") or 0)
    settle(opened, total)


def test_the_reproduce_line_copies(browser: Browser, planted: Any) -> None:
    doc, path = planted
    opened = browser.open(path)
    opened.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    opened.page.click("button.copy")
    opened.page.wait_for_function("() => document.querySelector('.copied').textContent === 'copied'")
    assert opened.page.evaluate("() => navigator.clipboard.readText()") == doc["reproduce"]


def test_many_checks_load_each_part_when_it_is_reached(browser: Browser, tmp_path: Path) -> None:
    runs = [
        {"conforms": True, "summary": {"missing": 0}, "differences": [], "title": "test_ok", "nodeid": "t.py::test_ok"}
    ]
    runs += [dict(planted_document(), title=f"test_bad_{i}", nodeid=f"t.py::test_bad_{i}") for i in range(3)]
    path = write_html(tmp_path / "session.html", runs)
    opened = browser.open(path, rows=False)
    page = opened.page
    cells = page.eval_on_selector_all(
        "table.checks tbody tr",
        "trs => trs.map(tr => [tr.dataset.run, tr.querySelector('td[data-key=changed]').textContent])",
    )
    assert cells == [["run-0", "0"]] + [[f"run-{i}", f"{runs[i]['summary']['changed']:,}"] for i in (1, 2, 3)]
    page.click("a[href='#run-3']")
    settle(opened, len(runs[3]["differences"]), run="run-3")
    assert page.locator("#run-3 li.diff").count() == min(100, len(runs[3]["differences"]))
    assert opened.errors == [] and opened.requests == [opened.url]
