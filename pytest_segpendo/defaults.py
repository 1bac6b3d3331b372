"""Every default of the toolkit, in one place: the CLI, the pytest plugin and the library read them from here, so
the same name means the same value everywhere (``docs/index.md``, "One set of defaults").

Nothing here imports the rest of the package: any module may import it, and importing it costs nothing.
"""

from __future__ import annotations

__all__ = [
    "AGE_LIMIT_DAYS",
    "BAD_LINES_SHOWN",
    "BATCH_LINES",
    "CHECK_BACKOFF",
    "CHECK_MAX_RETRY_AFTER",
    "CLOCK_PUSH",
    "COMPRESS_ABOVE",
    "CONCURRENCY",
    "COUNT",
    "DEMO_CONCURRENCY",
    "DEMO_COUNT",
    "DEMO_LIMIT",
    "DEMO_MIX",
    "DEMO_QUIET",
    "DEMO_SCALED_CONCURRENCY",
    "DEMO_SEED",
    "FAIL_FAST_FAILED",
    "FAIL_FAST_REFUSED",
    "FAIL_FAST_SILENCE",
    "FAULTS",
    "FAULT_FIRST",
    "FAULT_RATE",
    "HOST",
    "KEY_BYTES",
    "KEY_ENV",
    "LIMIT",
    "LOCALE",
    "MAX_ATTEMPTS",
    "MAX_BODY",
    "MAX_DECOMPRESSED",
    "MAX_ERRORS",
    "MEMORY_RECORDS",
    "METHOD",
    "PORT",
    "PROFILE",
    "QUIET",
    "REDELIVER",
    "REPLAY_SLICE_BYTES",
    "RETRY_AFTER",
    "SCALED_EVENTS",
    "SCENARIO",
    "SEED",
    "SETTLE",
    "SHARDED_ABOVE_BYTES",
    "SHARD_BYTES",
    "SLOW_MS",
    "SLOW_RATE",
    "START_TIMEOUT",
    "TIMEOUT",
    "UNKNOWN_SHARDS",
    "VIA",
]

# -- traffic ------------------------------------------------------------------------------------------------------
SEED = 0
"""Seed of generated traffic."""
SCENARIO = "saas"
"""Scenario of generated traffic."""
COUNT = 200
"""Events a check generates: ``segpendo check`` and the ``segpendo`` fixture alike, so that the same seed sends the
same traffic from the command line and from pytest (a failure reproduces with either). 200 SaaS events hold every
call type (pages, identify, group, tracks, anonymous visitors who sign up) and about 90 expected records, and a
check of them takes a fraction of a second, which matters when every test of a suite runs one; ask for more with
``--count`` / ``--segpendo-count`` / the marker's ``count=``."""
LOCALE = "en_US"
"""Faker locale of generated names and places."""

# -- the reference mapping and the comparison ---------------------------------------------------------------------
PROFILE = "track-api+metadata"
"""The reference profile everywhere a profile is not given (a server-side relay to the Track Events and Metadata
APIs: the most common way Segment data reaches Pendo outside the browser)."""
LIMIT = 20
"""Differences detailed in a text report (the JSON report always holds all of them)."""
MAX_ERRORS = 50
"""Bad lines ``segpendo validate`` shows."""
BAD_LINES_SHOWN = 5
"""Lines that could not be read which ``segpendo check`` and ``segpendo send`` list, with file and line, before
their report (all of them are in the JSON report, ``bad_lines``)."""

# -- delivery to the system under test ----------------------------------------------------------------------------
VIA = "webhook"
"""Segment's wire format: the classic Webhooks destination."""
TIMEOUT = 5.0
"""Seconds Segment's classic webhooks wait for an answer."""
MAX_ATTEMPTS = 5
"""Attempts per request before a delivery gives up."""
CONCURRENCY = 1
"""Parallel connections of a delivery."""
METHOD = "POST"
"""HTTP method of Webhooks (Actions) requests."""

# -- bad days: what every check runs under (docs/concepts.md, "Bad days") ---------------------------------------------
FAULTS = True
"""A check that delivers over HTTP (``segpendo check``, ``segpendo.check(url)``, ``run_check``) runs under seeded
faults of the fake Pendo server and seeded re-deliveries of Segment's, as production has them: a system that
acknowledges Segment and then loses the event fails; a correct one (it answers Segment with an error, or retries
Pendo itself, and recognises a re-delivered ``messageId``) passes. Off: ``--no-faults``,
``--segpendo-faults=off``, ``@pytest.mark.segpendo(faults=False)``, ``run_check(faults=False)``."""
FAULT_RATE = 0.01
"""Probability that a Pendo API request (track, metadata, segmentio) gets a random fault: a 429 with
``Retry-After``, a 500 or a 503 (a third each), not processed."""
FAULT_FIRST = 8
"""Besides the random ones, each API route gets one fault for sure, at a seeded one of its first this-many requests
(a low rate alone can miss a route in a 200-event check)."""
RETRY_AFTER = 1
"""Seconds the ``Retry-After`` of an injected 429 asks for."""
SLOW_RATE = 0.0001
"""Probability that a Pendo API request is answered late (``SLOW_MS``) after Pendo processed it: a client that
gives up waiting and sends it again makes a duplicate no correct system avoids (reported apart, not failing).
Rare, because each one costs the check a client's timeout: at one in 10,000 requests a slow answer adds about a
third to a long replay's time on average (a request costs a relay ~1.6 ms here) and hits a 200-event check
about once in 70; a test that wants one every time adds a rule (``{"route": "track", "delay_ms": 5500,
"phase": "after", "nth": 3}``)."""
SLOW_MS = 5500
"""How late a slow answer comes: past Segment's 5-second webhook timeout and a relay's own timeout to Pendo."""
REDELIVER = 0.01
"""Rate of Segment's re-deliveries of an event the system already acknowledged (same ``messageId``: Segment
delivers at least once); a check re-delivers at least one track event."""
CHECK_BACKOFF = 0.01
"""Seconds a check's delivery waits before its first retry (doubled each time): Segment's back-off, compressed."""
CHECK_MAX_RETRY_AFTER = 0.05
"""The longest wait a check's delivery grants a ``Retry-After`` (compressed; which answers are retried never
changes)."""

# -- failing fast -------------------------------------------------------------------------------------------------
FAIL_FAST_REFUSED = 20
"""A check stops when the last this-many Pendo requests were all refused, for one reason per route (wrong keys, a
wrong path): nothing later would pass."""
FAIL_FAST_FAILED = 10
"""A check stops when the last this-many requests to the system under test all failed after their retries."""
FAIL_FAST_SILENCE = 10.0
"""A check stops when the system under test acknowledged nothing for this many seconds while its failed attempts
accumulated."""

# -- waiting for what the system sends ----------------------------------------------------------------------------
SETTLE = 10.0
"""Seconds a check waits at most for Pendo traffic to settle."""
QUIET = 0.2
"""Pendo traffic has settled when no request came for this many seconds."""
CLOCK_PUSH = 0.1
"""Seconds between two updates of the clock of a fake Pendo server in another process (``segpendo serve``) while a
check or ``segpendo send --pendo URL`` delivers: the traffic's own time, as a local fake follows it."""

# -- the fakes ----------------------------------------------------------------------------------------------------
HOST = "127.0.0.1"
"""Address the fakes listen on."""
PORT = 0
"""Port of a fake: 0 is any free port."""
KEY_ENV = {
    "api_key": "SEGPENDO_API_KEY",
    "integration_key": "SEGPENDO_INTEGRATION_KEY",
    "track_secret": "SEGPENDO_TRACK_SECRET",
    "write_key": "SEGPENDO_WRITE_KEY",
    "secret": "SEGPENDO_SECRET",
}
"""The environment variable of each key (and of the webhook's shared secret), read when no option gives it: what a
``reproduce:`` line names instead of printing a secret."""
KEY_BYTES = 16
"""Random bytes of each key the pytest plugin's fakes require when none is configured (``secrets.token_hex``)."""
AGE_LIMIT_DAYS = 7.0
"""Pendo does not process a Track Event whose timestamp is more than this many days old."""
MAX_BODY = 1 << 20
"""Bytes of a request body the fake Pendo server accepts."""
MAX_DECOMPRESSED = 8 << 20
"""Bytes a compressed body may inflate to."""
MEMORY_RECORDS = 100_000
"""Items of each list a fake keeps in memory before older ones go to disk (SQLite): nothing spills in a test or a
10^5-event run; a 10^7-record run stays within a bounded memory (``docs/pendo.md``, "At scale")."""
START_TIMEOUT = 60.0
"""Seconds a process started for a large run (a worker of the fake Pendo server, the bundled relay in its own
process) has to be listening."""

# -- large runs: expect and diff in shards (docs/scale.md) ----------------------------------------------------------
SHARDED_ABOVE_BYTES = 64 * 2**20
"""Input size (once read, gzip undone) above which ``segpendo expect``, ``diff`` and ``check`` take the sharded path
(below it the in-memory one is as fast); ``--sharded-above`` changes it."""
SHARD_BYTES = 48 * 2**20
"""Input bytes per shard: a shard's work holds about 5x its input in memory (parsed, normalised, matched)."""
UNKNOWN_SHARDS = 64
"""Shards when the input's size cannot be known (stdin, a generator)."""
COMPRESS_ABOVE = 2**30
"""Input size (once read) above which spill files are compressed when the spill folder's disk is short of room
(zlib, level 1: about 7x smaller, for about as much time as parsing costs)."""
BATCH_LINES = 10_000
"""Lines per batch parsed by one task, when the calling process reads the input (gzip, stdin, Dask)."""
REPLAY_SLICE_BYTES = 256 * 2**20
"""Events (bytes once read) a replay check holds in memory at once: ``segpendo check --events`` over it replays
the users in slices, one after another (parsed events take about 3.6x their JSON: about 0.9 GB a slice)."""
SCALED_EVENTS = 20_000
"""Events from which ``segpendo demo`` runs each part in a process of its own (the relay; the fake Pendo server in
one worker process per core) and ``segpendo check`` starts its fake Pendo server with a worker per core: below it,
starting processes costs more than it saves."""

# -- the demo -----------------------------------------------------------------------------------------------------
DEMO_SEED = 2026
DEMO_COUNT = 1000
DEMO_LIMIT = 8
"""Differences the demo details."""
DEMO_MIX = {"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1}
DEMO_CONCURRENCY = 4
"""Parallel connections of the demo's delivery (the bundled relay answers each event synchronously)."""
DEMO_QUIET = 0.1
"""The demo's settling: the bundled relay forwards before it answers, so Pendo traffic ends with the delivery."""
DEMO_SCALED_CONCURRENCY = 16
"""Parallel connections of the demo's delivery from ``SCALED_EVENTS`` on (the relay in its own process takes them
all at once)."""
