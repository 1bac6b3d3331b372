"""How the relay reads Segment's wire: paths into an event, ids, ISO-8601 times, the first item of a batch.

These are the reading rules of the reference mapping's engine (Segment's mapping-kit), written again here the way a
relay author would, so that the relay stays a system under test and not a copy of the profiles.

>>> as_id(7), as_id(1.5), as_id("u1"), as_id(""), as_id(True)
('7', '1.5', 'u1', None, None)
>>> iso_ms("2026-01-05T11:00:00.5+02:00")
1767603600500
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from typing import Any

__all__ = ["MISSING", "as_id", "first_item", "get", "iso_ms", "js_number"]

MISSING: Any = object()
"""A key absent from an object (JavaScript's ``undefined``)."""


def get(value: Any, *keys: str) -> Any:
    """``get(event, "a", "b")`` as Segment's mapping-kit reads paths: a falsy value stops the walk and is the
    result; a key missing from an object, or a key of a non-object, gives :data:`MISSING`."""
    for key in keys:
        if (
            value is None
            or value is False
            or value == ""
            or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)
        ):
            return value
        value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
        if value is MISSING:
            return MISSING
    return value


def js_number(value: int | float) -> str:
    """``String(n)`` in JavaScript: ``1`` -> ``"1"``, ``1.5`` -> ``"1.5"``, ``1e21`` -> ``"1e+21"``."""
    if isinstance(value, int):
        if abs(value) <= 2**53:
            return str(value)
        value = float(value)  # JSON numbers are doubles in JavaScript
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # The shortest digits that read back as the same double, as JavaScript (and repr) choose them.
    text = repr(abs(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        digits, point = mantissa.replace(".", ""), int(exponent) + 1
    else:
        whole, _, frac = text.partition(".")
        if whole == "0":
            stripped = frac.lstrip("0")
            digits, point = stripped, -(len(frac) - len(stripped))
        else:
            digits, point = whole + frac, len(whole)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        out = digits + "0" * (point - k)
    elif 0 < point <= 21:
        out = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        out = "0." + "0" * -point + digits
    else:
        e = point - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def as_id(value: Any) -> str | None:
    """An id as Pendo takes it (a string); None for what is not an id: null, "", objects, lists, booleans."""
    if value is MISSING or value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return js_number(value)
    return None


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def iso_ms(text: str) -> int | None:
    """Milliseconds since the epoch of an ISO-8601 date or date-time (no offset means UTC); None if it is not one."""
    m = _ISO.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:
        return None
    ms = days * 86_400_000
    if hour is not None:
        if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 60:
            return None
        ms += ((int(hour) * 60 + int(minute)) * 60 + int(second or 0)) * 1000
        if frac:
            ms += int((frac + "00")[:3])
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        ms -= (1 if offset[0] == "+" else -1) * (hours * 60 + minutes) * 60_000
    return ms


def first_item(raw: bytes) -> bytes | None:
    """The exact bytes of the first item of a JSON array body (what Segment signs in a batch), or None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    i = len(text) - len(text.lstrip(" \t\r\n"))
    if not text.startswith("[", i):
        return None
    i += 1
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, i)
    except ValueError:
        return None
    return text[i:end].encode("utf-8")
