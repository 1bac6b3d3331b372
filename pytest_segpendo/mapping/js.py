"""JavaScript semantics the mapping-kit relies on, for values decoded from JSON.

Segment's mapping-kit is JavaScript: its results depend on JS truthiness, ``String(value)``, number formatting,
``JSON.stringify``, object key order and UTF-16 strings. These helpers reproduce them for Python's JSON values
(dict, list, str, int, float, bool, None) plus :data:`UNDEFINED` and :class:`JsFunction`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "UNDEFINED",
    "JsFunction",
    "is_index_key",
    "js_dumps",
    "js_keys",
    "js_loose_equals_empty",
    "js_number",
    "js_string",
    "js_truthy",
    "json_parse",
    "real_type",
    "utf16_len",
    "utf16_units",
    "from_utf16_units",
]


class _Undefined:
    """JavaScript's ``undefined``: a key holding it is dropped from results; ``null`` (None) is kept."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class JsFunction:
    """A built-in JavaScript method reached by a path such as ``$.name.toUpperCase``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"function {self.name}() {{ [native code] }}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsFunction) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


def real_type(value: Any) -> str:
    """``Object.prototype.toString.call(v).slice(8, -1).toLowerCase()`` for our value model."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, JsFunction):
        return "function"
    return type(value).__name__.lower()


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: ``[]`` and ``{}`` are true; ``0``, ``''``, ``null``, ``undefined``, NaN are false."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


# -- object key order ---------------------------------------------------------------------------------------

_MAX_INDEX = 4294967294


def is_index_key(key: str) -> bool:
    """True for array-index keys (``"0"``..``"4294967294"``, canonical): JS lists them first, ascending."""
    if not key or not key.isascii() or not key.isdigit():
        return False
    if len(key) > 1 and key[0] == "0":
        return False
    return int(key) <= _MAX_INDEX


def js_keys(obj: dict[str, Any]) -> list[str]:
    """``Object.keys(obj)``: integer-like keys in ascending order, then the others in insertion order."""
    keys = list(obj)
    index = [k for k in keys if k[:1].isdigit() and is_index_key(k)]
    if not index:
        return keys
    index.sort(key=int)
    return index + [k for k in keys if not (k[:1].isdigit() and is_index_key(k))]


# -- strings and numbers ------------------------------------------------------------------------------------


def js_number(value: float | int) -> str:
    """``Number.prototype.toString()``: ``1.0`` -> ``1``, ``1e21`` -> ``1e+21``, ``1e-7`` -> ``1e-7``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2**53) <= value <= 2**53:
            return str(value)
        value = float(value)  # JSON numbers are doubles in JavaScript
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))
    if "e" in text:
        mantissa, exp = text.split("e")
        digits = mantissa.replace(".", "")
        n = int(exp) + 1
    else:
        whole, _, frac = text.partition(".")
        if whole == "0":
            stripped = frac.lstrip("0")
            n = -(len(frac) - len(stripped))
            digits = stripped
        else:
            digits = whole + frac
            n = len(whole)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript computes it for our value model."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return js_number(value)
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, list):
        return ",".join("" if (v is None or v is UNDEFINED) else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, JsFunction):
        return repr(value)
    return str(value)


def js_loose_equals_empty(value: Any) -> bool:
    """``value == ''`` with JavaScript's loose equality (for a value that is not null/undefined)."""
    if isinstance(value, str):
        return value == ""
    if isinstance(value, bool):
        return value is False
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, list):
        return js_string(value) == ""
    return False


def utf16_units(text: str) -> list[str]:
    """The string as JavaScript sees it: one item per UTF-16 code unit (astral characters become two)."""
    if text.isascii() or all(ord(c) < 0x10000 for c in text):
        return list(text)
    out = []
    for ch in text:
        cp = ord(ch)
        if cp >= 0x10000:
            cp -= 0x10000
            out.append(chr(0xD800 + (cp >> 10)))
            out.append(chr(0xDC00 + (cp & 0x3FF)))
        else:
            out.append(ch)
    return out


def utf16_len(text: str) -> int:
    """``text.length`` in JavaScript."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) >= 0x10000)


def from_utf16_units(units: list[str]) -> str:
    """Join UTF-16 code units back into a Python string, pairing surrogates; lone ones stay lone."""
    out = []
    i = 0
    n = len(units)
    while i < n:
        u = units[i]
        o = ord(u)
        if 0xD800 <= o <= 0xDBFF and i + 1 < n and 0xDC00 <= ord(units[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((o - 0xD800) << 10) + (ord(units[i + 1]) - 0xDC00)))
            i += 2
            continue
        out.append(u)
        i += 1
    return "".join(out)


# -- JSON ---------------------------------------------------------------------------------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def _quote(text: str) -> str:
    out = _encode_str(text)
    if _LONE_SURROGATE.search(out):
        out = _LONE_SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), out)
    return out


def js_dumps(value: Any) -> str | None:
    """``JSON.stringify(value)``; None when JavaScript would return ``undefined``.

    Keys in JavaScript order, numbers formatted as JavaScript does, lone surrogates escaped, ``undefined``
    and functions dropped from objects and written as ``null`` in arrays.
    """
    if value is UNDEFINED or isinstance(value, JsFunction):
        return None
    parts: list[str] = []
    _dump(value, parts)
    return "".join(parts)


def _dump(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, (int, float)):
        out.append(js_number(value) if value == value and value not in (math.inf, -math.inf) else "null")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in js_keys(value):
            item = value[key]
            if item is UNDEFINED or isinstance(item, JsFunction):
                continue
            if not first:
                out.append(",")
            first = False
            out.append(_quote(key))
            out.append(":")
            _dump(item, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            if item is UNDEFINED or isinstance(item, JsFunction):
                out.append("null")
            else:
                _dump(item, out)
        out.append("]")
    else:
        raise TypeError(f"not a JSON value: {value!r}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_js_decoder = json.JSONDecoder(parse_constant=_reject_constant)


def json_parse(text: str) -> Any:
    """``JSON.parse``: like :func:`json.loads` but refusing ``NaN``/``Infinity``, which JavaScript refuses."""
    return _js_decoder.decode(text)
