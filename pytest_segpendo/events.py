"""The Segment Spec as data: validation of Segment events and the normalisation Segment libraries apply.

Every rule is checked by :func:`validate_event`, which returns every problem it finds as an
:class:`EventError` (``path: rule``, e.g. ``track.event: required``) instead of stopping at the first one.
See ``docs/events.md`` for the rules and their sources.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from .jsonl import JsonlLine

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "MAX_MESSAGE_ID_LENGTH",
    "EventError",
    "InvalidEvent",
    "LineReport",
    "ValidationReport",
    "check_event",
    "require_valid_event",
    "event_size",
    "is_iso8601",
    "lane_key",
    "normalise",
    "size_bound_of_line",
    "timestamp_ms",
    "validate_event",
    "validate_lines",
]

EVENT_TYPES = ("alias", "group", "identify", "page", "screen", "track")
_TYPE_SET = frozenset(EVENT_TYPES)
MAX_EVENT_BYTES = 32 * 1024
MAX_MESSAGE_ID_LENGTH = 100
TIMESTAMP_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")

# Fields of `context` whose type Segment's Spec fixes (segment-docs src/connections/spec/common.md, "Context").
_CONTEXT_OBJECTS = (
    "app",
    "campaign",
    "device",
    "library",
    "location",
    "network",
    "os",
    "page",
    "referrer",
    "screen",
    "traits",
    "userAgentData",
)
_CONTEXT_STRINGS = ("ip", "locale", "timezone", "userAgent", "channel")
# The type each known context field must have (int stands for "an id": a string or a number).
_CONTEXT_TYPES: dict[str, type] = {
    **dict.fromkeys(_CONTEXT_OBJECTS, dict),
    **dict.fromkeys(_CONTEXT_STRINGS, str),
    "groupId": int,
    "active": bool,
}

_COMMON = re.compile(r"(\d{4}-\d\d-\d\d)T([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)\.(\d{3})Z")
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?\Z"
)


@dataclass(frozen=True)
class EventError:
    """One broken rule: where (``path``) and what (``rule``)."""

    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}"


class InvalidEvent(ValueError):
    """Raised by :func:`require_valid_event`; ``errors`` holds every broken rule."""

    def __init__(self, errors: list[EventError]):
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


_VALID_DATES: set[str] = set()


def is_iso8601(value: object) -> bool:
    """True for an ISO-8601 date or date-time string (``2024-01-02``, ``2024-01-02T03:04:05.678Z``, offsets)."""
    if not isinstance(value, str):
        return False
    if len(value) == 24 and value[:10] in _VALID_DATES and _COMMON.fullmatch(value):
        return True  # the form Segment's libraries write, on a date already checked
    m = _ISO_RE.match(value)
    if not m:
        return False
    year, month, day, hour, minute, second, _frac, offset = m.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    if len(_VALID_DATES) < 100_000:
        _VALID_DATES.add(value[:10])
    if hour is not None and (int(hour) > 23 or int(minute) > 59 or (second is not None and int(second) > 60)):
        return False
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        if int(digits[:2]) > 23 or (len(digits) > 2 and int(digits[2:]) > 59):
            return False
    return True


_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _days_from_civil(year: int, month: int, day: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month] + (1 if leap and month > 2 else 0) + day
    return days - 719163  # days from 0001-01-01 to 1970-01-01, plus one


def lane_key(event: Any) -> str:
    """The delivery lane of a Segment event: ``"userId:<id>"``, else ``"anonymousId:<id>"``, else ``""``.

    Segment keeps one user's events in order and does not order events of different users; the delivery
    (``pytest_segpendo.delivery``) spreads events over parallel connections by this key, and the diff uses it to
    know which final states of a record written by several users some delivery order produces.
    """
    if isinstance(event, dict):
        for name in ("userId", "anonymousId"):
            value = event.get(name)
            if value not in (None, ""):
                return f"{name}:{value}"
    return ""


_DAY_CACHE: dict[str, int] = {}
_MINUTE_CACHE: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:" of a valid timestamp in the usual form -> its milliseconds


def timestamp_ms(value: object) -> int | None:
    """Milliseconds since the epoch for an ISO-8601 string (no offset means UTC); None when it is not one."""
    if not isinstance(value, str):
        return None
    if len(value) == 24:  # a minute already read in the usual form: only its seconds and milliseconds are new
        base = _MINUTE_CACHE.get(value[:17])
        if base is not None and value[19] == "." and value[23] == "Z":
            second, millis = value[17:19], value[20:23]
            if ((second[0] in "012345" and second[1].isdecimal()) or second == "60") and millis.isdecimal():
                return base + int(second) * 1000 + int(millis)
    fast = _COMMON.fullmatch(value)  # the form Segment's libraries write: 2026-01-05T09:00:00.123Z
    if fast:
        date_part, hour, minute, second, millis = fast.groups()
        day_ms = _DAY_CACHE.get(date_part)
        if day_ms is None and is_iso8601(date_part):
            day_ms = _DAY_CACHE[date_part] = (
                _days_from_civil(int(value[:4]), int(value[5:7]), int(value[8:10])) * 86_400_000
            )
        if day_ms is not None:
            base = day_ms + int(hour) * 3_600_000 + int(minute) * 60_000
            if len(_MINUTE_CACHE) < 100_000:
                _MINUTE_CACHE[value[:17]] = base
            return base + int(second) * 1000 + int(millis)
        return None
    m = _ISO_RE.match(value)
    if not m or not is_iso8601(value):
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    ms = _days_from_civil(int(year), int(month), int(day)) * 86_400_000
    if hour is not None:
        ms += (int(hour) * 3600 + int(minute) * 60 + int(second or 0)) * 1000
        if frac:
            ms += int((frac + "00")[:3])
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0)
        ms -= minutes * 60_000 if offset[0] == "+" else -minutes * 60_000
    return ms


def size_bound_of_line(line: str) -> int:
    """An upper bound of the compact size of the JSON value written on ``line``.

    Rewriting JSON compactly only shrinks strings, spaces and escapes; a number can grow, at most 4.5 times
    (``1E15`` becomes ``1000000000000000.0``). So 4.5 times the line's UTF-8 size bounds the compact size.
    """
    raw = len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))
    return raw * 9 // 2 + 1


def event_size(event: Any) -> int:
    """Bytes of the event as compact UTF-8 JSON: the measure of the 32 KB limit."""
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_id(value: object) -> bool:
    # Segment's libraries accept numbers for ids and send them as strings (analytics-python ID_TYPES).
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _present(value: object) -> bool:
    # analytics-python checks `user_id or anonymous_id`: an empty string counts as absent.
    return value is not None and value != ""


def validate_event(event: Any, size_bound: int | None = None) -> list[EventError]:
    """Every rule of the Segment Spec that ``event`` breaks, in a stable order (empty when valid).

    ``size_bound``: an upper bound of the event's compact size known to the caller (see
    :func:`size_bound_of_line`); when it is under the limit the exact size is not computed.
    """
    if not isinstance(event, dict):
        return [EventError("event", f"must be a JSON object (got {_type_name(event)})")]
    errors: list[EventError] = []
    add = errors.append
    get = event.get
    kind = get("type")
    known = kind in _TYPE_SET if type(kind) is str else False
    if kind is None:
        add(EventError("type", "required"))
        prefix = "event"
    elif not known:
        add(EventError("type", f"must be one of {', '.join(EVENT_TYPES)} (got {kind!r})"))
        prefix = "event"
    else:
        prefix = kind

    # Identity.
    user, anonymous = get("userId"), get("anonymousId")
    if user is not None and type(user) is not str and not _is_id(user):
        add(EventError(f"{prefix}.userId", f"must be a string or a number (got {_type_name(user)})"))
    if anonymous is not None and type(anonymous) is not str and not _is_id(anonymous):
        add(EventError(f"{prefix}.anonymousId", f"must be a string or a number (got {_type_name(anonymous)})"))
    if known and (user is None or user == "") and (anonymous is None or anonymous == ""):
        add(EventError(prefix, "userId or anonymousId required"))

    # Fields of each call.
    if kind == "track":
        name = event.get("event")
        if name is None:
            add(EventError("track.event", "required"))
        elif not isinstance(name, str):
            add(EventError("track.event", f"must be a string (got {_type_name(name)})"))
    elif kind == "group":
        gid = event.get("groupId")
        if not _present(gid):
            add(EventError("group.groupId", "required"))
        elif not _is_id(gid):
            add(EventError("group.groupId", f"must be a string or a number (got {_type_name(gid)})"))
    elif kind == "alias":
        prev = event.get("previousId")
        if not _present(prev):
            add(EventError("alias.previousId", "required"))
        elif not _is_id(prev):
            add(EventError("alias.previousId", f"must be a string or a number (got {_type_name(prev)})"))
    elif kind in ("page", "screen"):
        for name in ("name", "category"):
            value = event.get(name)
            if value is not None and not isinstance(value, str):
                add(EventError(f"{kind}.{name}", f"must be a string (got {_type_name(value)})"))

    for name in ("traits", "properties"):
        value = get(name)
        if value is not None and type(value) is not dict:
            add(EventError(f"{prefix}.{name}", f"must be an object (got {_type_name(value)})"))

    # Common fields.
    mid = get("messageId")
    if mid is not None:
        if type(mid) is not str:
            add(EventError(f"{prefix}.messageId", f"must be a string (got {_type_name(mid)})"))
        elif len(mid) > MAX_MESSAGE_ID_LENGTH:
            add(EventError(f"{prefix}.messageId", f"at most {MAX_MESSAGE_ID_LENGTH} characters (got {len(mid)})"))
    for name in TIMESTAMP_FIELDS:
        value = get(name)
        if value is None or (
            type(value) is str and len(value) == 24 and value[:10] in _VALID_DATES and _COMMON.fullmatch(value)
        ):
            continue
        if not is_iso8601(value):
            add(EventError(f"{prefix}.{name}", f"must be an ISO-8601 date-time string (got {value!r:.60})"))
    version = get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, float, str))):
        add(EventError(f"{prefix}.version", f"must be a number or a string (got {_type_name(version)})"))

    context = get("context")
    if context is not None:
        if type(context) is not dict:
            add(EventError(f"{prefix}.context", f"must be an object (got {_type_name(context)})"))
        else:
            for name, value in context.items():
                expected = _CONTEXT_TYPES.get(name)
                if expected is None or value is None or type(value) is expected:
                    continue
                if expected is dict and not isinstance(value, dict):
                    add(EventError(f"{prefix}.context.{name}", f"must be an object (got {_type_name(value)})"))
                elif expected is str and not isinstance(value, str):
                    add(EventError(f"{prefix}.context.{name}", f"must be a string (got {_type_name(value)})"))
                elif expected is bool and not isinstance(value, bool):
                    add(EventError(f"{prefix}.context.{name}", f"must be a boolean (got {_type_name(value)})"))
                elif expected is int and not _is_id(value):
                    add(
                        EventError(
                            f"{prefix}.context.{name}", f"must be a string or a number (got {_type_name(value)})"
                        )
                    )

    integrations = get("integrations")
    if integrations is not None:
        if type(integrations) is not dict:
            add(EventError(f"{prefix}.integrations", f"must be an object (got {_type_name(integrations)})"))
        elif integrations:
            for name, value in integrations.items():
                if not isinstance(value, (bool, dict)):
                    add(
                        EventError(
                            f"{prefix}.integrations.{name}",
                            f"must be a boolean or an object (got {_type_name(value)})",
                        )
                    )

    size = 0 if size_bound is not None and size_bound <= MAX_EVENT_BYTES else event_size(event)
    if size > MAX_EVENT_BYTES:
        add(EventError(prefix, f"at most 32 KB ({MAX_EVENT_BYTES} bytes) per event (got {size} bytes)"))
    return errors


def require_valid_event(event: Any) -> Any:
    """Return ``event`` unchanged when valid; raise :class:`InvalidEvent` listing every broken rule."""
    errors = validate_event(event)
    if errors:
        raise InvalidEvent(errors)
    return event


def check_event(event: Any) -> Any:
    """Deprecated name of :func:`require_valid_event`."""
    import warnings

    warnings.warn("check_event() is deprecated: use require_valid_event()", DeprecationWarning, stacklevel=2)
    return require_valid_event(event)


@dataclass
class LineReport:
    """The problems found on one line of a JSONL file."""

    line: int
    errors: list[str]


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_lines`: counts and the bad lines in file order."""

    lines: int = 0
    valid: int = 0
    invalid: list[LineReport] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.invalid

    def format(self, source: str = "<events>", limit: int | None = None) -> str:
        """Compiler-style lines ``source:LINE: path: rule`` then a one-line summary."""
        out: list[str] = []
        shown = self.invalid if limit is None else self.invalid[:limit]
        for bad in shown:
            out.extend(f"{source}:{bad.line}: {message}" for message in bad.errors)
        if limit is not None and len(self.invalid) > limit:
            out.append(f"... and {len(self.invalid) - limit} more invalid lines")
        if self.ok:
            out.append(f"{self.valid} events valid")
        else:
            errors = sum(len(b.errors) for b in self.invalid)
            out.append(
                f"{len(self.invalid)} of {self.lines} lines invalid ({errors} errors); {self.valid} events valid"
            )
        return "\n".join(out)


def validate_lines(lines: Iterable[JsonlLine]) -> ValidationReport:
    """Validate parsed JSONL lines (see :func:`pytest_segpendo.jsonl.iter_jsonl`), keeping every bad line."""
    report = ValidationReport()
    for item in lines:
        report.lines += 1
        if item.error is not None:
            report.invalid.append(LineReport(item.line, [item.error]))
            continue
        errors = validate_event(item.value, item.size * 9 // 2 + 1 if item.size else None)
        if errors:
            report.invalid.append(LineReport(item.line, [str(e) for e in errors]))
        else:
            report.valid += 1
            kind = item.value["type"]
            report.by_type[kind] = report.by_type.get(kind, 0) + 1
    return report


def _iso_now(now: datetime | None) -> str:
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stringify_ids(event: dict[str, Any]) -> None:
    for name in ("userId", "anonymousId", "groupId", "previousId"):
        value = event.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            event[name] = str(value)


def normalise(
    event: Mapping[str, Any],
    *,
    now: datetime | None = None,
    library: Mapping[str, str] | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A copy of ``event`` completed as a Segment library completes it before sending.

    Fills ``messageId`` (a UUID4), ``timestamp`` (now, ISO-8601 with milliseconds), ``sentAt`` (now),
    ``context.library`` (default ``analytics-python``), empty ``context``/``integrations``, and sends
    numeric ids as strings. Fields already present are kept. The input is never modified.
    """
    out: dict[str, Any] = json.loads(json.dumps(event))  # deep copy of plain JSON data
    stamp = _iso_now(now)
    out.setdefault("messageId", message_id or str(uuid.uuid4()))
    out.setdefault("timestamp", stamp)
    out.setdefault("sentAt", stamp)
    context = out.get("context")
    if not isinstance(context, dict):
        context = out["context"] = {}
    context.setdefault("library", dict(library or {"name": "analytics-python", "version": "2.4.0"}))
    if not isinstance(out.get("integrations"), dict):
        out["integrations"] = {}
    _stringify_ids(out)
    return out
