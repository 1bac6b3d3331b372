"""Seeded, reproducible Segment traffic: realistic sessions and the edge cases that break integrations.

>>> from pytest_segpendo.traffic import generate
>>> events = generate(count=50, seed=7, scenario="saas")
>>> len(events), events[0]["type"]
(50, 'page')

The same seed and options give the same events, byte for byte, on any machine (see ``docs/traffic.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from ..jsonl import dumps
from .pools import BUNDLED_LOCALES
from .scenarios import EDGE_CASES, anonymous_session, edge_session, mobile_session, saas_session
from .world import DEFAULT_START_MS, World

__all__ = [
    "BUNDLED_LOCALES",
    "DEFAULT_START_MS",
    "EDGE_CASES",
    "SCENARIOS",
    "Session",
    "generate",
    "generate_jsonl",
    "iter_events",
    "iter_sessions",
    "parse_mix",
    "parse_start",
]

ScenarioFn = Callable[[World, int], "tuple[list[dict[str, Any]], str | None]"]

SCENARIOS: dict[str, ScenarioFn] = {
    "saas": saas_session,
    "anonymous": anonymous_session,
    "mobile": mobile_session,
    "edge": edge_session,
}

Start = Union[int, str, datetime, None]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Session:
    """One visit from one device: ``events`` in time order, from ``scenario`` (and the edge ``case``)."""

    index: int
    scenario: str
    case: str | None
    events: list[dict[str, Any]]


def parse_mix(text: str) -> dict[str, int]:
    """``"saas=3,mobile=1"`` -> ``{"saas": 3, "mobile": 1}``; ValueError says what is wrong."""
    weights: dict[str, int] = {}
    for part in text.split(","):
        name, sep, weight = part.strip().partition("=")
        name = name.strip()
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r} in mix (choose from {', '.join(SCENARIOS)})")
        try:
            value = int(weight) if sep else 1
        except ValueError:
            raise ValueError(f"weight of {name!r} must be a whole number (got {weight!r})") from None
        if value < 0:
            raise ValueError(f"weight of {name!r} must not be negative")
        weights[name] = value
    if not any(weights.values()):
        raise ValueError("a mix needs at least one scenario with a positive weight")
    return weights


def parse_start(value: Start) -> int:
    """The stream's start in ms since the epoch, from ms, ``"now"``, an ISO-8601 string or a datetime."""
    if value is None:
        return DEFAULT_START_MS
    if isinstance(value, bool):
        raise ValueError("start must be milliseconds, 'now' or an ISO-8601 date-time")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (moment - _EPOCH) // _MS  # exact: sub-millisecond digits are dropped, as timestamp_ms drops them
    if value == "now":
        return int(time.time() * 1000)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return parse_start(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"start must be 'now' or an ISO-8601 date-time such as 2026-01-05T09:00:00Z (got {value!r})"
        ) from None


def iter_sessions(
    seed: int = 0,
    scenario: str = "saas",
    *,
    mix: Mapping[str, int] | None = None,
    locale: str = "en_US",
    start: Start = None,
) -> Iterator[Session]:
    """An endless stream of sessions; with ``mix``, each session's scenario is drawn by weight."""
    weights = dict(mix) if mix else {scenario: 1}
    for name in weights:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})")
    world = World(seed, locale, parse_start(start))
    names = [n for n, w in weights.items() if w > 0]
    cumulative = []
    total = 0
    for name in names:
        total += weights[name]
        cumulative.append(total)
    seen = dict.fromkeys(names, 0)
    index = 0
    while True:
        if len(names) == 1:
            name = names[0]
        else:
            roll = world.randrange(total)
            name = names[next(i for i, c in enumerate(cumulative) if roll < c)]
        events, case = SCENARIOS[name](world, seen[name])
        seen[name] += 1
        yield Session(index, name, case, events)
        index += 1


def iter_events(
    count: int,
    seed: int = 0,
    scenario: str = "saas",
    *,
    mix: Mapping[str, int] | None = None,
    locale: str = "en_US",
    start: Start = None,
) -> Iterator[dict[str, Any]]:
    """The first ``count`` events of the stream (the last session may be cut short)."""
    if count < 0:
        raise ValueError("count must not be negative")
    left = count
    if not left:
        return
    for session in iter_sessions(seed, scenario, mix=mix, locale=locale, start=start):
        for event in session.events:
            yield event
            left -= 1
            if not left:
                return


def generate(
    count: int,
    seed: int = 0,
    scenario: str = "saas",
    *,
    mix: Mapping[str, int] | None = None,
    locale: str = "en_US",
    start: Start = None,
) -> list[dict[str, Any]]:
    """``count`` Segment events of ``scenario`` (or of a weighted ``mix``), reproducible from ``seed``."""
    return list(iter_events(count, seed, scenario, mix=mix, locale=locale, start=start))


def generate_jsonl(
    count: int,
    seed: int = 0,
    scenario: str = "saas",
    *,
    mix: Mapping[str, int] | None = None,
    locale: str = "en_US",
    start: Start = None,
) -> Iterator[str]:
    """The same events as JSON lines (compact, UTF-8 text, each ending in a newline)."""
    for event in iter_events(count, seed, scenario, mix=mix, locale=locale, start=start):
        yield dumps(event) + "\n"
