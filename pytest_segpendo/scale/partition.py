"""Which shard an event or a record belongs to.

- Events, for the expectation: what keeps a profile's state inside one shard. ``track-api``,
  ``track-api+metadata`` and ``classic`` keep none (each event is expected on its own), so any split works and the
  input is cut in consecutive batches. ``web-actions`` replays each browser (analytics.js's memory and the agent's),
  so a browser's whole history goes to one shard: the profile keys a browser by its ``anonymousId``, else by its
  user (:func:`browser_key`). analytics.js's memory crosses users inside one browser (an identify of another user
  replaces the traits; the group stays), which is why the key is the browser, not the user.
- Records, for the diff: the identity every per-identity matching step groups by: a track event's visitor, a
  visitor's, account's or parent account's id (:func:`record_key`), as a string as the diff compares ids.
- Users, for a check sharded over CI machines: the delivery lane (:func:`pytest_segpendo.events.lane_key`),
  hashed (:func:`user_slice`).

Hashes are CRC-32 of the key's UTF-8: the same on every machine and in every process (Python's own ``hash`` of a
string is not).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..mapping.js import js_number, js_string, js_truthy
from ..profiles.base import Profile, lane_key
from ..verify.engine import DiffOptions, _canonical, _parse_path

__all__ = [
    "browser_key",
    "line_key",
    "event_partitioner",
    "id_key",
    "identity_stripped",
    "in_slice",
    "record_key",
    "shard_of",
    "user_slice",
]


def shard_of(key: str, shards: int) -> int:
    """The shard (``0 <= n < shards``) of a key, the same everywhere."""
    if shards <= 1:
        return 0
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % shards


def id_key(value: Any) -> str:
    """An id as the diff compares it: a number as its string (``42`` and ``"42"`` are one key), anything else as
    its canonical JSON."""
    if type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return js_number(value)
    return _canonical(value).decode("utf-8", "surrogatepass")


def record_key(record: Any) -> str:
    """The identity of a Pendo record the diff's per-identity steps group by: a track event's visitor id, a
    visitor's, account's or parent account's id."""
    if not isinstance(record, dict):
        return ""
    return id_key(record.get("visitorId") if record.get("kind") == "track" else record.get("id"))


# The start of a record line as the toolkit writes it (orjson, the records' own key order): its kind, then (a
# track event) its event name, then the identity the diff groups it by, a JSON string.
_TRACK_HEAD = b'{"kind":"track","event":"'
_ENTITY_HEADS = (b'{"kind":"visitor","id":"', b'{"kind":"account","id":"', b'{"kind":"parentAccount","id":"')
_VISITOR_FIELD = b',"visitorId":"'


def line_key(line: bytes) -> str | None:
    r"""The identity a record line starts with, read without parsing it, or None for a line that does not start as
    the toolkit writes records. For a record line it is :func:`record_key` of the record, unless the line writes
    the kind or the identity twice (JSON keeps the last) or with escapes: whoever routes by it checks the parsed
    record's key (``diff_shard`` does).

    >>> line_key(b'{"kind":"track","event":"Clicked","visitorId":"u1","accountId":null}')
    'u1'
    >>> line_key(rb'{"kind":"visitor","id":"caf\u00e9","metadata":{}}')
    'café'
    >>> line_key(b'{"id":"u1","kind":"visitor"}') is None
    True
    """
    if line.startswith(_TRACK_HEAD):
        end = line.find(b'"', 25)
        if end < 0 or not line.startswith(_VISITOR_FIELD, end + 1):
            return None
        start = end + 15
    elif line.startswith(_ENTITY_HEADS):
        start = line.find(b'"id":"') + 6
    else:
        return None
    end = line.find(b'"', start)
    if end < 0 or end + 1 >= len(line) or line[end + 1] not in (44, 125):  # , or }
        return None
    token = line[start:end]
    try:
        if 92 in token:  # a backslash: an escape (the token may end early, at an escaped quote)
            from ..jsonl import loads

            value = loads(b'"' + token + b'"')
            return value if type(value) is str else None
        return token.decode("utf-8")
    except ValueError:  # not UTF-8, a bad escape
        return None


def browser_key(event: Any) -> str:
    """The browser of an event as the ``web-actions`` profile keys it (``WebActionsProfile._browser``): its
    ``anonymousId``, else (no browser id) one browser per user."""
    if not isinstance(event, dict):
        return ""
    anonymous = event.get("anonymousId")
    if type(anonymous) is str and anonymous:
        return anonymous
    if js_truthy(anonymous):
        return js_string(anonymous)
    return "\0user:" + js_string(event.get("userId"))


STATELESS = ("track-api", "track-api+metadata", "classic")


def event_partitioner(profile: Profile) -> tuple[str, Callable[[Any], str] | None]:
    """How a profile's events may be split: ``("any", None)`` (each event on its own: consecutive batches),
    ``("key", fn)`` (events with the same ``fn(event)`` in one shard, in order) or ``("one", None)`` (a profile
    this module does not know: everything in one shard).

    A profile of your own says it with a class attribute ``partition = "any"`` or a method
    ``partition_key(event) -> str``."""
    from ..profiles import PROFILES

    own = getattr(profile, "partition_key", None)
    if callable(own):
        return "key", own
    if getattr(profile, "partition", None) == "any":
        return "any", None
    if type(profile) is PROFILES.get(profile.name):
        if profile.name in STATELESS:
            return "any", None
        if profile.name == "web-actions":
            return "key", browser_key
    return "one", None


def _strips(pattern: tuple[str, ...], field: str) -> bool:
    import fnmatch

    return len(pattern) == 1 and (pattern[0] in ("*", "**") or fnmatch.fnmatchcase(field, pattern[0]))


def identity_stripped(options: DiffOptions) -> bool:
    """Whether an ignored path or agent field takes away the field records are sharded by (a track's
    ``visitorId``, an entity's ``id``): then the diff cannot be split by identity and runs as one shard."""
    for path in (*options.ignore_paths, *options.agent_fields):
        kind, segments = _parse_path(path)
        if kind in ("track", "*") and _strips(segments, "visitorId"):
            return True
        if kind != "track" and _strips(segments, "id"):
            return True
    return False


def in_slice(event: Any, index: int, count: int) -> bool:
    """Whether an event belongs to slice ``index`` of ``count`` (by its delivery lane: a user's events stay
    together and in order)."""
    if not 0 <= index < count:
        raise ValueError(f"slice index {index} is not in 0..{count - 1}")
    return shard_of(lane_key(event), count) == index


def user_slice(events: Iterable[dict[str, Any]], index: int, count: int) -> Iterator[dict[str, Any]]:
    """The events of one slice of the users: for ``count`` machines (CI workers), machine ``index`` replays these.

    Every user's events land in exactly one slice, in their order; events without a user or anonymous id all go
    to one slice. Slices are stable: the same events give the same slices on every machine.

    >>> events = [{"type": "track", "userId": f"u{n % 5}", "event": "E"} for n in range(20)]
    >>> slices = [list(user_slice(events, i, 3)) for i in range(3)]
    >>> sum(len(s) for s in slices)  # every event in one slice
    20
    >>> [len({e["userId"] for e in s} & {e["userId"] for e in slices[0]}) for s in slices[1:]]  # a user in one
    [0, 0]
    """
    if not 0 <= index < count:
        raise ValueError(f"slice index {index} is not in 0..{count - 1}")
    for event in events:
        if shard_of(lane_key(event), count) == index:
            yield event
