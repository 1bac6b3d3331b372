"""The screenshots in docs/report.md are made here, from a real report: the demo's broken relay (with three
injected 503s), checked in-process, written with ``write_html`` and photographed in headless Chromium.

Every run makes them again; the test fails only when they cannot be made (never on a pixel difference).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_html_support import Browser, browser_session, demo_document_cached

from pytest_segpendo.html import write_html

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
WRITTEN = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.slow
def test_screenshots_of_a_real_report(browser: Browser, tmp_path: Path) -> None:
    doc = demo_document_cached()
    assert not doc["conforms"] and doc["summary"]["changed"] > 0
    # what changes from run to run (a port, a duration, the clock) is fixed, so the pictures change only when the
    # page does
    doc["delivery"].update(target="http://127.0.0.1:8000/", seconds=0.5)
    path = write_html(tmp_path / "report.html", doc, written=WRITTEN)
    opened = browser.open(path, width=1280, height=900)
    page = opened.page
    assert opened.errors == []
    IMG.mkdir(parents=True, exist_ok=True)

    # 1. the top: verdict, run details, reproduce line, root causes, counts and the charts
    top = IMG / "report.png"
    bottom = page.eval_on_selector("div.charts", "e => e.getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(path=str(top), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom + 16})

    # 2. the differences: filtered to one field, the first record opened side by side
    page.select_option("select[name=field]", "accountId")
    page.wait_for_function("() => document.querySelector('li.diff .brief').textContent.startsWith('accountId')")
    page.locator("li.diff button.toggle").first.click()
    heading = page.eval_on_selector("#run-0-diffs-h", "e => e.getBoundingClientRect().top + window.scrollY")
    diffs = IMG / "report-differences.png"
    page.screenshot(path=str(diffs), full_page=True, clip={"x": 0, "y": heading - 8, "width": 1280, "height": 860})

    for shot in (top, diffs):
        width, height = png_size(shot)
        assert width == 1280 and height > 600, (shot, width, height)
