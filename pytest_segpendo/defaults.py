"""Every default of the toolkit, in one place: the CLI, the pytest plugin and the library read them from here, so
the same name means the same value everywhere (``docs/index.md``, "One set of defaults").

Nothing here imports the rest of the package: any module may import it, and importing it costs nothing.
"""

from __future__ import annotations

__all__ = [
    "AGE_LIMIT_DAYS",
    "COUNT",
    "DEMO_COUNT",
    "DEMO_SEED",
    "LIMIT",
    "LOCALE",
    "MAX_ATTEMPTS",
    "MAX_BODY",
    "MAX_DECOMPRESSED",
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
"""Events a check generates (``segpendo check``, the ``segpendo`` fixture)."""
LOCALE = "en_US"
"""Faker locale of generated names and places."""

# -- the reference mapping and the comparison ---------------------------------------------------------------------
PROFILE = "track-api+metadata"
"""The reference profile everywhere a profile is not given (a server-side relay to the Track Events and Metadata
APIs: the most common way Segment data reaches Pendo outside the browser)."""
LIMIT = 20
"""Differences detailed in a text report (the JSON report always holds all of them)."""

# -- delivery to the system under test ----------------------------------------------------------------------------
VIA = "webhook"
"""Segment's wire format: the classic Webhooks destination."""
TIMEOUT = 5.0
"""Seconds Segment's classic webhooks wait for an answer."""
MAX_ATTEMPTS = 5
"""Attempts per request before a delivery gives up."""

# -- waiting for what the system sends ----------------------------------------------------------------------------
SETTLE = 10.0
"""Seconds a check waits at most for Pendo traffic to settle."""
QUIET = 0.2
"""Pendo traffic has settled when no request came for this many seconds."""

# -- the fake Pendo server ----------------------------------------------------------------------------------------
AGE_LIMIT_DAYS = 7.0
"""Pendo does not process a Track Event whose timestamp is more than this many days old."""
MAX_BODY = 1 << 20
"""Bytes of a request body the fake Pendo server accepts."""
MAX_DECOMPRESSED = 8 << 20
"""Bytes a compressed body may inflate to."""

# -- the demo -----------------------------------------------------------------------------------------------------
DEMO_SEED = 2026
DEMO_COUNT = 1000
