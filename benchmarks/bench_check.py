"""What production's bad days cost a check: the default check's wall time beside the same check without faults.

Run: ``python benchmarks/bench_check.py [--repeat R] [--count N] [--seed S] [--seeds K]``

The system under test is the bundled correct relay (``pytest_segpendo.relay``, signed webhooks), the traffic the
default check's (``defaults.COUNT`` generated events, seed ``defaults.SEED``). Each round runs, in the same
process and one after the other (the order alternating), ``run_check(..., faults=True)`` (the default: seeded
Pendo faults and Segment re-deliveries) and ``run_check(..., faults=False)``, each with a fresh fake and relay.
Printed: the median and best wall time of each over R rounds, their ratio (target: the default check under 1.5x
the check without faults), and what the bad days did (faults injected, retries, re-deliveries). ``--seeds K``
also prints one round for each seed 0..K-1: a seed whose rules draw a slow answer (``defaults.SLOW_RATE``) pays a
client's timeout, and the table shows it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from typing import Any

from pytest_segpendo import defaults
from pytest_segpendo.conformance import run_check
from pytest_segpendo.fakes.pendo import FakePendo
from pytest_segpendo.relay import Relay
from pytest_segpendo.traffic import generate

KEYS = {"track_secret": "bench-track-secret", "integration_key": "bench-integration-key"}
SECRET = "bench-webhook-secret"


def one(events: list[dict[str, Any]], seed: int, faults: bool) -> tuple[float, Any]:
    with FakePendo(**KEYS) as pendo, Relay(pendo.url, secret=SECRET, **KEYS) as relay:
        gc.collect()
        start = time.perf_counter()
        result = run_check(
            events, relay.url, pendo=pendo, seed=seed, faults=faults, delivery_options={"secret": SECRET}
        )
        seconds = time.perf_counter() - start
        injected = len(pendo.injected)
    if not result.conforms:
        raise SystemExit(f"the correct relay did not conform (faults={faults}):\n{result.format()}")
    return seconds, (injected, result.delivery)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--count", type=int, default=defaults.COUNT)
    parser.add_argument("--seed", type=int, default=defaults.SEED)
    parser.add_argument("--seeds", type=int, default=0, help="also one round per seed 0..K-1")
    args = parser.parse_args(argv)

    events = generate(args.count, args.seed)
    one(events, args.seed, True)  # warm up: imports, first connections
    times: dict[bool, list[float]] = {True: [], False: []}
    seen: Any = None
    for round_ in range(args.repeat):
        for faults in (True, False) if round_ % 2 == 0 else (False, True):
            seconds, info = one(events, args.seed, faults)
            times[faults].append(seconds)
            if faults:
                seen = info
    injected, delivery = seen
    with_faults, without = statistics.median(times[True]), statistics.median(times[False])
    ratio = with_faults / without
    print(
        f"the default check: {args.count} generated events (seed {args.seed}), the bundled correct relay, signed "
        f"webhooks; {args.repeat} rounds"
    )
    print(f"bad days of seed {args.seed}: {injected} Pendo requests faulted; {delivery.summary()}")
    print()
    print(f"{'check':>32} {'median s':>9} {'best s':>8}")
    print(f"{'without faults (--no-faults)':>32} {without:>9.3f} {min(times[False]):>8.3f}")
    print(f"{'default (bad days)':>32} {with_faults:>9.3f} {min(times[True]):>8.3f}")
    print(f"{'ratio':>32} {ratio:>9.2f}x {'':>8}   (target < 1.5x)")
    ok = ratio < 1.5
    if args.seeds:
        print()
        print(f"one round per seed ({args.count} events each):")
        print(
            f"{'seed':>6} {'faulted':>8} {'retries':>8} {'again':>6} {'default s':>10} {'no faults s':>12} {'ratio':>6}"
        )
        for seed in range(args.seeds):
            traffic = generate(args.count, seed)
            bad, (n, sent) = one(traffic, seed, True)
            good, _ = one(traffic, seed, False)
            print(
                f"{seed:>6} {n:>8} {sent.retried:>8} {sent.redelivered:>6} {bad:>10.3f} {good:>12.3f} "
                f"{bad / good:>5.2f}x"
            )
    print()
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
