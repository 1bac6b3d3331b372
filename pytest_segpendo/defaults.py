"""Every default of the toolkit, in one place: the CLI, the pytest plugin and the library read them from here, so
the same name means the same value everywhere (``docs/index.md``, "One set of defaults").

Nothing here imports the rest of the package: any module may import it, and importing it costs nothing.
"""

from __future__ import annotations

__all__ = [
    "AGE_LIMIT_DAYS",
    "CONCURRENCY",
    "COUNT",
    "DEMO_CONCURRENCY",
    "DEMO_COUNT",
    "DEMO_LIMIT",
    "DEMO_MIX",
    "DEMO_QUIET",
    "DEMO_SEED",
    "HOST",
    "KEY_BYTES",
    "LIMIT",
    "LOCALE",
    "MAX_ATTEMPTS",
    "MAX_BODY",
    "MAX_DECOMPRESSED",
    "MAX_ERRORS",
    "METHOD",
    "PORT",
    "PROFILE",
    "QUIET",
    "SCENARIO",
    "SEED",
    "SETTLE",
    "TIMEOUT",
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

# -- waiting for what the system sends ----------------------------------------------------------------------------
SETTLE = 10.0
"""Seconds a check waits at most for Pendo traffic to settle."""
QUIET = 0.2
"""Pendo traffic has settled when no request came for this many seconds."""

# -- the fakes ----------------------------------------------------------------------------------------------------
HOST = "127.0.0.1"
"""Address the fakes listen on."""
PORT = 0
"""Port of a fake: 0 is any free port."""
KEY_BYTES = 16
"""Random bytes of each key the pytest plugin's fakes require when none is configured (``secrets.token_hex``)."""
AGE_LIMIT_DAYS = 7.0
"""Pendo does not process a Track Event whose timestamp is more than this many days old."""
MAX_BODY = 1 << 20
"""Bytes of a request body the fake Pendo server accepts."""
MAX_DECOMPRESSED = 8 << 20
"""Bytes a compressed body may inflate to."""

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
