"""What the mapping engine and its validator share: the directives, the limits, the errors."""

from __future__ import annotations

from typing import Any

__all__ = [
    "DIRECTIVES",
    "LIQUID_REFUSAL",
    "MAX_PATTERN_LENGTH",
    "MAX_REPLACEMENT_LENGTH",
    "ROOT_KEY",
    "MappingError",
    "MappingRuntimeError",
    "MappingValidationError",
    "UnsupportedDirective",
    "is_directive",
]

ROOT_KEY = "__segment_internal_directive"
MAX_PATTERN_LENGTH = 10
MAX_REPLACEMENT_LENGTH = 10
DIRECTIVES = (
    "@if",
    "@case",
    "@replace",
    "@arrayPath",
    "@path",
    "@template",
    "@literal",
    "@flatten",
    "@json",
    "@merge",
    "@transform",
    "@excludeWhenNull",
    "@liquid",
)


class MappingError(ValueError):
    """A mapping that Segment's engine refuses; ``messages`` holds each problem (path and rule)."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


class MappingValidationError(MappingError):
    """Found before any event is mapped, e.g.
    ``/visitorId/@path should be a string or a mapping directive but it is a number.``"""


class MappingRuntimeError(MappingError):
    """Raised while mapping an event, as the engine raises it, e.g. ``@path: expected string, got number``."""


class UnsupportedDirective(MappingValidationError):
    """A directive this port does not run (``@liquid``)."""


def is_directive(obj: Any) -> bool:
    if type(obj) is not dict:
        return False
    has_at = False
    for key in obj:
        if key.startswith("@"):
            has_at = True
        elif key != "_metadata":
            return False
    return has_at


LIQUID_REFUSAL = (
    "@liquid is not supported by pytest-segpendo's mapping engine: "
    "use @template, @path, @case or @replace, or compare this field outside the toolkit"
)
