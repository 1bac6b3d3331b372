"""pytest-segpendo: check, in CI, that what your systems send from Twilio Segment to Pendo is right.

The public API, importable from here (``from pytest_segpendo import FakePendo, expect, compare``); see ``docs/``
for the guide and reference. Names are imported on first use, so ``import pytest_segpendo`` costs next to
nothing (the pytest plugin imports this package at every pytest start-up).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from ._compat import install as _install_old_paths

__version__ = "0.2.0"

# name -> the module that defines it
_PUBLIC: dict[str, str] = {
    # Segment events (docs/events.md)
    "EVENT_TYPES": "events",
    "MAX_EVENT_BYTES": "events",
    "EventError": "events",
    "InvalidEvent": "events",
    "ValidationReport": "events",
    "normalise": "events",
    "require_valid_event": "events",
    "validate_event": "events",
    "validate_lines": "events",
    # JSON Lines
    "JsonlError": "jsonl",
    "dumps": "jsonl",
    "iter_jsonl": "jsonl",
    "load_jsonl": "jsonl",
    "write_jsonl": "jsonl",
    # generated traffic (docs/traffic.md)
    "SCENARIOS": "traffic",
    "Session": "traffic",
    "generate": "traffic",
    "generate_jsonl": "traffic",
    "iter_events": "traffic",
    "iter_sessions": "traffic",
    # the fakes (docs/pendo.md, docs/segment.md)
    "FakePendo": "fakes",
    "FakeSegment": "fakes",
    "FaultRule": "fakes",
    "HandlerError": "fakes",
    "PendoConfig": "fakes",
    "RemoteError": "fakes",
    "RemotePendo": "fakes",
    "SegmentConfig": "fakes",
    # delivery to a system under test (docs/segment.md)
    "VIAS": "delivery",
    "DeliveryError": "delivery",
    "DeliveryReport": "delivery",
    "deliver": "delivery",
    # the reference profiles (docs/profiles.md)
    "PROFILES": "profiles",
    "Expectation": "profiles",
    "ProfileError": "profiles",
    "UserMapping": "profiles",
    "expect": "profiles",
    "get_profile": "profiles",
    # the diff (docs/verify.md)
    "DiffOptions": "verify",
    "DiffReport": "verify",
    "Difference": "verify",
    "Matcher": "verify",
    "Observed": "verify",
    "compare": "verify",
    "diff": "verify",
    "observed_from": "verify",
    # a check, end to end
    "CheckResult": "conformance",
    "run_check": "conformance",
    "settle": "conformance",
    # the bundled reference relay
    "BUGS": "relay",
    "Relay": "relay",
    # the pytest plugin (docs/pytest.md)
    "Segpendo": "fixtures",
    "SegpendoKeys": "fixtures",
    "SegpendoConfig": "options",
}

# 0.1 names, kept for one release: old name -> (module, new name)
_DEPRECATED: dict[str, tuple[str, str]] = {
    "check_event": ("events", "require_valid_event"),
    "SegpendoSettings": ("options", "SegpendoConfig"),
}

__all__ = ["__version__", *sorted(_PUBLIC)]

if TYPE_CHECKING:  # what mypy and IDEs see; at run time __getattr__ imports each name on first use
    from .conformance import CheckResult as CheckResult
    from .conformance import run_check as run_check
    from .conformance import settle as settle
    from .delivery import VIAS as VIAS
    from .delivery import DeliveryError as DeliveryError
    from .delivery import DeliveryReport as DeliveryReport
    from .delivery import deliver as deliver
    from .events import EVENT_TYPES as EVENT_TYPES
    from .events import MAX_EVENT_BYTES as MAX_EVENT_BYTES
    from .events import EventError as EventError
    from .events import InvalidEvent as InvalidEvent
    from .events import ValidationReport as ValidationReport
    from .events import normalise as normalise
    from .events import require_valid_event as require_valid_event
    from .events import validate_event as validate_event
    from .events import validate_lines as validate_lines
    from .fakes import FakePendo as FakePendo
    from .fakes import FakeSegment as FakeSegment
    from .fakes import FaultRule as FaultRule
    from .fakes import HandlerError as HandlerError
    from .fakes import PendoConfig as PendoConfig
    from .fakes import RemoteError as RemoteError
    from .fakes import RemotePendo as RemotePendo
    from .fakes import SegmentConfig as SegmentConfig
    from .fixtures import Segpendo as Segpendo
    from .fixtures import SegpendoKeys as SegpendoKeys
    from .jsonl import JsonlError as JsonlError
    from .jsonl import dumps as dumps
    from .jsonl import iter_jsonl as iter_jsonl
    from .jsonl import load_jsonl as load_jsonl
    from .jsonl import write_jsonl as write_jsonl
    from .options import SegpendoConfig as SegpendoConfig
    from .profiles import PROFILES as PROFILES
    from .profiles import Expectation as Expectation
    from .profiles import ProfileError as ProfileError
    from .profiles import UserMapping as UserMapping
    from .profiles import expect as expect
    from .profiles import get_profile as get_profile
    from .relay import BUGS as BUGS
    from .relay import Relay as Relay
    from .traffic import SCENARIOS as SCENARIOS
    from .traffic import Session as Session
    from .traffic import generate as generate
    from .traffic import generate_jsonl as generate_jsonl
    from .traffic import iter_events as iter_events
    from .traffic import iter_sessions as iter_sessions
    from .verify import Difference as Difference
    from .verify import DiffOptions as DiffOptions
    from .verify import DiffReport as DiffReport
    from .verify import Matcher as Matcher
    from .verify import Observed as Observed
    from .verify import compare as compare
    from .verify import diff as diff
    from .verify import observed_from as observed_from


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # the next lookup is a plain one
        return value
    old = _DEPRECATED.get(name)
    if old is not None:
        warnings.warn(
            f"pytest_segpendo.{name} is deprecated and will be removed in the next release: use {old[1]}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f".{old[0]}", __name__), old[1])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


_install_old_paths()  # old import paths (pytest_segpendo.pendo, .segment, .check, ...) warn and keep working
