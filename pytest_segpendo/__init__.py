"""pytest-segpendo: check, in CI, that what your systems send from Twilio Segment to Pendo is right.

The public API is re-exported here; see ``docs/`` for the guide and reference.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._compat import install as _install_old_paths
from .events import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    EventError,
    InvalidEvent,
    ValidationReport,
    check_event,
    normalise,
    require_valid_event,
    validate_event,
    validate_lines,
)
from .jsonl import JsonlError, dumps, iter_jsonl, load_jsonl, write_jsonl
from .traffic import SCENARIOS, Session, generate, generate_jsonl, iter_events, iter_sessions

_install_old_paths()  # old import paths (pytest_segpendo.pendo, .segment, .check, ...) warn and keep working

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "SCENARIOS",
    "EventError",
    "InvalidEvent",
    "JsonlError",
    "Session",
    "ValidationReport",
    "__version__",
    "check_event",
    "require_valid_event",
    "dumps",
    "generate",
    "generate_jsonl",
    "iter_events",
    "iter_jsonl",
    "iter_sessions",
    "load_jsonl",
    "normalise",
    "validate_event",
    "validate_lines",
    "write_jsonl",
]
