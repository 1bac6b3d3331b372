"""Fault injection for the fakes: make a route answer 429/500/503, answer late, or drop the connection.

A rule picks the requests it affects among those of its route (``"*"`` for every route): the ``nth`` matching
request and the ``count - 1`` after it (``count: null`` for all from the nth on), or each matching request with
a ``probability`` drawn from a seeded PRNG (reproducible). It then waits ``delay_ms`` and either answers
``status`` (with ``Retry-After`` when ``retry_after`` is set), drops the connection (``drop``), or, with
neither, answers as usual, late. Rules are tried in order; the first that fires applies.

``phase`` says when the fault strikes:

- ``"before"`` (the default): before the fake looks at the request. A ``status`` or ``drop`` fault means the
  request was **not processed** (no record); a slow one is processed after the delay.
- ``"after"``: the fake processes the request first (its records are stored, as Pendo would store them), then
  waits ``delay_ms``, then answers (``status``, ``drop`` or the usual answer). This is "Pendo got it, but the
  client gave up waiting": a client that retries then sends the data twice.

Every fault that fires is listed in the fake's ``injected`` list (see ``docs/pendo.md``, "Faults").

From Python: ``fake.faults.add(route="track", status=500, count=2)``, or ``FakePendo(faults=[{...}])``. Over
HTTP: ``POST /__segpendo/faults`` with a JSON list of rules (it replaces the current ones; ``[]`` clears them),
``GET`` to read them back.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PHASES", "FaultError", "FaultRule", "Faults"]

_FIELDS = ("route", "status", "retry_after", "delay_ms", "drop", "phase", "nth", "count", "probability", "seed")
PHASES = ("before", "after")
MAX_DELAY_MS = 60_000


class FaultError(ValueError):
    """A fault rule that cannot be used; the message names the field."""


@dataclass
class FaultRule:
    route: str = "*"
    status: int | None = None
    retry_after: float | None = None
    delay_ms: int = 0
    drop: bool = False
    nth: int = 1
    count: int | None = 1
    probability: float | None = None
    seed: int = 0
    phase: str = "before"
    matched: int = 0  # requests of the route seen so far
    fired: int = 0  # requests this rule affected
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def kind(self) -> str:
        """``status``, ``drop`` or ``slow`` (neither: the usual answer, late)."""
        return "status" if self.status is not None else "drop" if self.drop else "slow"

    def as_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _FIELDS}
        out.update(matched=self.matched, fired=self.fired)
        return out

    def restart(self) -> None:
        """Count afresh (``matched``, ``fired``, the PRNG from its seed): the rule does again what it did."""
        self.matched = self.fired = 0
        self._rng = random.Random(self.seed)

    def _fires(self) -> bool:
        self.matched += 1
        if self.probability is not None:
            hit = self._rng.random() < self.probability
        else:
            hit = self.matched >= self.nth and (self.count is None or self.matched < self.nth + self.count)
        return hit


def _whole(value: Any, where: str, name: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise FaultError(f"{where}.{name}: must be a whole number >= {low} (got {value!r})")
    return value


def _rule(data: Any, index: int, routes: tuple[str, ...]) -> FaultRule:
    where = f"faults[{index}]"
    if isinstance(data, FaultRule):
        data = {name: getattr(data, name) for name in _FIELDS}
    if not isinstance(data, Mapping):
        raise FaultError(f"{where}: must be an object")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise FaultError(f"{where}.{unknown[0]}: unknown field (use {', '.join(_FIELDS)})")
    route = data.get("route", "*")
    if route != "*" and route not in routes:
        raise FaultError(f"{where}.route: unknown route {route!r} (use * or one of {', '.join(routes)})")
    status = data.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599):
        raise FaultError(f"{where}.status: must be an HTTP error status, 400-599 (got {status!r})")
    delay = _whole(data.get("delay_ms", 0), where, "delay_ms", 0)
    if delay > MAX_DELAY_MS:
        raise FaultError(f"{where}.delay_ms: at most {MAX_DELAY_MS} (got {delay})")
    nth = _whole(data.get("nth", 1), where, "nth", 1)
    count = data.get("count", 1)
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise FaultError(f"{where}.count: must be a whole number >= 1, or null for every request (got {count!r})")
    probability = data.get("probability")
    if probability is not None and (
        not isinstance(probability, (int, float)) or isinstance(probability, bool) or not 0 <= probability <= 1
    ):
        raise FaultError(f"{where}.probability: must be between 0 and 1 (got {probability!r})")
    retry = data.get("retry_after")
    if retry is not None and (
        not isinstance(retry, (int, float)) or isinstance(retry, bool) or not 0 <= retry <= 86_400
    ):
        raise FaultError(f"{where}.retry_after: must be seconds between 0 and 86400 (got {retry!r})")
    if retry is not None and status is None:
        raise FaultError(f"{where}.retry_after: goes with a status (429 or 503) to answer")
    drop = data.get("drop", False)
    if not isinstance(drop, bool):
        raise FaultError(f"{where}.drop: must be true or false")
    if drop and status is not None:
        raise FaultError(f"{where}: give status or drop, not both")
    phase = data.get("phase", "before")
    if phase not in PHASES:
        raise FaultError(f"{where}.phase: use before (the request is not processed) or after (got {phase!r})")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise FaultError(f"{where}.seed: must be a whole number")
    return FaultRule(route, status, retry, delay, drop, nth, count, probability, seed, phase)


def _without(rules: list[FaultRule], rule: FaultRule) -> list[FaultRule]:
    """``rules`` without the first one whose fields are ``rule``'s (the counters do not count)."""
    fields = tuple(getattr(rule, name) for name in _FIELDS)
    for i, candidate in enumerate(rules):
        if tuple(getattr(candidate, name) for name in _FIELDS) == fields:
            return rules[:i] + rules[i + 1 :]
    raise FaultError(f"faults: no rule {dict(zip(_FIELDS, fields))} to remove")


class Faults:
    """The fault rules of one fake (thread-safe)."""

    def __init__(self, routes: tuple[str, ...], rules: Iterable[Mapping[str, Any] | FaultRule] = ()):
        self.routes = routes
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        if rules:
            self.replace(list(rules))

    def add(self, **rule: Any) -> FaultRule:
        """Add one rule (fields as in the module doc); returns it, with its live counters."""
        with self._lock:
            parsed = _rule(rule, len(self._rules), self.routes)
            self._rules.append(parsed)
        return parsed

    def replace(self, rules: Any) -> list[FaultRule]:
        """Replace every rule with ``rules`` (a list of dicts or :class:`FaultRule`); FaultError names a bad
        field, and then nothing changes."""
        if not isinstance(rules, list):
            raise FaultError("faults: must be a JSON list of rules ([] clears them)")
        parsed = [_rule(r, i, self.routes) for i, r in enumerate(rules)]
        with self._lock:
            self._rules = parsed
        return parsed

    def remove(self, rule: FaultRule) -> None:
        """Take away one rule (what :meth:`add` returned, or a rule of the same fields): "Pendo is back" while
        the other rules, such as a check's default faults, stay. FaultError when no rule has those fields."""
        with self._lock:
            self._rules = _without(self._rules, rule)

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def restart(self) -> None:
        """Keep the rules, count afresh (what a reset that keeps the faults does)."""
        with self._lock:
            for rule in self._rules:
                rule.restart()

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_json() for r in self._rules]

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)

    def pick(self, route: str) -> FaultRule | None:
        """The rule that applies to this request of ``route``, if any (counts the request for every rule)."""
        with self._lock:
            chosen = None
            for rule in self._rules:
                if rule.route in ("*", route) and rule._fires() and chosen is None:
                    chosen = rule
            if chosen is not None:
                chosen.fired += 1
            return chosen
