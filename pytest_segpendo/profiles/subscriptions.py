"""Action subscriptions: the condition language Segment's UI writes (``type = "track" and event = "Signed Up"``).

Follows ``@segment/destination-subscriptions`` (``parse-fql.ts``, ``validate.ts``): fields ``type``, ``event``,
``name``, ``userId``, ``properties.x`` and ``traits.x`` (both read ``traits`` on identify and group, ``properties``
otherwise); operators ``=``, ``!=`` (compared as strings), ``<``, ``<=``, ``>``, ``>=`` (as numbers),
``contains(field, "x")``, ``match(field, "x*")`` / ``match(field, "*x")`` (starts or ends with), ``!`` before a
function, ``= null`` / ``!= null``; ``and``, ``or`` and parentheses. As in Segment, one group takes the LAST
``and``/``or`` it contains for all its conditions: write parentheses when mixing them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..mapping.js import UNDEFINED, js_string
from ..mapping.kit import get_path

__all__ = ["Subscription", "SubscriptionError", "parse_subscription"]


class SubscriptionError(ValueError):
    """A subscription that cannot be parsed; the message says where."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|=|<|>|!)
      | (?P<paren>[(),])
      | (?P<ident>[A-Za-z_$][\w$]*(?:\.[\w$]+)*)
    )""",
    re.X,
)

Condition = Callable[[dict[str, Any]], bool]


@dataclass
class _Tok:
    kind: str
    value: Any
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out = []
    pos = 0
    while pos < len(text):
        rest = text[pos:].lstrip()
        if rest == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            where = len(text) - len(rest) + 1
            raise SubscriptionError(f"subscription {text!r}: cannot read {rest[:20]!r} at character {where}")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "string":
            value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "number":
            value = float(raw) if "." in raw else int(raw)
        elif kind == "ident" and raw in ("and", "or"):
            kind, value = "conditional", raw
        elif kind == "ident" and raw in ("true", "false", "null"):
            kind, value = "literal", {"true": True, "false": False, "null": None}[raw]
        else:
            value = raw
        out.append(_Tok(kind, value, m.start(m.lastgroup or 0)))
        pos = m.end()
    return out


def _payload(event: dict[str, Any]) -> Any:
    return event.get("traits") if event.get("type") in ("identify", "group") else event.get("properties")


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "=":
        return js_string(actual) == js_string(expected)
    if op == "!=":
        return js_string(actual) != js_string(expected)
    a, b = _to_number(actual), _to_number(expected)
    if a != a or b != b:  # NaN compares false
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _to_number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(text)
        except ValueError:
            return float("nan")
    return float("nan")


_FIELDS = ("type", "event", "name", "userId")


def _getter(field: str, text: str) -> Callable[[dict[str, Any]], Any]:
    if field in _FIELDS:
        return lambda e: e.get(field, UNDEFINED)
    head, _, rest = field.partition(".")
    if head in ("properties", "traits") and rest:
        return lambda e: get_path(_payload(e), rest) if _payload(e) is not None else UNDEFINED
    raise SubscriptionError(
        f"subscription {text!r}: unknown field {field!r} (use type, event, name, userId, properties.NAME or "
        "traits.NAME)"
    )


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise SubscriptionError(f"subscription {self.text!r}: ends where {what} was expected")
        self.i += 1
        return tok

    def group(self, closing: bool) -> Condition:
        nodes: list[Condition] = []
        operator = "and"
        while True:
            tok = self.peek()
            if tok is None:
                if closing:
                    raise SubscriptionError(f"subscription {self.text!r}: a '(' is never closed")
                break
            if tok.kind == "paren" and tok.value == ")":
                if not closing:
                    raise SubscriptionError(f"subscription {self.text!r}: unexpected ')' at character {tok.pos + 1}")
                self.i += 1
                break
            if tok.kind == "conditional":
                operator = tok.value
                self.i += 1
                following = self.peek()
                if following is None or (following.kind == "paren" and following.value == ")"):
                    raise SubscriptionError(f"subscription {self.text!r}: nothing after {tok.value!r}")
                continue
            nodes.append(self.condition())
        if not nodes:
            raise SubscriptionError(f"subscription {self.text!r}: no condition")
        if len(nodes) == 1:
            return nodes[0]
        if operator == "and":
            return lambda e: all(n(e) for n in nodes)
        return lambda e: any(n(e) for n in nodes)

    def condition(self) -> Condition:
        tok = self.take("a condition")
        if tok.kind == "paren" and tok.value == "(":
            return self.group(closing=True)
        negate = False
        if tok.kind == "op" and tok.value == "!":
            negate = True
            tok = self.take("contains( or match(")
            if tok.kind != "ident" or tok.value not in ("contains", "match"):
                raise SubscriptionError(f"subscription {self.text!r}: '!' must precede contains( or match(")
        if tok.kind == "ident" and tok.value in ("contains", "match"):
            return self.function(tok.value, negate)
        if tok.kind != "ident":
            raise SubscriptionError(f"subscription {self.text!r}: expected a field at character {tok.pos + 1}")
        get = _getter(tok.value, self.text)
        op = self.take("an operator")
        if op.kind != "op" or op.value == "!":
            raise SubscriptionError(f"subscription {self.text!r}: expected =, !=, <, <=, > or >= after {tok.value!r}")
        value = self.take("a value")
        if value.kind not in ("string", "number", "literal"):
            raise SubscriptionError(f"subscription {self.text!r}: expected a value after {tok.value} {op.value}")
        expected, operator = value.value, op.value
        if expected is None and operator in ("=", "!="):
            exists = operator == "!="
            return lambda e: (get(e) not in (None, UNDEFINED)) == exists
        if tok.value in _FIELDS:
            expected = js_string(expected)
        return lambda e: _compare(get(e), operator, expected)

    def function(self, name: str, negate: bool) -> Condition:
        for expected in ("(",):
            t = self.take(expected)
            if t.kind != "paren" or t.value != expected:
                raise SubscriptionError(f"subscription {self.text!r}: expected '(' after {name}")
        field = self.take(f"the field of {name}()")
        if field.kind != "ident":
            raise SubscriptionError(f"subscription {self.text!r}: {name}() needs a field first")
        get = _getter(field.value, self.text)
        comma = self.take("','")
        if comma.value != ",":
            raise SubscriptionError(f"subscription {self.text!r}: {name}() needs two arguments")
        arg = self.take(f"the value of {name}()")
        close = self.take("')'")
        if close.value != ")":
            raise SubscriptionError(f"subscription {self.text!r}: {name}() is not closed")
        text = js_string(arg.value)
        if name == "contains":
            test: Callable[[str], bool] = lambda s: text in s
        elif text.endswith("*"):
            prefix = text[:-1]
            test = lambda s: s.startswith(prefix)
        else:
            suffix = text[1:]
            test = lambda s: s.endswith(suffix)

        def run(e: dict[str, Any]) -> bool:
            actual = get(e)
            return isinstance(actual, str) and (test(actual) != negate)

        return run


@dataclass(frozen=True)
class Subscription:
    """A parsed subscription; call it with an event to know whether the action runs."""

    text: str
    test: Condition
    only_type: str | None = None  # set when the whole condition is `type = "X"`: lets callers dispatch by type

    def __call__(self, event: dict[str, Any]) -> bool:
        return bool(self.test(event))


_ONLY_TYPE = re.compile(r"""\s*type\s*=\s*(?:"([a-z]+)"|'([a-z]+)')\s*""")


def parse_subscription(text: str) -> Subscription:
    """Parse ``text``; :class:`SubscriptionError` says what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise SubscriptionError("a subscription must be a non-empty string such as 'type = \"track\"'")
    parser = _Parser(text)
    test = parser.group(closing=False)
    m = _ONLY_TYPE.fullmatch(text)
    return Subscription(text, test, (m.group(1) or m.group(2)) if m else None)
