"""Production-size replays: generate, expect and diff at 10^5, 10^6 and 10^7 events, each beside its floor.

Run: ``python benchmarks/scale_pipeline.py [--sizes 100000,1000000] [--profile track-api+metadata] [--folder DIR]
[--workers N] [--keep]`` (or through ``benchmarks/bench_scale.py``).

Every step runs in its own process; the parent samples the resident memory of that process and all its children
(the worker pool) ten times a second, and reads their CPU time when they end. For each size it prints, per step:
wall seconds, CPU seconds (all processes), peak RSS of the process tree (the sum of the processes' RSS, which counts
pages a forked worker shares with its parent twice: an upper bound), events (or records) per second, and beside it
the step's floor: parsing the same file(s), one process, the collector off. Then the growth exponent of each step's
time and memory between consecutive sizes (1.0: linear; memory near 0: bounded).

- generate: ``segpendo generate --count N`` (the generator's memory is the traffic area's; reported, not fixed
  here);
- expect: :func:`pytest_segpendo.scale.expect_to_file` (the profile's view, events validated as ``segpendo expect``
  does unless ``--no-validate``), floor: parsing the events file;
- observed: the expected records with 0.2% lost, 0.2% changed and 0.1% duplicated (a streaming rewrite, not timed
  against a target);
- diff: :func:`pytest_segpendo.scale.diff_files` (the profile's hints), floor: parsing both records files.

Targets (issue 14): peak RSS at most 1.5 GB at any size; at 10^7 events expect + diff at most 3x their floors.

Each row ends with the machine's load average while the step ran: on a machine shared with other jobs wall times
stretch with the load (the floor runs on one core, expect and diff on every core), so the summary line also gives
the CPU-time ratio, which moves less.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GB = 1024**3


# -- the steps (each run in a child process) ------------------------------------------------------------------------


def step_generate(count: int, out: str) -> dict[str, Any]:
    from pytest_segpendo.cli import main

    code = main(["generate", "--count", str(count), "--seed", "1", "--output", out])
    return {"exit": code, "items": count}


def step_parse(*paths: str) -> dict[str, Any]:
    """The floor: every line of the files parsed (orjson), nothing kept, the collector off."""
    from pytest_segpendo.jsonl import loads

    gc.disable()
    n = 0
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    loads(line)
                    n += 1
    return {"items": n}


def step_expect(events: str, profile: str, out: str, workers: int, validate: bool, spill: str) -> dict[str, Any]:
    from pytest_segpendo.scale import expect_to_file

    summary = expect_to_file(events, profile, out, workers=workers or None, validate=validate, spill_dir=spill)
    return {
        "items": summary.events,
        "records": summary.records,
        "shards": summary.shards,
        "spilled": summary.spilled,
        "bad": len(summary.bad),
    }


def step_observed(expected: str, out: str) -> dict[str, Any]:
    """What a slightly buggy system sent: 0.2% of the records lost, 0.2% changed, 0.1% sent twice."""
    import orjson

    rnd = random.Random(7)
    n = 0
    with open(expected, "rb") as f, open(out, "wb") as sink:
        for line in f:
            n += 1
            x = rnd.random()
            if x < 0.002:
                continue
            if x < 0.004:
                record = orjson.loads(line)
                record["properties" if record.get("kind") == "track" else "metadata"]["planted"] = 1
                line = orjson.dumps(record) + b"\n"
            elif x < 0.005:
                sink.write(line)
            sink.write(line)
    return {"items": n}


def step_diff(expected: str, observed: str, profile: str, workers: int, spill: str) -> dict[str, Any]:
    from pytest_segpendo.profiles import PROFILES
    from pytest_segpendo.scale import diff_files
    from pytest_segpendo.verify import DiffOptions

    options = DiffOptions.from_hints(PROFILES[profile].hints)
    report = diff_files(expected, observed, options, profile=profile, workers=workers or None, spill_dir=spill)
    return {
        "items": report.expected_records + report.observed_records,
        "summary": report.summary,
        "conforms": report.conforms,
    }


STEPS = {
    "generate": step_generate,
    "parse": step_parse,
    "expect": step_expect,
    "observed": step_observed,
    "diff": step_diff,
}


# -- measuring a step -------------------------------------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and its descendants."""
    try:
        import psutil

        proc = psutil.Process(pid)
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total
    except ImportError:  # /proc directly
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
                except OSError:
                    continue
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            todo.extend(parents.get(p, []))
            try:
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total
    except Exception:
        return 0


def _dir_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def measure(step: str, *args: Any, spill: Path | None = None) -> dict[str, Any]:
    """Run a step in a child process: wall and CPU seconds, peak RSS of its process tree, peak spill size."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]  # other jobs on the machine: wall times stretch with them, CPU times less
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "step", step, *map(str, args)], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    peak = {"rss": 0, "spill": 0}
    done = threading.Event()

    def sample() -> None:
        ticks = 0
        while not done.is_set():
            peak["rss"] = max(peak["rss"], _tree_rss(child.pid))
            if spill is not None and ticks % 5 == 0:
                peak["spill"] = max(peak["spill"], _dir_size(spill))
            ticks += 1
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise SystemExit(f"step {step} failed (exit {child.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load = max(load, os.getloadavg()[0])
    return {"wall": wall, "cpu": cpu, "rss": peak["rss"], "spill": peak["spill"], "load": load, **result}


# -- the run ----------------------------------------------------------------------------------------------------------


def run_size(count: int, folder: Path, profile: str, workers: int, validate: bool, keep: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    spill = folder / "spill"
    spill.mkdir(exist_ok=True)
    events, expected, observed = folder / f"events-{count}.jsonl", folder / "expected.jsonl", folder / "observed.jsonl"
    rows: dict[str, Any] = {"count": count}
    if events.exists() and keep:
        rows["generate"] = None
    else:
        rows["generate"] = measure("generate", count, events)
    rows["parse events"] = measure("parse", events)
    rows["expect"] = measure("expect", events, profile, expected, workers, int(validate), spill, spill=spill)
    measure("observed", expected, observed)
    rows["parse records"] = measure("parse", expected, observed)
    rows["diff"] = measure("diff", expected, observed, profile, workers, spill, spill=spill)
    rows["files GB"] = {p.name: round(p.stat().st_size / GB, 2) for p in (events, expected, observed)}
    for path in (expected, observed) if not keep else ():
        path.unlink()
    if not keep:
        events.unlink()
    return rows


def _row(name: str, m: dict[str, Any] | None, floor: dict[str, Any] | None = None) -> str:
    if m is None:
        return f"  {name:16} (kept from an earlier run)"
    rate = m.get("items", 0) / m["wall"] if m["wall"] else 0
    text = (
        f"  {name:16} {m['wall']:8.1f} s wall {m['cpu']:8.1f} s CPU {m['rss'] / 2**20:8.0f} MB peak RSS {rate:10,.0f}/s"
    )
    if m.get("spill"):
        text += f"  spill peak {m['spill'] / 2**20:,.0f} MB"
    if floor is not None:
        text += f"   floor {floor['wall']:.1f} s -> x{m['wall'] / floor['wall']:.2f}"
    if "load" in m:
        text += f"   (load {m['load']:.1f})"
    return text


def report(runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in runs:
        lines.append(f"{r['count']:,} events  (files GB: {r['files GB']})")
        lines.append(_row("generate", r["generate"]))
        lines.append(_row("parse events", r["parse events"]))
        lines.append(_row("expect", r["expect"], r["parse events"]))
        lines.append(_row("parse records", r["parse records"]))
        lines.append(_row("diff", r["diff"], r["parse records"]))
        both = r["expect"]["wall"] + r["diff"]["wall"]
        floor = r["parse events"]["wall"] + r["parse records"]["wall"]
        cpu = r["expect"]["cpu"] + r["diff"]["cpu"]
        floor_cpu = r["parse events"]["cpu"] + r["parse records"]["cpu"]
        peak = max(r["expect"]["rss"], r["diff"]["rss"])
        lines.append(
            f"  expect + diff    {both:8.1f} s = x{both / floor:.2f} the floor ({floor:.1f} s; target <= 3); "
            f"CPU {cpu:.1f} s = x{cpu / floor_cpu:.2f} the floor's; peak RSS {peak / GB:.2f} GB (target <= 1.5)"
        )
    for a, b in zip(runs, runs[1:]):
        grow = math.log(b["count"] / a["count"])
        parts = []
        for step in ("generate", "expect", "diff"):
            if a[step] is None or b[step] is None:
                continue
            t = math.log(b[step]["wall"] / a[step]["wall"]) / grow
            m = math.log(max(b[step]["rss"], 1) / max(a[step]["rss"], 1)) / grow
            parts.append(f"{step} time ^{t:.2f}, memory ^{m:.2f}")
        lines.append(f"growth {a['count']:,} -> {b['count']:,}: " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "step":
        fn = STEPS[argv[1]]
        args: list[Any] = [int(a) if a.isdigit() else a for a in argv[2:]]
        if argv[1] == "expect":
            args[4] = bool(args[4])
        print(json.dumps(fn(*args)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--profile", default="track-api+metadata")
    parser.add_argument(
        "--folder", default=str(Path(tempfile.gettempdir()) / "segpendo-bench-scale"), help="where the files go"
    )
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: every core)")
    parser.add_argument("--no-validate", action="store_true", help="expect without validating the events")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated files")
    args = parser.parse_args(argv)
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs.append(run_size(size, Path(args.folder), args.profile, args.workers, not args.no_validate, args.keep))
        print("\n".join(report(runs[-1:])), flush=True)
    print("\n".join(report(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
