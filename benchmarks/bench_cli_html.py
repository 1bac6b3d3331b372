"""``segpendo diff EXPECTED OBSERVED --html report.html`` on 122,000 records, end to end, and the page in a browser.

Run: ``python benchmarks/bench_cli_html.py [--chromium PATH]``

The records are ``benchmarks/bench_diff.py``'s run (100,000 track events, 20,000 visitors, 2,000 accounts; 1%
changed, 0.5% missing, 0.5% unexpected), written as JSONL. The command runs as a user runs it (its own process,
``--report`` beside ``--html``); then headless Chromium opens the HTML file from disk, offline, and the benchmark
checks what a reader sees: no console error, no request but the file, the charts drawn (bars with their numbers),
and every count on the page equal to the JSON report's. Printed: the command's wall time, the page's size, the
time until its first rows show.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_diff import plant, population

MB = 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    expected = population(100_000, 20_000, 2_000, seed=1)
    observed, _, _, _ = plant(expected, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        for name, records in (("expected.jsonl", expected), ("observed.jsonl", observed)):
            (here / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest_segpendo", "diff", "expected.jsonl", "observed.jsonl"]
            + ["--html", "report.html", "--report", "report.json"],
            cwd=here,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 1:
            print(f"segpendo diff exited {done.returncode}: {done.stderr}")
            return 1
        report = json.loads((here / "report.json").read_text(encoding="utf-8"))
        page = here / "report.html"
        print(f"segpendo diff --html: {len(expected):,} expected records, {len(observed):,} received")
        print(f"{'wall time of the command':>34} {seconds:>8.2f} s   (reading, diffing, the text, JSON and HTML)")
        print(f"{'HTML report':>34} {page.stat().st_size / MB:>8.2f} MB")
        errors: list[str] = []
        requests: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            try:
                view = browser.new_page(viewport={"width": 1280, "height": 900})
                view.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                view.on("pageerror", lambda e: errors.append(str(e)))
                view.on("request", lambda r: requests.append(r.url))
                start = time.perf_counter()
                view.goto(page.as_uri())
                view.wait_for_selector("ol.diffs li.diff", timeout=30_000)
                shown_s = time.perf_counter() - start
                shown = view.eval_on_selector_all(
                    "#run-0 table.counts td.count, #run-0 dd[data-key]",
                    "els => Object.fromEntries(els.map(e => [e.dataset.key, e.textContent.trim()]))",
                )
                bars = view.locator("svg.chart g.bar").count()
                numbers = view.locator("svg.chart g.bar text.value").count()
            finally:
                browser.close()
    wrong = [k for k, v in report["summary"].items() if shown.get(k) != f"{v:,}"]
    wrong += [k for k in ("expected", "observed", "matched") if shown.get(k) != f"{report[k]:,}"]
    print(f"{'first rows of differences shown':>34} {shown_s:>8.2f} s")
    print(f"{'chart bars drawn (with numbers)':>34} {bars:>8} ({numbers})")
    print(f"{'counts on the page = JSON report':>34} {'yes' if not wrong else 'NO: ' + ', '.join(wrong):>8}")
    print(f"{'console errors, other requests':>34} {len(errors):>8}, {len(requests) - 1}")
    ok = not wrong and not errors and len(requests) == 1 and bars > 0 and numbers == bars
    print()
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
