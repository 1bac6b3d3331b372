"""Reference profiles: what Pendo should receive for Segment events, per way of sending them.

>>> from pytest_segpendo.profiles import expect
>>> result = expect([{"type": "track", "userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"},
...                   "timestamp": "2026-01-05T09:00:00.000Z"}], profile="track-api")
>>> result.stream[0]["event"], result.stream[0]["timestamp"]
('Signed Up', 1767603600000)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import defaults
from .base import CompareHints, Expectation, Ignored, Profile, ProfileError, Setting, UserMapping
from .classic import ClassicProfile
from .track_api import TrackApiMetadataProfile, TrackApiProfile
from .web_actions import WebActionsProfile

__all__ = [
    "PROFILES",
    "ClassicProfile",
    "CompareHints",
    "Expectation",
    "Ignored",
    "Profile",
    "ProfileError",
    "Setting",
    "TrackApiMetadataProfile",
    "TrackApiProfile",
    "UserMapping",
    "WebActionsProfile",
    "expect",
    "get_profile",
]

PROFILES: dict[str, type[Profile]] = {
    "web-actions": WebActionsProfile,
    "classic": ClassicProfile,
    "track-api": TrackApiProfile,
    "track-api+metadata": TrackApiMetadataProfile,
}


def get_profile(
    name: str,
    settings: Mapping[str, Any] | None = None,
    mapping: UserMapping | str | None = None,
) -> Profile:
    """A configured profile; ``mapping`` is a :class:`UserMapping` or the path of a mapping file."""
    cls = PROFILES.get(name)
    if cls is None:
        raise ProfileError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})")
    if isinstance(mapping, str):
        mapping = UserMapping.load(mapping)
    return cls(settings, mapping)


def expect(
    events: Iterable[dict[str, Any]],
    profile: str = defaults.PROFILE,
    settings: Mapping[str, Any] | None = None,
    mapping: UserMapping | str | None = None,
) -> Expectation:
    """The Pendo records ``events`` should produce under ``profile`` (see ``docs/profiles.md``; the default profile
    is :data:`pytest_segpendo.defaults.PROFILE`, as everywhere)."""
    return get_profile(profile, settings, mapping).expect(events)
