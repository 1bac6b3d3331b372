"""The Flask relay's bug bank: mistakes real relays ship, none of them the bundled relay's.

Each bug replaces ONE method of :class:`flask_relay.PendoRelay` with the code a team might have written instead; the
correct relay's code stays as it is. A bug also says what a failing report must name in its first lines
(``names``, a regular expression), and which default of the check it takes to catch it (``needs``).

>>> relay_class(["ids-trimmed"]).pendo_id.__name__
'trimmed_id'
>>> relay_class([]) is PendoRelay
True
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask_relay import EPOCH, PendoRelay, Server, Settings

log = logging.getLogger("flask-relay")


@dataclass(frozen=True)
class Bug:
    name: str
    description: str
    names: str  # a regular expression the first lines of a failing report must match
    replaces: str  # the one PendoRelay method the bug replaces
    change: Callable[..., Any]
    needs: str  # the default that makes the default check see it


def relay_class(bugs: Iterable[str]) -> type[PendoRelay]:
    """:class:`PendoRelay` with ``bugs`` planted (each replaces one method: two bugs may not replace the same)."""
    methods: dict[str, Callable[..., Any]] = {}
    for name in bugs:
        if name not in BANK:
            raise ValueError(f"unknown bug {name!r} (choose from {', '.join(BANK)})")
        bug = BANK[name]
        if bug.replaces in methods:
            raise ValueError(f"{name}: another chosen bug already replaces PendoRelay.{bug.replaces}")
        methods[bug.replaces] = bug.change
    return type("BuggyPendoRelay", (PendoRelay,), methods) if methods else PendoRelay


@contextmanager
def running(
    pendo_url: str, track_secret: str, integration_key: str, bugs: tuple[str, ...] = (), **settings: Any
) -> Iterator[str]:
    """The relay (with ``bugs`` planted), listening; yields the URL Segment posts to."""
    relay = relay_class(bugs)(Settings(pendo_url, track_secret, integration_key, **settings))
    with Server(relay) as server:
        yield server.url


# -- ids -----------------------------------------------------------------------------------------------------------


def trimmed_id(self: PendoRelay, value: Any) -> str | None:
    ident = PendoRelay.pendo_id(self, value)
    return ident.strip() if ident is not None else None  # "tidy up" ids pasted with spaces


def lower_cased_id(self: PendoRelay, value: Any) -> str | None:
    ident = PendoRelay.pendo_id(self, value)
    return ident.lower() if ident is not None else None  # "ids are case-insensitive, like e-mails"


def ascii_folded_id(self: PendoRelay, value: Any) -> str | None:
    ident = PendoRelay.pendo_id(self, value)
    if ident is None:
        return None
    return unicodedata.normalize("NFKD", ident).encode("ascii", "ignore").decode("ascii")  # "Pendo-safe ids"


def context_group_first(self: PendoRelay, event: dict[str, Any]) -> str | None:
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
    return self.pendo_id(context.get("groupId") or properties.get("groupId"))


# -- timestamps ------------------------------------------------------------------------------------------------------


def offset_ignored(self: PendoRelay, event: dict[str, Any]) -> Any:
    moment = datetime.fromisoformat(str(event.get("timestamp")).replace("Z", "+00:00"))
    return (moment.replace(tzinfo=timezone.utc) - EPOCH) // timedelta(milliseconds=1)  # "make it aware": UTC


_STAMP = re.compile(r"(.{19})(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def fraction_as_millis(self: PendoRelay, event: dict[str, Any]) -> Any:
    m = _STAMP.match(str(event.get("timestamp")))
    if m is None:
        return PendoRelay.pendo_timestamp(self, event)
    whole, fraction, zone = m.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if zone in (None, "Z") else zone))
    return int((moment - EPOCH).total_seconds()) * 1000 + int(fraction or 0)  # ".123456" read as 123456 ms


def iso_passthrough(self: PendoRelay, event: dict[str, Any]) -> Any:
    return event.get("timestamp")  # Segment's ISO-8601 string, as it came


# -- traits and properties -------------------------------------------------------------------------------------------


def flattened_properties(self: PendoRelay, event: dict[str, Any]) -> dict[str, Any]:
    def flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, dict) and value:
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[prefix + key] = value
        return out

    return flat(PendoRelay.properties(self, event))  # "Pendo shows nested properties as JSON: flatten them"


def group_id_popped(self: PendoRelay, event: dict[str, Any]) -> dict[str, Any]:
    properties = dict(PendoRelay.properties(self, event))
    properties.pop("groupId", None)  # "it is the accountId now: no need to send it twice"
    return properties


def nulls_dropped(self: PendoRelay, event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in PendoRelay.traits(self, event).items() if v is not None}  # "clean the payload"


def numbers_as_strings(self: PendoRelay, event: dict[str, Any]) -> dict[str, Any]:
    traits = PendoRelay.traits(self, event)
    return {k: v if isinstance(v, (str, dict, list)) or v is None else str(v) for k, v in traits.items()}


# -- Pendo's side ----------------------------------------------------------------------------------------------------


def swapped_headers(self: PendoRelay, api: str) -> dict[str, str]:
    key = self.settings.integration_key if api == "track" else self.settings.track_secret
    return {"x-pendo-integration-key": key, "content-type": "application/json"}


def without_create(self: PendoRelay, kind: str) -> str:
    return f"/api/v1/metadata/{kind}/custom/value"  # and the answer's `missing` list is never read


def agent_group(self: PendoRelay, kind: str) -> str:
    return f"/api/v1/metadata/{kind}/agent/value?create=true"


def never_seen(self: PendoRelay, event: dict[str, Any]) -> bool:
    return False  # no memory of messageIds: every delivery of an event is forwarded


class _Background:
    """A queue and a worker thread: what 'acks then drops' forwards with (the worker stops when idle)."""

    def __init__(self, relay: PendoRelay):
        self.relay = relay
        self.queue: queue.Queue[list[Any]] = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def put(self, events: list[Any]) -> None:
        self.queue.put(events)
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._work, name="flask-relay-worker", daemon=True)
                self.thread.start()

    def _work(self) -> None:
        while True:
            try:
                events = self.queue.get(timeout=2.0)
            except queue.Empty:
                with self.lock:
                    if self.queue.empty():
                        self.thread = None
                        return
                continue
            for event in events:
                if not isinstance(event, dict) or self.relay.already_forwarded(event):
                    continue
                for pendo_request in self.relay.pendo_requests(event):
                    try:
                        answer = self.relay.post(pendo_request)  # one try: Segment already has its 200
                        failed = answer.status_code >= 400
                    except Exception:
                        failed = True
                    if failed:
                        log.error("dropped %s for %s", pendo_request.path, event.get("messageId"))
                self.relay.remember(event)


_WORKERS_LOCK = threading.Lock()


def ack_then_forward(self: PendoRelay, events: list[Any]) -> tuple[int, dict[str, Any]]:
    with _WORKERS_LOCK:
        worker = self.__dict__.setdefault("_background", _Background(self))
    worker.put(events)
    return 200, {"ok": True, "queued": len(events)}  # "answer fast, Segment times out after 5 s"


# -- the bank --------------------------------------------------------------------------------------------------------

HAZARDS = "hazardous default traffic"
FAULTS = "default Pendo faults (429/5xx)"
REDELIVERY = "default Segment re-deliveries"
KEYS = "keys in the plugin's fakes (the CLI: --track-secret and --integration-key)"
NONE = "nothing new (the default check already sees it)"

_BUGS = (
    Bug(
        "ids-trimmed",
        "userId and groupId with surrounding whitespace trimmed, so Pendo gets another visitor or account",
        r'"\s[^"\n]*"|"[^"\n]*\s"',
        "pendo_id",
        trimmed_id,
        HAZARDS,
    ),
    Bug(
        "nested-properties-flattened",
        'nested objects in track properties flattened to "plan.name" keys',
        r'properties\["[^"\n]+\.[^"\n]+"\]|properties\.\w+: expected \{',
        "properties",
        flattened_properties,
        HAZARDS,
    ),
    Bug(
        "acks-then-drops",
        "answers Segment 200 at once, forwards in the background, and drops the event when Pendo answers 429 or 5xx",
        r"missing (track|visitor|account)",
        "forward",
        ack_then_forward,
        FAULTS,
    ),
    Bug(
        "swapped-keys",
        "the Track Event shared secret and the integration key swapped",
        r"x-pendo-integration-key|shared secret|integration key",
        "headers",
        swapped_headers,
        KEYS,
    ),
    Bug(
        "ids-lower-cased",
        "userId and groupId lower-cased, so two ids that differ by case become one visitor or account",
        r'(visitor|account)[^\n]*"[^"\n]*[A-Z][^"\n]*"',
        "pendo_id",
        lower_cased_id,
        HAZARDS,
    ),
    Bug(
        "context-group-first",
        "a track's account taken from context.groupId before properties.groupId",
        r"accountId",
        "account_id",
        context_group_first,
        HAZARDS,
    ),
    Bug(
        "offset-ignored",
        "a timestamp's UTC offset ignored: 11:00:00+02:00 sent as 11:00 UTC",
        r"timestamp",
        "pendo_timestamp",
        offset_ignored,
        HAZARDS,
    ),
    Bug(
        "fraction-as-millis",
        'the fraction of a second read as milliseconds: ".123456" adds 123456 ms',
        r"timestamp",
        "pendo_timestamp",
        fraction_as_millis,
        HAZARDS,
    ),
    Bug(
        "ids-ascii-folded",
        'userId and groupId folded to ASCII ("josé" becomes "jose"; other scripts vanish)',
        r'(visitor|account)[^\n]*"[^"\n]*[^\x00-\x7f][^"\n]*"',
        "pendo_id",
        ascii_folded_id,
        HAZARDS,
    ),
    Bug(
        "iso-timestamps",
        "Segment's ISO-8601 timestamp passed through as a string; Pendo takes integer milliseconds",
        r"timestamp",
        "pendo_timestamp",
        iso_passthrough,
        NONE,
    ),
    Bug(
        "null-traits-dropped",
        "traits whose value is null left out, so Pendo keeps the old value instead of clearing it",
        r"metadata[^\n]*expected null, got \(absent\)",
        "traits",
        nulls_dropped,
        HAZARDS,
    ),
    Bug(
        "numbers-as-strings",
        'numbers and booleans in traits sent as strings (42 becomes "42", true becomes "True")',
        r'metadata[^\n]*expected (-?\d|true|false)[^\n]*, got "',
        "traits",
        numbers_as_strings,
        NONE,
    ),
    Bug(
        "no-idempotency",
        "no memory of messageIds: an event Segment delivers again reaches Pendo twice",
        r"duplicated (track|visitor|account)",
        "already_forwarded",
        never_seen,
        REDELIVERY,
    ),
    Bug(
        "metadata-without-create",
        "metadata written without ?create=true, and the `missing` list of Pendo's answer ignored: new visitors' and "
        "accounts' metadata never lands",
        r"create=true|does not exist",
        "metadata_path",
        without_create,
        NONE,
    ),
    Bug(
        "agent-group",
        "visitor and account metadata written to the agent group, which Pendo keeps for the snippet",
        r"group agent|/agent/",
        "metadata_path",
        agent_group,
        NONE,
    ),
    Bug(
        "group-id-popped",
        "properties.groupId removed from a track's properties once it became the accountId",
        r"properties\.groupId",
        "properties",
        group_id_popped,
        HAZARDS,
    ),
)

BANK: dict[str, Bug] = {bug.name: bug for bug in _BUGS}


if __name__ == "__main__":
    for bug in _BUGS:
        print(f"{bug.name:28} PendoRelay.{bug.replaces}")
