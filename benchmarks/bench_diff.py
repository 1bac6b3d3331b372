"""Speed of the diff engine, side by side with what users would write by hand, and the plugin's overhead.

Run: ``python benchmarks/bench_diff.py [--repeat R] [--skip-naive-20k]``

1. The target run: 100,000 track events + 20,000 visitors + 2,000 accounts (state view) with 1% of the records
   changed, 0.5% missing and 0.5% unexpected, planted at random: seconds (best of R), and whether every planted
   difference is reported exactly (target: at most 3 s, all exact).
2. The naive way, ``DeepDiff(expected, observed, ignore_order=True)`` on the record lists, against
   ``pytest_segpendo.verify.diff`` on the same 4,000 and 20,000 records (same rates): seconds, the ratio (target
   at 20,000: at least 50x), and whether the two flag the same records.
3. The plugin's overhead: resetting both fakes before a test (target under 1 ms), starting them for a session
   (under 0.3 s), stopping them (under 0.1 s); medians of 50.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import random
import statistics
import sys
import time
from typing import Any

from deepdiff import DeepDiff

from pytest_segpendo.fakes import FakePendo, FakeSegment
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, diff

Record = dict[str, Any]


def population(n_tracks: int, n_visitors: int, n_accounts: int, seed: int) -> list[Record]:
    """Records shaped like real traffic: traits and properties taken from generated Segment events."""
    rnd = random.Random(seed)
    events = generate(3000, seed=seed, mix={"saas": 3, "edge": 1})
    traits = [
        e["traits"]
        for e in events
        if e["type"] == "identify" and isinstance(e.get("traits"), dict) and len(json.dumps(e["traits"])) < 2000
    ]
    group_traits = [
        e["traits"]
        for e in events
        if e["type"] == "group" and isinstance(e.get("traits"), dict) and len(json.dumps(e["traits"])) < 2000
    ]
    props = [
        (e["event"], e.get("properties") or {})
        for e in events
        if e["type"] == "track" and len(json.dumps(e.get("properties") or {})) < 2000
    ]
    out: list[Record] = []
    for i in range(n_visitors):
        out.append({"kind": "visitor", "id": f"usr_{i:07d}", "metadata": dict(rnd.choice(traits))})
    for i in range(n_accounts):
        out.append(
            {
                "kind": "account",
                "id": f"acc_{i:06d}",
                "metadata": dict(rnd.choice(group_traits)),
                "parentAccountId": None,
            }
        )
    start = 1_767_600_000_000
    for i in range(n_tracks):
        name, properties = rnd.choice(props)
        out.append(
            {
                "kind": "track",
                "event": name,
                "visitorId": f"usr_{rnd.randrange(n_visitors):07d}",
                "accountId": f"acc_{rnd.randrange(n_accounts):06d}" if rnd.random() < 0.7 else None,
                "timestamp": start + i * 1000 + rnd.randrange(1000),
                "properties": dict(properties),
                "context": {"ip": f"203.0.113.{rnd.randrange(256)}", "userAgent": "Mozilla/5.0"},
            }
        )
    return out


def plant(expected: list[Record], seed: int) -> tuple[list[Record], set[int], set[int], list[Record]]:
    """Observed records: 1% changed (one field), 0.5% missing, 0.5% unexpected, shuffled."""
    rnd = random.Random(seed)
    n = len(expected)
    picks = rnd.sample(range(n), n // 100 + n // 200)
    changed, missing = set(picks[: n // 100]), set(picks[n // 100 :])
    observed = []
    for i, r in enumerate(expected):
        if i in missing:
            continue
        r = copy.deepcopy(r) if i in changed else r
        if i in changed:
            (r["properties"] if r["kind"] == "track" else r["metadata"])["plantedChange"] = i
        observed.append(r)
    extra = [
        {
            "kind": "track",
            "event": "Planted Unexpected",
            "visitorId": f"ghost_{k}",
            "accountId": None,
            "timestamp": 1_767_600_000_000 + k,
            "properties": {"k": k},
            "context": {},
        }
        for k in range(n // 200)
    ]
    observed += extra
    rnd.shuffle(observed)
    return observed, changed, missing, extra


def key(r: Record) -> str:
    return json.dumps(r, sort_keys=True)


def exact(report: Any, expected: list[Record], changed: set[int], missing: set[int], extra: list[Record]) -> bool:
    got_changed = {key(d.expected) for d in report.of("changed")}
    got_missing = {key(d.expected) for d in report.of("missing")}
    got_extra = {key(d.observed) for d in report.of("unexpected")}
    return (
        got_changed == {key(expected[i]) for i in changed}
        and got_missing == {key(expected[i]) for i in missing}
        and got_extra == {key(r) for r in extra}
        and all([f.where.split(".")[-1] for f in d.fields] == ["plantedChange"] for d in report.of("changed"))
        and report.summary["duplicated"] == report.summary["rejected"] == 0
    )


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def naive_flags(expected: list[Record], observed: list[Record]) -> tuple[set[str], set[str], float]:
    """What DeepDiff(ignore_order=True) says differs: expected records it flags, observed records it flags."""
    start = time.perf_counter()
    tree = DeepDiff(expected, observed, ignore_order=True, view="tree")
    seconds = time.perf_counter() - start
    gone: set[str] = set()
    came: set[str] = set()
    for report, levels in tree.items():
        for level in levels:
            path = level.path(output_format="list")
            if report == "iterable_item_removed":
                gone.add(key(level.t1))
            elif report == "iterable_item_added":
                came.add(key(level.t2))
            else:  # a change inside a record DeepDiff paired
                gone.add(key(expected[path[0]]))
                came.add(key(observed[level.path(output_format="list", use_t2=True)[0]]))
    return gone, came, seconds


def overhead() -> tuple[float, float, float]:
    starts, stops, resets = [], [], []
    for _ in range(20):
        t = time.perf_counter()
        pendo, segment = FakePendo().start(), FakeSegment().start()
        starts.append(time.perf_counter() - t)
        for _ in range(50):
            t = time.perf_counter()
            pendo.reset()
            segment.reset()
            resets.append(time.perf_counter() - t)
        t = time.perf_counter()
        pendo.stop()
        segment.stop()
        stops.append(time.perf_counter() - t)
    return statistics.median(starts), statistics.median(stops), statistics.median(resets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-naive-20k", action="store_true", help="DeepDiff on 20,000 records takes minutes")
    args = parser.parse_args(argv)
    state = DiffOptions(view="state")
    ok = True

    print("1. 100,000 tracks + 20,000 visitors + 2,000 accounts; 1% changed, 0.5% missing, 0.5% unexpected")
    expected = population(100_000, 20_000, 2_000, seed=1)
    observed, changed, missing, extra = plant(expected, seed=2)
    seconds, report = timed(lambda e=expected, o=observed: diff(e, o, state), args.repeat)
    right = exact(report, expected, changed, missing, extra)
    print(f"{'records':>10} {'planted':>8} {'reported':>9} {'exact':>6} {'seconds':>8} {'target':>8}")
    planted = len(changed) + len(missing) + len(extra)
    reported = report.summary["changed"] + report.summary["missing"] + report.summary["unexpected"]
    print(f"{len(expected):>10,} {planted:>8,} {reported:>9,} {str(right):>6} {seconds:>8.2f} {'<= 3.00':>8}")
    ok &= right and seconds <= 3.0

    # 1b. the same, told who wrote each record (Expectation.writers): every account written again by another
    # user with another plan, which arrives first half of the time (order-dependent, not a difference)
    rnd = random.Random(5)
    lanes = [f"userId:{r['visitorId'] if r['kind'] == 'track' else r['id']}" for r in expected]
    gone = {expected[j].get("id") for j in missing}
    again = [
        {**r, "metadata": {"plan": f"plan-{i}"}}
        for i, r in enumerate(expected)
        if r["kind"] == "account" and r["id"] not in gone
    ]
    both = expected + again
    lanes += [f"userId:other-{i}" for i in range(len(again))]
    first = [r for r in again if rnd.random() < 0.5]
    firsts = {id(r) for r in first}
    arrived = first + observed + [r for r in again if id(r) not in firsts]
    with_writers, report = timed(lambda e=both, o=arrived, w=lanes: diff(e, o, state, writers=w), args.repeat)
    print(
        f"{'with writers':>10}: {with_writers:.2f} s ({len(again):,} accounts written by two users, "
        f"{report.summary['order-dependent']:,} order-dependent, {report.summary['changed']:,} changed)"
    )
    del expected, observed, report, both, arrived

    print()
    print("2. the naive way, DeepDiff(expected, observed, ignore_order=True), against segpendo's diff")
    print(f"{'records':>10} {'DeepDiff s':>11} {'segpendo s':>11} {'ratio':>8} {'same records flagged':>21}")
    for size in (4_000, 20_000):
        if size == 20_000 and args.skip_naive_20k:
            print(f"{size:>10,} {'skipped':>11}")
            continue
        tracks, accounts = size * 100 // 122, size * 2 // 122
        visitors = size - tracks - accounts
        expected = population(tracks, visitors, accounts, seed=3)
        observed, changed, missing, extra = plant(expected, seed=4)
        ours_s, report = timed(lambda e=expected, o=observed: diff(e, o, state), args.repeat)
        gone, came, naive_s = naive_flags(expected, observed)
        ours_gone = {key(d.expected) for d in report if d.cls in ("changed", "missing")}
        ours_came = {key(d.observed) for d in report if d.cls in ("changed", "unexpected")}
        agree = gone == ours_gone and came == ours_came and exact(report, expected, changed, missing, extra)
        ratio = naive_s / ours_s
        print(f"{len(expected):>10,} {naive_s:>11.2f} {ours_s:>11.3f} {ratio:>7.0f}x {str(agree):>21}")
        ok &= agree and (size != 20_000 or ratio >= 50)

    print()
    print("3. plugin overhead (medians): both fakes, per session and per test")
    start, stop, reset = overhead()
    print(f"{'session start':>14} {start * 1000:>8.1f} ms  (target < 300 ms)")
    print(f"{'session stop':>14} {stop * 1000:>8.1f} ms  (target < 100 ms)")
    print(f"{'per-test reset':>14} {reset * 1000:>8.3f} ms  (target < 1 ms)")
    ok &= start < 0.3 and stop < 0.1 and reset < 0.001
    print()
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
