"""The hazards: the ids, shapes and timestamps that break real relays, and the schedule that plants them.

A default check is short (200 events for the plugin, 1,000 for the CLI), so a low rate alone would leave most
hazards out of it. Each world therefore keeps a seeded **schedule**: every hazard kind of every channel is
pending at first (in an order drawn from the seed) and is planted at the channel's first opportunities (a
new user, a new account, an identified track...); once a channel's pending kinds are all planted, each
opportunity carries a hazard of that channel at the channel's low ``rate``. ``docs/traffic.md`` lists each
hazard, its schedule and the relay bug it exposes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

IDENTITY_KINDS = ("padded", "inner-space", "case-twin", "number", "leading-zeros", "unicode", "long")
"""What can be odd about an id (a userId, a groupId, a custom anonymousId)."""
SHAPE_KINDS = ("nested-object", "object-array", "empty-string", "null", "empty-object")
"""What can be odd about a value in traits or properties."""
GROUP_SOURCE_KINDS = ("context", "properties", "both-same", "both-different")
"""Where a track names its account: ``context.groupId``, ``properties.groupId``, both (the same or not)."""
TIMESTAMP_KINDS = ("offset-plus", "offset-minus", "no-fraction", "micro")
TRAITS_KINDS = (*SHAPE_KINDS, "empty")
"""What can be odd about the traits of a user or an account: a value of an odd shape, or no traits at all (the app
calls ``identify(userId)`` or ``group(groupId)`` alone, every time: ``traits: {}``)."""
"""How a track's ``timestamp`` is spelled: a positive or negative UTC offset, no fraction, 6 fraction digits."""

TWIN_SECOND = "case-twin-second"  # internal: the second of a pair of case twins, planted right after the first


@dataclass(frozen=True)
class Channel:
    """Where hazards of some kinds are planted, and how often once the schedule has planted each kind once."""

    kinds: tuple[str, ...]
    rate: float
    where: str


CHANNELS: dict[str, Channel] = {
    "userId": Channel(IDENTITY_KINDS, 0.04, "the id of a new user (saas, mobile, edge)"),
    "groupId": Channel(IDENTITY_KINDS, 0.04, "the id of a new account (saas, mobile, edge; tenant pages)"),
    "anonymousId": Channel(IDENTITY_KINDS, 0.04, "a new browser's custom anonymousId (anonymous)"),
    "traits": Channel(TRAITS_KINDS, 0.08, "a new user's traits, sent with every identify"),
    "groupTraits": Channel(TRAITS_KINDS, 0.08, "a new account's traits, sent with every group call"),
    "properties": Channel(SHAPE_KINDS, 0.03, "the properties of a track"),
    "trackGroup": Channel(GROUP_SOURCE_KINDS, 0.04, "the account of a track"),
    "timestamp": Channel(TIMESTAMP_KINDS, 0.02, "the timestamp of a track"),
    # Tracks of anonymous visitors have a schedule of their own: in a mix, they must not take the hazards meant for
    # identified tracks (the only ones a relay forwards by default).
    "anonymousProperties": Channel(SHAPE_KINDS, 0.03, "the properties of an anonymous visitor's track"),
    "anonymousTrackGroup": Channel(GROUP_SOURCE_KINDS, 0.04, "the account of an anonymous visitor's track"),
    "anonymousTimestamp": Channel(TIMESTAMP_KINDS, 0.02, "the timestamp of an anonymous visitor's track"),
}


class Schedule:
    """The seeded plan of one world: the kinds still pending per channel, then the low rates."""

    def __init__(self, randrange: Callable[[int], int], random: Callable[[], float]):
        self._randrange = randrange
        self._random = random
        self.pending: dict[str, list[str]] = {}
        for name, channel in CHANNELS.items():
            kinds = list(channel.kinds)
            for i in range(len(kinds) - 1, 0, -1):  # Fisher-Yates with integer draws only
                j = randrange(i + 1)
                kinds[i], kinds[j] = kinds[j], kinds[i]
            self.pending[name] = kinds

    def planting(self, *channels: str) -> bool:
        """True while one of ``channels`` still has a kind to plant."""
        pending = self.pending
        return any(pending[c] for c in channels)

    def take(self, channel: str, limit: int = 1) -> list[str]:
        """The kinds to plant at this opportunity: up to ``limit`` pending ones, else one at the low rate."""
        pending = self.pending[channel]
        if pending:
            out = pending[:limit]
            del pending[:limit]
            return out
        spec = CHANNELS[channel]
        if self._random() < spec.rate:
            return [spec.kinds[self._randrange(len(spec.kinds))]]
        return []

    def take_one(self, channel: str) -> str | None:
        pending = self.pending[channel]
        if pending:
            return pending.pop(0)
        spec = CHANNELS[channel]
        if self._random() < spec.rate:
            return spec.kinds[self._randrange(len(spec.kinds))]
        return None

    def put_back(self, channel: str, kind: str) -> None:
        """Plant ``kind`` at the channel's next opportunity (this one could not take it)."""
        self.pending[channel].insert(0, kind)


# -- what the hazards look like -------------------------------------------------------------------------------

# Names of people and companies whose ids keep their accents or script (unicode ids).
UNICODE_USER_STEMS = ("josé", "zoë", "françois", "jürgen", "søren", "łukasz", "ana.lúcia", "李雷", "さくら", "ольга")
UNICODE_COMPANY_STEMS = ("société-générale", "müller-gmbh", "nestlé", "øresund-ab", "株式会社さくら", "ação-ltda")
TEAM_NAMES = ("Core", "Growth", "Platform", "Design", "Support", "Data")
PRODUCTS = ("analytics", "guides", "feedback", "sessions", "roadmaps")
TAG_LABELS = ("q1", "urgent", "customer", "internal", "beta")
PLUS_OFFSETS = (60, 120, 330, 540)  # +01:00, +02:00, +05:30, +09:00
MINUS_OFFSETS = (-330, -210, -300, -480)  # -05:30, -03:30, -05:00, -08:00
