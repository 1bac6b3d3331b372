"""Size and load time of the HTML report for a large failing run, beside the other reports of the same run.

Run: ``python benchmarks/bench_html.py [--repeat R] [--chromium PATH]``

The run: 100,000 track events + 20,000 visitors + 2,000 accounts (state view) with 1% of the records changed,
0.5% missing and 0.5% unexpected, planted as ``benchmarks/bench_diff.py`` plants them: 2,440 differences.
Printed: the seconds to write the page (best of R), its size beside the plain-text report's (every difference,
``DiffReport.format(limit=N)``), the JSON report's and the raw JSON of the differences it embeds; then headless
Chromium opening the file from disk (best of R, a fresh page each time): until the DOM is parsed, until the first
rows of differences are on screen, and filtering the rows by a field. Targets: under 20 MB, under 2 s until the
rows show.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_diff import plant, population

from pytest_segpendo.html import run_document, write_html
from pytest_segpendo.verify import DiffOptions, diff

MB = 1024 * 1024


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    out, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        out = min(out, time.perf_counter() - start)
    return out, result


def browser_times(path: Path, chromium: str, repeat: int) -> tuple[float, float, float, list[str]]:
    """(DOM parsed s, rows on screen s, filter s, console errors): best of ``repeat`` fresh pages."""
    from playwright.sync_api import sync_playwright

    parsed, shown, filtered = float("inf"), float("inf"), float("inf")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                start = time.perf_counter()
                page.goto(path.as_uri(), wait_until="domcontentloaded")
                parsed = min(parsed, time.perf_counter() - start)
                page.wait_for_selector("ol.diffs li.diff", timeout=30_000)
                shown = min(shown, time.perf_counter() - start)
                field = page.eval_on_selector("select[name=field]", "s => s.options[1].value")
                start = time.perf_counter()
                page.select_option("select[name=field]", field)
                page.wait_for_function(
                    "f => [...document.querySelectorAll('li.diff .brief')].every(b => b.textContent.includes(f))",
                    arg=field.split("[*]")[0],
                    timeout=30_000,
                )
                filtered = min(filtered, time.perf_counter() - start)
                page.close()
        finally:
            browser.close()
    return parsed, shown, filtered, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    expected = population(100_000, 20_000, 2_000, seed=1)
    observed, _, _, _ = plant(expected, seed=2)
    report = diff(expected, observed, DiffOptions(view="state"))
    failing = len(report.failing())
    print(f"the run: {len(expected):,} expected records, {len(observed):,} received, {failing:,} differences")
    doc = run_document(report, expected=expected, received=observed, title="bench_html: 122,000 records")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        seconds, _ = best(lambda: write_html(out, doc), args.repeat)
        html = out.stat().st_size
        text = len(report.format(limit=len(report.differences)).encode("utf-8"))
        js = len(json.dumps(report.as_json(), ensure_ascii=False).encode("utf-8"))
        raw = len(json.dumps(doc["differences"], ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        print()
        print(f"{'report':>32} {'MB':>8} {'write s':>8}")
        print(f"{'HTML (this page)':>32} {html / MB:>8.2f} {seconds:>8.2f}   (target < 20 MB)")
        print(f"{'plain text, every difference':>32} {text / MB:>8.2f}")
        print(f"{'JSON report (--report)':>32} {js / MB:>8.2f}")
        print(f"{'(differences as compact JSON)':>32} {raw / MB:>8.2f}   (inlined gzip + base64 in the page)")
        ok = html < 20 * MB
        print()
        print(f"headless Chromium ({args.chromium}), file opened from disk, best of {args.repeat}:")
        parsed, shown, filtered, errors = browser_times(out, args.chromium, args.repeat)
        print(f"{'DOM parsed':>32} {parsed:>8.2f} s")
        print(f"{'first rows of differences shown':>32} {shown:>8.2f} s   (target < 2 s)")
        print(f"{'filter by a field':>32} {filtered:>8.2f} s")
        print(f"{'console errors':>32} {len(errors):>8}")
        ok &= shown < 2.0 and not errors
    print()
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
