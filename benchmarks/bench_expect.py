"""Speed of ``segpendo expect`` against the floor: just parsing the same JSONL.

Run: ``python benchmarks/bench_expect.py [--events N] [--repeat R]``

Writes N generated ``saas`` events to a temporary file, then times, each in a fresh process, best of R runs:
- the floor: reading and parsing the file (the reader segpendo uses, and the standard library's json);
- ``segpendo expect --profile P EVENTS -o OUT`` for each profile (it also checks every event against the
  Segment Spec and writes the records), as users run it (above ``--sharded-above``, 64 MiB, the command takes the
  sharded path), then on each path: in memory (one process) and sharded (every core).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_segpendo.traffic import generate_jsonl

FLOOR_SEGPENDO = (
    "import gc, sys; gc.disable(); from pytest_segpendo.jsonl import load_jsonl_values; "
    "assert len(load_jsonl_values(sys.argv[1])) > 0"
)
FLOOR_STDLIB = "import gc, json, sys; gc.disable(); assert len([json.loads(l) for l in open(sys.argv[1], 'rb')]) > 0"


def best(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=50_000, help="events/s that web-actions must reach")
    args = parser.parse_args(argv)
    segpendo = str(Path(sys.executable).with_name("segpendo"))
    with tempfile.TemporaryDirectory() as tmp:
        events = os.path.join(tmp, "events.jsonl")
        with open(events, "w", encoding="utf-8") as f:
            f.writelines(generate_jsonl(args.events, seed=1, scenario="saas"))
        size_mb = os.path.getsize(events) / 1e6
        rows = [
            (
                "floor: parse only (segpendo's reader)",
                best([sys.executable, "-c", FLOOR_SEGPENDO, events], args.repeat),
            ),
            ("floor: parse only (json, stdlib)", best([sys.executable, "-c", FLOOR_STDLIB, events], args.repeat)),
        ]
        for profile in ("web-actions", "classic", "track-api", "track-api+metadata"):
            out = os.path.join(tmp, "out.jsonl")
            cmd = [segpendo, "expect", "--profile", profile, events, "-o", out]
            rows.append((f"segpendo expect --profile {profile}", best(cmd, args.repeat)))
            for path, above in (("in memory", "1000G"), ("sharded", "0")):
                seconds = best([*cmd, "--sharded-above", above], args.repeat)
                rows.append((f"  the same, {path}", seconds))
    print(
        f"segpendo expect on {args.events:,} saas events ({size_mb:.0f} MB JSONL), best of {args.repeat}, fresh "
        "process each"
    )
    print(f"{'command':<46} {'seconds':>8} {'events/s':>10} {'x floor':>8}")
    floor = rows[0][1]
    for name, seconds in rows:
        print(f"{name:<46} {seconds:>8.2f} {args.events / seconds:>10,.0f} {seconds / floor:>8.2f}")
    web = next(s for n, s in rows if n.endswith("web-actions"))
    rate = args.events / web
    print(
        f"web-actions: {rate:,.0f} events/s, target >= {args.target:,.0f} -> "
        f"{'met' if rate >= args.target else 'NOT met'}"
    )
    return 0 if rate >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
