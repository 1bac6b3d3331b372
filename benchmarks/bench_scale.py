"""Production-size runs, section by section; every figure is printed beside its comparison, measured in the same run.

Run: ``python benchmarks/bench_scale.py [--sections ingest,demo,pipeline] [--sizes 100000,1000000,10000000] ...``

Sections (``--sections``, in order; another section is added by writing a function and listing it in SECTIONS):

``heads``
    Reading one HTTP message head, as http.server and http.client do it (``email.parser``, through
    ``http.client.parse_headers``) and as :mod:`pytest_segpendo.http11` does on the hot paths (the fakes' and the
    relay's servers, the delivery's and the relay's clients).

``ingest``
    The fake Pendo server ingesting n = 10^5, 10^6, 10^7 records (``--sizes``): Metadata API bulk writes of
    ``--batch`` distinct visitors each (``POST /api/v1/metadata/visitor/custom/value?create=true``), from
    ``--connections`` keep-alive connections of a client process that only sends bytes. The fake runs with
    ``workers`` processes (``--workers``, default: the cores), spilling past ``--memory-records`` items a list.
    For each n: wall time, CPU and peak RSS of the fake's processes (summed), records/s, beside the floor: a bare
    werkzeug server (``werkzeug.serving.make_server``, threaded) that reads each body and answers 200. Then the
    growth exponent of the fake's time (the slope of log time over log n: 1.0 is linear), and reading every
    record back (``RemotePendo.iter_records``, streamed) for n <= ``--read-back-max``.

``demo``
    The demo loop (generate -> deliver to the bundled relay -> fake Pendo -> expect -> diff; twice, as
    ``segpendo demo`` does: the correct relay, then a broken one) on ``--demo-count`` events: in one process (as
    ``segpendo demo`` runs it today) and with :mod:`pytest_segpendo.scale` (the fake in worker processes, the relay
    in its own, this process sending with ``--demo-concurrency`` lanes), beside the 332 s measured for
    ``segpendo demo --count 100000`` before this work.

``pipeline``
    Generate, expect and diff at ``--pipeline-sizes`` events: ``benchmarks/scale_pipeline.py`` (see its doc).

Bounded: every size and count is a flag; ``--sections heads,ingest,demo`` takes about 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TODAY_DEMO_S = 332.0  # segpendo demo --count 100000, measured on the 2-core machine before pytest_segpendo.scale
TEMPLATE_ID = b"RRRRRRRRRR"


# -- the servers, each in a child process ------------------------------------------------------------------------


def serve(kind: str, workers: int, memory_records: int) -> None:
    """Child process: run one server, print {"port", "pids"}, serve until stdin closes."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if kind == "fake":
        from pytest_segpendo.fakes.pendo import FakePendo

        pendo = FakePendo(integration_key="k", workers=workers, memory_records=memory_records).start()
        pids = list(getattr(pendo.server, "pids", [])) or [os.getpid()]
        print(json.dumps({"port": pendo.port, "pids": pids}), flush=True)
        sys.stdin.read()
        pendo.stop()
        return
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    @Request.application
    def app(request: Request) -> Response:
        request.get_data()
        return Response(b'{"total":0}', content_type="application/json")

    bare = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    print(json.dumps({"port": bare.port, "pids": [os.getpid()]}), flush=True)
    sys.stdin.read()
    bare.shutdown()


class Child:
    """A server child process and what /proc says of its processes."""

    def __init__(self, kind: str, workers: int, memory_records: int):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--workers", str(workers)]
            + ["--memory-records", str(memory_records)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.port: int = info["port"]
        self.pids: list[int] = info["pids"]

    def cpu(self) -> float:
        return sum(_cpu(pid) for pid in self.pids)

    def peak_rss(self) -> int:
        return sum(_hwm(pid) for pid in self.pids)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# -- the client ----------------------------------------------------------------------------------------------------


def batch_template(batch: int) -> bytes:
    items = b",".join(
        b'{"visitorId":"v' + TEMPLATE_ID + b"-%d" % j + b'","values":{"plan":"pro","seats":%d,"region":"eu"}}' % j
        for j in range(batch)
    )
    return b"[" + items + b"]"


def send_all(port: int, requests_total: int, batch: int, connections: int) -> float:
    """Send ``requests_total`` bulk writes over ``connections`` keep-alive sockets (reconnecting when the server
    closes); returns the wall time. Raises on any answer other than 200."""
    template = batch_template(batch)
    head = (
        b"POST /api/v1/metadata/visitor/custom/value?create=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"x-pendo-integration-key: k\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    )
    counter = iter(range(requests_total))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        while not failures:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            body = template.replace(TEMPLATE_ID, b"%010d" % n)
            sock.sendall(head % len(body) + body)
            status = reader.readline()
            length, close = 0, False
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and b"close" in value.lower():
                    close = True
            reader.read(length)
            if b" 200 " not in status:
                failures.append(status.decode("latin-1").strip())
            if close:
                reader.close()
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                reader = sock.makefile("rb")
        reader.close()
        sock.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")
    return time.perf_counter() - start


def ingest_one(kind: str, n: int, args: argparse.Namespace) -> dict[str, float]:
    child = Child(kind, args.workers, args.memory_records)
    try:
        cpu0 = child.cpu()
        wall = send_all(child.port, n // args.batch, args.batch, args.connections)
        out = {"wall": wall, "cpu": child.cpu() - cpu0, "rss": child.peak_rss(), "rate": n / wall}
        if kind == "fake":
            from pytest_segpendo.fakes import RemotePendo

            remote = RemotePendo(f"http://127.0.0.1:{child.port}", timeout=600)
            *_, (_, end) = remote.iter_lines(["rejected"])
            if end["counts"]["records"] != n or end["counts"]["rejected"]:
                raise RuntimeError(f"the fake holds {end['counts']} after {n:,} records were sent")
            if n <= args.read_back_max:
                start = time.perf_counter()
                read = sum(1 for _ in remote.iter_records())
                out["read"] = time.perf_counter() - start
                if read != n:
                    raise RuntimeError(f"read back {read:,} records of {n:,}")
        return out
    finally:
        child.stop()


def section_ingest(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(
        f"== ingest: Metadata API bulk writes of {args.batch} distinct visitors, {args.connections} connections; the "
        f"fake with workers={args.workers}, memory_records={args.memory_records:,}"
    )
    print(
        f"{'records':>12} {'server':<16} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'records/s':>11} "
        f"{'vs floor':>9} {'read back s':>12}"
    )
    fits: list[tuple[float, float]] = []
    for n in sizes:
        results = {kind: ingest_one(kind, n, args) for kind in ("fake", "bare werkzeug")}
        floor = results["bare werkzeug"]["rate"]
        for kind, r in results.items():
            read = f"{r['read']:>12.1f}" if "read" in r else f"{'':>12}"
            print(
                f"{n:>12,} {kind:<16} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['rss'] / 2**20:>12.0f} "
                f"{r['rate']:>11,.0f} {r['rate'] / floor:>8.2f}x {read}",
                flush=True,
            )
        fits.append((math.log(n), math.log(results["fake"]["wall"])))
    if len(fits) >= 2:
        mean_x = sum(x for x, _ in fits) / len(fits)
        mean_y = sum(y for _, y in fits) / len(fits)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in fits) / sum((x - mean_x) ** 2 for x, _ in fits)
        print(f"growth exponent of the fake's ingest time (log time over log n): {slope:.2f} (1.00 is linear)")


# -- the demo loop ---------------------------------------------------------------------------------------------------


def demo_pass(mode: str, events: list[dict[str, Any]], bugs: tuple[str, ...], args: argparse.Namespace) -> bool:
    from pytest_segpendo import defaults
    from pytest_segpendo.conformance import run_check

    secret, track, key = "demo-webhook-secret", "demo-track-secret", "demo-integration-key"
    check = {"overrides": {"limit": defaults.DEMO_LIMIT}, "quiet": defaults.DEMO_QUIET, "seed": defaults.DEMO_SEED}
    if mode == "one process":
        from pytest_segpendo.fakes.pendo import FakePendo
        from pytest_segpendo.relay import Relay

        with (
            FakePendo(track_secret=track, integration_key=key) as pendo,
            Relay(pendo.url, track_secret=track, integration_key=key, secret=secret, bugs=bugs) as relay,
        ):
            delivery = {"secret": secret, "concurrency": defaults.DEMO_CONCURRENCY}
            result = run_check(events, relay.url, pendo=pendo, delivery_options=delivery, **check)  # type: ignore[arg-type]
            relay.raise_errors()
            pendo.raise_errors()
    else:
        from pytest_segpendo.scale import run_scaled_check

        result = run_scaled_check(
            events,
            track_secret=track,
            integration_key=key,
            secret=secret,
            bugs=bugs,
            workers=args.workers,
            delivery_options={"concurrency": args.demo_concurrency},
            check_options=check,
        )
    return bool(result.report.conforms)


def section_demo(args: argparse.Namespace) -> None:
    from pytest_segpendo import defaults
    from pytest_segpendo.relay import BROKEN
    from pytest_segpendo.traffic import generate

    n = args.demo_count
    print(
        f"== demo loop: {n:,} events (seed {defaults.DEMO_SEED}), generate -> deliver -> relay -> fake Pendo -> "
        "expect -> diff, correct relay then broken"
    )
    print(f"{'run':<44} {'wall s':>8} {'cpu s (all)':>12} {'events/s':>9} {'vs one process':>15} {'vs 332 s':>9}")
    timings: dict[str, float] = {}
    for mode in args.demo_modes.split(","):
        mode = mode.strip()
        before = os.times()
        start = time.perf_counter()
        events = generate(n, defaults.DEMO_SEED, mix=defaults.DEMO_MIX)
        verdicts = [demo_pass(mode, events, bugs, args) for bugs in ((), BROKEN)]
        wall = time.perf_counter() - start
        after = os.times()
        cpu = sum(after[i] - before[i] for i in range(4))
        if verdicts != [True, False]:
            raise RuntimeError(f"{mode}: the correct relay conformed: {verdicts[0]}; the broken one: {verdicts[1]}")
        timings[mode] = wall
        label = (
            "one process (segpendo demo today)"
            if mode == "one process"
            else (f"scaled: fake workers={args.workers}, relay process, {args.demo_concurrency} lanes")
        )
        versus = f"{timings['one process'] / wall:>14.2f}x" if "one process" in timings else f"{'':>15}"
        print(
            f"{label:<44} {wall:>8.1f} {cpu:>12.1f} {2 * n / wall:>9,.0f} {versus} {TODAY_DEMO_S / wall:>8.2f}x",
            flush=True,
        )
    if "scaled" in timings:
        target = TODAY_DEMO_S / 3
        met = timings["scaled"] <= target
        print(
            f"target: the scaled loop <= {target:.0f} s (3x faster than 332 s): {timings['scaled']:.1f} s -> "
            f"{'met' if met else 'NOT met'}"
        )


# -- message heads ---------------------------------------------------------------------------------------------------

REQUEST_HEAD = (
    b"POST /api/v1/metadata/visitor/custom/value?create=true HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"Accept-Encoding: identity\r\nContent-Length: 1234\r\nContent-Type: application/json\r\n"
    b"x-pendo-integration-key: 0123456789abcdef\r\nUser-Agent: segpendo-relay/0.1\r\n\r\n"
)
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nServer: Werkzeug/3.1.9\r\nDate: Tue, 01 Dec 2026 13:51:51 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\nAccess-Control-Allow-Origin: *\r\n"
    b"Access-Control-Allow-Methods: GET, POST, PUT, OPTIONS\r\nAccess-Control-Allow-Headers: content-type\r\n"
    b"Access-Control-Max-Age: 86400\r\n\r\n{}"
)


def section_heads(args: argparse.Namespace) -> None:
    """Reading one message head: what http.server and http.client do (email.parser), and pytest_segpendo.http11."""
    import http.client
    import io

    from pytest_segpendo import http11

    n = args.heads

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times.append(time.perf_counter() - start)
        return min(times) / n * 1e6

    def stdlib_request() -> object:
        stream = io.BufferedReader(io.BytesIO(REQUEST_HEAD))  # type: ignore[arg-type]
        stream.readline()
        return http.client.parse_headers(stream)  # what BaseHTTPRequestHandler.parse_request calls

    def ours_request() -> object:
        return http11.read_request_head(io.BufferedReader(io.BytesIO(REQUEST_HEAD)))  # type: ignore[arg-type]

    class FakeSocket:
        def makefile(self, mode: str) -> io.BufferedReader:
            return io.BufferedReader(io.BytesIO(RESPONSE_HEAD))  # type: ignore[arg-type]

    def response(cls: type[http.client.HTTPResponse]) -> Callable[[], object]:
        def read() -> object:
            answer = cls(FakeSocket())  # type: ignore[arg-type]
            answer.begin()
            return answer.read()

        return read

    rows = [
        ("request head (7 fields): http.client.parse_headers", best(stdlib_request)),
        ("request head: pytest_segpendo.http11.read_request_head", best(ours_request)),
        ("response head (9 fields) and body: http.client.HTTPResponse", best(response(http.client.HTTPResponse))),
        ("response head and body: pytest_segpendo.http11.HTTPResponse", best(response(http11.HTTPResponse))),
    ]
    print(f"== heads: reading one message head, microseconds (best of 3 x {n:,})")
    for i, (label, us) in enumerate(rows):
        versus = f"{rows[i - 1][1] / us:>7.1f}x faster" if i % 2 else ""
        print(f"{label:<62} {us:>7.1f} us {versus}")


def section_pipeline(args: argparse.Namespace) -> None:
    """Generate, expect and diff at production sizes: ``benchmarks/scale_pipeline.py`` (its own doc)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import scale_pipeline  # type: ignore[import-not-found]

    print("== pipeline: generate, expect, diff (benchmarks/scale_pipeline.py)", flush=True)
    scale_pipeline.main(["--sizes", args.pipeline_sizes, "--workers", str(args.workers)])


# Each section is a function of the parsed arguments; add one here (and its flags in main()).
SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "heads": section_heads,
    "ingest": section_ingest,
    "demo": section_demo,
    "pipeline": section_pipeline,
}


def main(argv: list[str] | None = None) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="ingest: records per run")
    parser.add_argument("--batch", type=int, default=100, help="ingest: records per request")
    parser.add_argument("--connections", type=int, default=8, help="ingest: client connections")
    parser.add_argument("--workers", type=int, default=max(2, cores), help="processes of the fake Pendo server")
    parser.add_argument("--memory-records", type=int, default=10_000, help="ingest: items a list keeps in memory")
    parser.add_argument("--read-back-max", type=int, default=1_000_000, help="ingest: read records back up to n")
    parser.add_argument("--demo-count", type=int, default=100_000, help="demo: events")
    parser.add_argument("--demo-concurrency", type=int, default=16, help="demo, scaled: delivery lanes")
    parser.add_argument("--demo-modes", default="one process,scaled", help="demo: which runs")
    parser.add_argument("--pipeline-sizes", default="100000,1000000", help="pipeline: events per run")
    parser.add_argument("--heads", type=int, default=20_000, help="heads: heads read per measurement")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.workers, args.memory_records)
        return 0
    unknown = [s for s in args.sections.split(",") if s.strip() and s.strip() not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r} (use {', '.join(SECTIONS)})")
    print(f"{cores} cores, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at start")
    for name in args.sections.split(","):
        if name.strip():
            SECTIONS[name.strip()](args)
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
