"""Delivery speed of ``segpendo send --via webhook`` against the floor: a plain ``requests`` loop.

Run: ``python benchmarks/bench_send.py [--events N] [--repeat R]``

A minimal receiver (answers 200 to everything, keep-alive) runs in its own process. Side by side, best of R:
- the floor: a ``requests.Session`` posting the same bodies one after another (one connection);
- ``deliver(..., via="webhook", secret=...)``: every body signed with HMAC-SHA1, one connection;
- the same with ``concurrency=4``;
- the ``segpendo send`` command end to end (process start, reading the file, the report).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import requests

from pytest_segpendo.delivery import deliver
from pytest_segpendo.mapping import js_dumps
from pytest_segpendo.traffic import generate


def receiver() -> None:
    from pytest_segpendo.fakes.core.server import ServerThread

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]

    with ServerThread(app) as server:
        print(server.port, flush=True)
        sys.stdin.read()


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        receiver()
        return 0
    events = generate(args.events, seed=1, scenario="saas")
    bodies = [js_dumps(e).encode() for e in events]
    child = subprocess.Popen(
        [sys.executable, __file__, "--receiver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = f"http://127.0.0.1:{int(child.stdout.readline())}/hook"
        session = requests.Session()

        def floor() -> None:
            for body in bodies:
                session.post(
                    url, data=body, headers={"Content-Type": "application/json", "User-Agent": "Segment.io/1.0"}
                ).raise_for_status()

        def ours(concurrency: int) -> None:
            report = deliver(events, url, "webhook", secret="s3cret", concurrency=concurrency)
            assert report.ok, report.format()

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "events.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(js_dumps(e) + "\n" for e in events)
            segpendo = os.path.join(os.path.dirname(sys.executable), "segpendo")
            command = [segpendo, "send", "--sut", url, "--via", "webhook", "--secret", "s3cret", path]
            rows = [
                ("floor: requests.Session loop, unsigned", best(floor, args.repeat)),
                ("deliver(via=webhook), signed", best(lambda: ours(1), args.repeat)),
                ("deliver(via=webhook), signed, concurrency=4", best(lambda: ours(4), args.repeat)),
                (
                    "segpendo send --via webhook --secret (CLI)",
                    best(lambda: subprocess.run(command, check=True, capture_output=True), args.repeat),
                ),
            ]
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    floor_rate = args.events / rows[0][1]
    print(f"webhook delivery of {args.events} saas events to a local receiver, best of {args.repeat}")
    print(f"{'sender':<48} {'seconds':>8} {'events/s':>10} {'x floor':>8}")
    for name, seconds in rows:
        rate = args.events / seconds
        print(f"{name:<48} {seconds:>8.2f} {rate:>10,.0f} {rate / floor_rate:>8.2f}")
    single, concurrent = args.events / rows[1][1], args.events / rows[2][1]
    ok = single >= 0.8 * floor_rate and concurrent > floor_rate
    print(
        f"targets: signed >= 0.8x floor ({single / floor_rate:.2f}x), concurrent > floor "
        f"({concurrent / floor_rate:.2f}x) -> {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
