"""The reference relay's bug bank: mistakes relay authors make, each declared once, here.

A bug has a name, a one-line description, what a report names when a check catches it (a field of a Pendo
record, or a class of difference), and the one behaviour it changes: a change at one of the relay's four hook
points. The relay's own code is the correct relay; it passes through the hook points

=================================== ====================================================== ======================
hook point                          what passes through it                                 fields
=================================== ====================================================== ======================
``check(rule, problem)``            the relay's own checks: a problem is why it refuses a  ``signature``,
                                    webhook or skips a write (None: the check passed)      ``values``
``read(field, value, event)``       a value the relay reads from a Segment event           ``batch``, ``userId``,
                                                                                           ``context.groupId``,
                                                                                           ``timestamp``,
                                                                                           ``properties``,
                                                                                           ``traits``
``write(field, value, source)``     a value the relay writes for Pendo (``source``: the    ``id``, ``timestamp``,
                                    Segment value or event it comes from)                  ``event``, ``values``,
                                                                                           ``target``
``send(requests, event)``           the encoded Pendo requests of one event, about to be   ``requests``
                                    sent
=================================== ====================================================== ======================

and with no bug every hook point gives its value back unchanged. A bug changes one field of one hook point, so
it cannot reach into another bug's path; two bugs at the same point apply in the bank's order.

>>> BANK["seconds-timestamps"].point, BANK["seconds-timestamps"].field
('write', 'timestamp')
>>> Hooks([BANK["seconds-timestamps"]]).write("timestamp", 1767603600123, {})
1767603600
>>> Hooks().write("timestamp", 1767603600123, {})
1767603600123
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .wire import as_id

__all__ = ["BANK", "BROKEN", "BUGS", "POINTS", "Bug", "Hooks", "Request"]

Request = tuple[str, str, bytes]
"""One Pendo request: path (with its query), key (``x-pendo-integration-key``), JSON body."""

Change = Callable[[Any, Any], Any]

POINTS: dict[str, tuple[str, ...]] = {
    "check": ("signature", "values"),
    "read": ("batch", "userId", "context.groupId", "timestamp", "properties", "traits"),
    "write": ("id", "timestamp", "event", "values", "target"),
    "send": ("requests",),
}
"""The hook points of the relay and the fields each passes through."""


@dataclass(frozen=True)
class Bug:
    """One bug: ``change(value, context)`` replaces the value of ``field`` at hook point ``point``."""

    name: str
    description: str
    breaks: str  # what a report names when it catches the bug: a field, or a class of difference
    point: str
    field: str
    change: Change

    def __post_init__(self) -> None:
        if self.field not in POINTS.get(self.point, ()):
            raise ValueError(f"bug {self.name!r}: no hook point {self.point}({self.field!r})")


class Hooks:
    """The hook points with the changes of ``bugs`` (none: every hook point gives its value back unchanged)."""

    def __init__(self, bugs: Iterable[Bug] = ()):
        order = list(BANK.values())
        self._changes: dict[tuple[str, str], list[Change]] = {}
        for bug in sorted(bugs, key=order.index):
            self._changes.setdefault((bug.point, bug.field), []).append(bug.change)

    def _apply(self, point: str, field: str, value: Any, context: Any) -> Any:
        for change in self._changes.get((point, field), ()):
            value = change(value, context)
        return value

    def check(self, rule: str, problem: str | None) -> str | None:
        """The outcome of one of the relay's checks: ``problem`` (None when the check passed)."""
        return self._apply("check", rule, problem, None)  # type: ignore[no-any-return]

    def read(self, field: str, value: Any, event: Any) -> Any:
        """``value``, read from ``field`` of a Segment ``event`` (``batch``: the events of one webhook body)."""
        return self._apply("read", field, value, event)

    def write(self, field: str, value: Any, source: Any) -> Any:
        """``value``, written to a Pendo ``field``, from ``source`` (the Segment value or event it comes from)."""
        return self._apply("write", field, value, source)

    def send(self, requests: list[Request], event: Any) -> list[Request]:
        """The requests made for one Segment ``event``, in order."""
        return self._apply("send", "requests", requests, event)  # type: ignore[no-any-return]


# -- the changes ---------------------------------------------------------------------------------------------------


def _anonymous_first(raw: Any, event: dict[str, Any]) -> Any:
    anonymous = event.get("anonymousId")
    return anonymous if as_id(anonymous) is not None else raw


def _digits_as_number(ident: Any, raw: Any) -> Any:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    if isinstance(ident, str) and ident.isascii() and ident.isdigit():
        return int(ident)
    return ident


def _without_parent(traits: Any, event: dict[str, Any]) -> Any:
    if event.get("type") == "group" and isinstance(traits, dict):
        return {k: v for k, v in traits.items() if k != "parentAccount"}
    return traits


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _ascii_replaced(requests: list[Request], event: Any) -> list[Request]:
    # json.dumps(..., ensure_ascii=False).encode("ascii", "replace"): every non-ASCII character becomes "?"
    return [
        (path, key, json.dumps(json.loads(body), ensure_ascii=False).encode("ascii", "replace"))
        for path, key, body in requests
    ]


def _group_to_visitor(target: tuple[str, Any], event: dict[str, Any]) -> tuple[str, Any]:
    return ("visitor", event.get("userId")) if target[0] == "account" else target


_BUGS = (
    Bug(
        "non-string-traits-dropped",
        "trait values that are not strings (numbers, booleans, null, objects, lists) are left out of metadata",
        "metadata",
        "write",
        "values",
        lambda values, _: {k: v for k, v in values.items() if isinstance(v, str)},
    ),
    Bug(
        "anonymous-id-first",
        "visitorId = anonymousId even when userId exists, for tracks and identifies",
        "visitorId",
        "read",
        "userId",
        _anonymous_first,
    ),
    Bug(
        "seconds-timestamps",
        "track timestamps sent in seconds instead of milliseconds",
        "timestamp",
        "write",
        "timestamp",
        lambda millis, _: millis // 1000,
    ),
    Bug(
        "account-lost",
        "context.groupId ignored: a track's accountId only comes from properties.groupId",
        "accountId",
        "read",
        "context.groupId",
        lambda raw, _: None,
    ),
    Bug(
        "event-name-case",
        "track event names lower-cased",
        "event",
        "write",
        "event",
        lambda name, _: name.lower(),
    ),
    Bug(
        "numeric-ids-as-numbers",
        'a userId or groupId that is a number, or a string of digits, sent as a JSON number ("007" becomes 7)',
        "id",
        "write",
        "id",
        _digits_as_number,
    ),
    Bug(
        "double-send",
        "every Pendo request made twice, as a retry bug would",
        "duplicated",
        "send",
        "requests",
        lambda requests, _: [r for r in requests for _copy in (1, 2)],
    ),
    Bug(
        "unsigned-accepted",
        "the signature is not checked: forged and unsigned webhooks are forwarded",
        "unexpected",
        "check",
        "signature",
        lambda problem, _: None,
    ),
    Bug(
        "parent-account-dropped",
        "traits.parentAccount left out of account metadata",
        "metadata.parentAccount",
        "read",
        "traits",
        _without_parent,
    ),
    Bug(
        "nested-traits-flattened",
        'nested objects in traits flattened to "a.b" keys',
        "metadata",
        "read",
        "traits",
        lambda traits, _: _flatten(traits) if isinstance(traits, dict) else traits,
    ),
    Bug(
        "non-ascii-mangled",
        "non-ASCII characters in Pendo bodies replaced by \"?\" (an encode('ascii', 'replace') bug)",
        "event",
        "send",
        "requests",
        _ascii_replaced,
    ),
    Bug(
        "batch-truncated",
        "of a JSON array of events, only the first is forwarded",
        "missing",
        "read",
        "batch",
        lambda events, _: events[:1],
    ),
    Bug(
        "properties-dropped",
        "track properties sent as {}",
        "properties",
        "read",
        "properties",
        lambda properties, _: {},
    ),
    Bug(
        "group-traits-to-visitor",
        "group traits written to the visitor's metadata (visitorId = userId) instead of the account's",
        "missing",
        "write",
        "target",
        _group_to_visitor,
    ),
    Bug(
        "received-at-timestamps",
        "track timestamps taken from receivedAt (when Segment got the event) instead of timestamp",
        "timestamp",
        "read",
        "timestamp",
        lambda stamp, event: event.get("receivedAt"),
    ),
    Bug(
        "empty-traits-sent",
        "an identify or group without traits still writes metadata (empty values), creating the visitor or account",
        "unexpected",
        "check",
        "values",
        lambda problem, _: None,
    ),
)

BANK: dict[str, Bug] = {bug.name: bug for bug in _BUGS}
"""Every bug of the reference relay, by name."""

BUGS: dict[str, str] = {bug.name: bug.description for bug in _BUGS}
"""Name -> one-line description of every bug (``Relay(..., bugs=[name])`` turns one on)."""

BROKEN: tuple[str, ...] = ("account-lost", "non-string-traits-dropped")
"""The bugs of the demo's "broken variant"."""
