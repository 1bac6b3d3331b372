"""Throughput of the fake Pendo server against its peers, side by side in one run.

Run: ``python benchmarks/bench_pendo.py [--requests N] [--threads T] [--repeat R]``

Each server runs in its own process; a client in this process sends single-event ``POST /data/track``
requests from T threads, each over one keep-alive connection (HTTP/1.1; a server that closes connections
makes the client reconnect, as real clients do):
- segpendo's fake Pendo (validates, decodes, stores every record, journals every request), in one process and
  with ``--workers`` processes on one port (``FakePendo(workers=N)``);
- pytest-httpserver (threaded, one permanent handler answering every request);
- a bare werkzeug app on werkzeug's threaded server that only parses the JSON body.
Then agent beacons (GET ptm.gif, a meta + track + load batch) through the fake, and beacon decoding in-process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from typing import Any

BODY = json.dumps(
    {
        "type": "track",
        "event": "Report Created",
        "visitorId": "user-1",
        "accountId": "acct-1",
        "timestamp": int(time.time() * 1000),
        "properties": {"reportId": "rpt_1", "widgets": 4},
        "context": {"ip": "10.0.0.1", "userAgent": "bench", "url": "https://app/r", "title": "R"},
    }
).encode()
HEADERS = {"content-type": "application/json", "x-pendo-integration-key": "secret"}


def serve(kind: str) -> None:
    """Child process: run one server, print its port, serve until stdin closes."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines for anyone: a fair race
    if kind.startswith("segpendo"):
        from pytest_segpendo.fakes import FakePendo

        workers = int(kind.partition(":")[2] or 1)  # "segpendo:N": the fake in N worker processes
        server: Any = FakePendo(track_secret="secret", workers=workers).start()
        port, stop = server.port, server.stop
    elif kind == "pytest-httpserver":
        from pytest_httpserver import HTTPServer

        server = HTTPServer(threaded=True)
        server.expect_request("/data/track", method="POST").respond_with_data("")
        server.start()
        port, stop = server.port, server.stop
    else:
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        @Request.application
        def app(request: Request) -> Response:
            json.loads(request.get_data())
            return Response("")

        bare = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=bare.serve_forever, daemon=True).start()
        port, stop = bare.port, bare.shutdown
    print(port, flush=True)
    sys.stdin.read()
    stop()


def hammer(port: int, path: str, body: bytes | None, method: str, per_thread: int, threads: int) -> float:
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(per_thread):
            conn.request(method, path, body=body, headers=HEADERS)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(str(response.status))
        conn.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[:3]}")
    return per_thread * threads / elapsed


def measure(
    kind: str, args: argparse.Namespace, path: str = "/data/track", body: bytes | None = BODY, method: str = "POST"
) -> float:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        hammer(port, path, body, method, 100, args.threads)  # warm up
        return max(
            hammer(port, path, body, method, args.requests // args.threads, args.threads) for _ in range(args.repeat)
        )
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def beacon_path() -> str:
    from pytest_segpendo.fakes.pendo import encode_jzb

    now = int(time.time() * 1000)
    events = [
        {
            "type": "meta",
            "visitor_id": "u1",
            "account_id": "a1",
            "props": {
                "visitor": {"id": "u1", "plan": "pro", "language": "en_US"},
                "account": {"id": "a1", "name": "Acme"},
                "parentAccount": {},
            },
            "browser_time": now,
        },
        {
            "type": "track",
            "track_event_name": "Clicked",
            "visitor_id": "u1",
            "account_id": "a1",
            "props": {"button": "save"},
            "browser_time": now,
            "url": "https://app/x",
        },
        {
            "type": "load",
            "visitor_id": "u1",
            "account_id": "a1",
            "props": {"load_time": 120},
            "browser_time": now,
            "url": "https://app/x",
        },
    ]
    return f"/data/ptm.gif/key?v=2.291.4_prod&ct={now}&jzb={encode_jzb(events)}"


def decode_rate(n: int = 20_000) -> float:
    from urllib.parse import parse_qs, urlsplit

    from pytest_segpendo.fakes.pendo.decode import agent_records, decode_jzb

    jzb = parse_qs(urlsplit(beacon_path()).query)["jzb"][0]
    start = time.perf_counter()
    for _ in range(n):
        agent_records(decode_jzb(jzb, 1 << 20))
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes of the scaled fake's row")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    rates = {kind: measure(kind, args) for kind in ("segpendo", "pytest-httpserver", "bare werkzeug")}
    scaled = measure(f"segpendo:{args.workers}", args)
    beacons = measure("segpendo", args, path=beacon_path(), body=None, method="GET")
    decoded = decode_rate()
    ours, peer, bare = rates["segpendo"], rates["pytest-httpserver"], rates["bare werkzeug"]
    print(
        f"POST /data/track, single events, {args.threads} client threads, {args.requests} requests, best of "
        f"{args.repeat}"
    )
    print(f"{'server':<46} {'req/s':>9} {'vs httpserver':>14} {'vs bare':>9}")
    for kind, rate in rates.items():
        print(f"{kind:<46} {rate:>9,.0f} {rate / peer:>13.2f}x {rate / bare:>8.2f}x")
    label = f"segpendo, workers={args.workers} (processes, one port)"
    print(f"{label:<46} {scaled:>9,.0f} {scaled / peer:>13.2f}x {scaled / bare:>8.2f}x")
    print(f"{'segpendo, GET ptm.gif (meta+track+load batch)':<46} {beacons:>9,.0f}")
    print(f"{'beacon batches decoded in-process':<46} {decoded:>9,.0f}")
    ok = ours >= 1.2 * peer and ours >= 0.9 * bare
    print(
        f"targets: >= 1.2x pytest-httpserver ({ours / peer:.2f}x), >= 0.9x bare werkzeug ({ours / bare:.2f}x) -> "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
