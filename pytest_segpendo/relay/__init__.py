"""The bundled reference relay: a small server-side relay from Segment to Pendo, and a bank of realistic bugs.

It is a *system under test*, written the way a team would write its own relay, not with the toolkit's
profiles: it receives Segment's classic webhook (one event per ``POST``; a JSON array of whole events, as
Webhooks (Actions) batches them, is accepted too), checks ``X-Signature`` when a shared secret is set, and
forwards each event to Pendo before it answers:

- ``track`` -> ``POST /data/track`` (header ``x-pendo-integration-key: <track secret>``), body
  ``{"type": "track", "event", "visitorId", "accountId", "timestamp", "properties", "context"}``;
- ``identify`` -> ``POST /api/v1/metadata/visitor/custom/value?create=true``, ``[{"visitorId", "values": traits}]``;
- ``group`` -> ``POST /api/v1/metadata/account/custom/value?create=true``, ``[{"accountId", "values": traits}]``;
- ``page``, ``screen``, ``alias``: nothing.

Answers: ``200`` once Pendo accepted everything (or refused some of it with a 4xx: a retry would be refused
again, so the refusals are listed in the answer's ``refused`` and the event is not retried); ``502`` when Pendo
answered 5xx or could not be reached, ``503`` when it answered 429, so that Segment retries; ``401`` for a
missing or wrong signature; ``400`` for a body that is not JSON; ``413`` over 1 MiB; ``405`` for methods other
than POST, PUT and PATCH. Segment delivers at least once: the relay remembers the ``messageId`` of the last
100,000 events it forwarded (``remembered=``), and forwards none of them again (a retried batch skips the events
it forwarded before its failure).

>>> from pytest_segpendo.fakes import FakePendo
>>> from pytest_segpendo.delivery import deliver
>>> replay = FakePendo(track_secret="t", max_age_days=None)  # a replay of January: Pendo's 7-day rule off
>>> with replay as pendo, Relay(pendo.url, track_secret="t", integration_key="k") as relay:
...     report = deliver([{"type": "track", "userId": "u1", "event": "Signed Up",
...                        "timestamp": "2026-01-05T09:00:00.000Z"}], relay.url)
...     [(r["event"], r["visitorId"], r["timestamp"]) for r in pendo.records()]
[('Signed Up', 'u1', 1767603600000)]

``Relay(..., bugs=["seconds-timestamps"])`` turns on bugs of :data:`BUGS`, each a mistake relay authors make,
each changing only the behaviour it names: what a test of your own relay should catch.

The parts: :mod:`~pytest_segpendo.relay.server` (the relay), :mod:`~pytest_segpendo.relay.bugs` (the bug bank
and the relay's hook points), :mod:`~pytest_segpendo.relay.wire` (reading Segment events),
:mod:`~pytest_segpendo.relay.pendo` (the connections to Pendo), :mod:`~pytest_segpendo.relay.cli` (the command
line: ``python -m pytest_segpendo.relay --pendo URL --track-secret K --integration-key K`` prints
``{"relay": "http://127.0.0.1:N"}`` once it listens and stops on SIGINT or SIGTERM).
"""

from __future__ import annotations

from .bugs import BANK, BROKEN, BUGS, Bug
from .cli import main
from .server import MAX_BODY, Relay

__all__ = ["BANK", "BROKEN", "BUGS", "MAX_BODY", "Bug", "Relay", "main"]
