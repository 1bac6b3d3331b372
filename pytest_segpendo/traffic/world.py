"""The generator's world: a seeded PRNG, a clock, and the users, accounts and devices sessions draw from.

Determinism rules kept here: only integer draws and ``random()`` of :class:`random.Random` are used (their
algorithms are fixed across CPython versions), no transcendental float maths (``log``/``exp`` can differ in
the last bit between C libraries), no iteration over sets or hash-ordered containers.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from .hazards import (
    MINUS_OFFSETS,
    PLUS_OFFSETS,
    PRODUCTS,
    TAG_LABELS,
    TEAM_NAMES,
    TWIN_SECOND,
    UNICODE_COMPANY_STEMS,
    UNICODE_USER_STEMS,
    Schedule,
)
from .pools import Pools, load_pools

Id = Union[str, int]
T = TypeVar("T")

# People, companies and devices a stream keeps so that they can come back (returning visits): past it, each new
# one retires the oldest of its kind, so a stream of any length holds a bounded memory (about 2.5 KB each:
# 250 MB at most). A stream's pools reach it after about 2x10^6 saas events; before that nothing retires, and a
# shorter stream is the same, byte for byte, as without the bound.
POPULATION = 100_000

# 2026-01-05T09:00:00Z: a Monday morning; the default start of generated traffic.
DEFAULT_START_MS = 1_767_603_600_000

# (Accept-Language style tag, IANA time zone, currency) per locale; other locales fall back to en_US's.
LOCALE_FACTS: dict[str, tuple[str, str, str]] = {
    "en_US": ("en-US", "America/New_York", "USD"),
    "en_GB": ("en-GB", "Europe/London", "GBP"),
    "de_DE": ("de-DE", "Europe/Berlin", "EUR"),
    "fr_FR": ("fr-FR", "Europe/Paris", "EUR"),
    "es_ES": ("es-ES", "Europe/Madrid", "EUR"),
    "pt_BR": ("pt-BR", "America/Sao_Paulo", "BRL"),
    "ja_JP": ("ja-JP", "Asia/Tokyo", "JPY"),
    "zh_CN": ("zh-CN", "Asia/Shanghai", "CNY"),
}
EXTRA_TIMEZONES = ("America/Chicago", "America/Los_Angeles", "Europe/Dublin", "Asia/Singapore", "Australia/Sydney")

# Real browser user agents of the time (facts, not generated).
BROWSER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    "Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
)
ANALYTICS_JS_VERSIONS = ("next-1.74.0", "next-1.75.0", "next-1.76.1")


def iso_ms(ms: int) -> str:
    """``2026-01-05T09:00:00.000Z`` for milliseconds since the epoch (UTC)."""
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t[0], t[1], t[2], t[3], t[4], t[5], millis)


def iso_offset(ms: int, offset_minutes: int) -> str:
    """The same instant written with a UTC offset and whole seconds, e.g. ``2026-01-05T11:00:00+02:00``."""
    t = time.gmtime(ms // 1000 + offset_minutes * 60)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d" % (t[0], t[1], t[2], t[3], t[4], t[5], sign, hours, minutes)


def iso_format(ms: int, offset_minutes: int = 0, digits: int = 3, micros: int = 0, zulu: bool = True) -> str:
    """The instant ``ms`` (plus ``micros`` microseconds, 0-999) written with a UTC offset and 0, 3 or 6 fraction
    digits: ``2026-01-05T11:00:00+02:00``, ``2026-01-05T03:30:00.123456-05:30``. Offset 0 is written ``Z``
    (``+00:00`` when ``zulu`` is false). With 0 digits ``ms`` must be a whole second."""
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds + offset_minutes * 60)
    if digits == 3:
        fraction = ".%03d" % millis
    elif digits == 6:
        fraction = ".%06d" % (millis * 1000 + micros)
    elif digits == 0 and millis == 0:
        fraction = ""
    else:
        raise ValueError(f"cannot write {ms} ms with {digits} fraction digits")
    if offset_minutes == 0 and zulu:
        zone = "Z"
    else:
        hours, minutes = divmod(abs(offset_minutes), 60)
        zone = "%s%02d:%02d" % ("+" if offset_minutes >= 0 else "-", hours, minutes)
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%s" % (t[0], t[1], t[2], t[3], t[4], t[5], fraction, zone)


def money(cents: int) -> int | float:
    """A price as a browser's JSON writes it: whole amounts as integers, else two decimals."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` (for domains and e-mail local parts)."""
    out = "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())
    return out


@dataclass
class Account:
    id: Id
    traits: dict[str, Any]
    users: int = 0
    hazards: tuple[str, ...] = ()  # "channel:kind" of each hazard planted in its id or traits
    traitless: bool = False  # its group calls carry no traits


@dataclass
class User:
    id: Id
    traits: dict[str, Any]
    account: Account | None
    devices: list[Device] = field(default_factory=list)
    sessions: int = 0
    last_seen: int = 0  # ms of the user's latest event: a returning visit starts after it
    hazards: tuple[str, ...] = ()
    traitless: bool = False  # its identify calls carry no traits
    pooled: int = 0  # pools of returning people it is in: its id is free again once it has left them all


@dataclass
class Device:
    """A browser or a phone: it keeps its anonymousId, as analytics.js and the mobile libraries do."""

    anonymous_id: Id
    user_agent: str
    ip: str
    timezone: str
    library: dict[str, str]
    mobile: dict[str, Any] | None = None
    last_seen: int = 0
    hazards: tuple[str, ...] = ()


class World:
    """Everything one generated stream shares: PRNG, clock, pools, and the people and companies in it."""

    def __init__(
        self, seed: int, locale: str = "en_US", start_ms: int = DEFAULT_START_MS, population: int | None = None
    ):
        population = POPULATION if population is None else population
        if population < 1:
            raise ValueError("population must be 1 or more")
        self.population = population
        self._next_retiring: dict[int, int] = {}  # id() of a full pool -> the slot of its oldest member
        self.rng = random.Random(seed)
        self.pools: Pools = load_pools(locale)
        self.locale = locale
        self.locale_tag, self.timezone, self.currency = LOCALE_FACTS.get(locale, LOCALE_FACTS["en_US"])
        self.clock = start_ms
        self.latency = 100
        self.user_count = 0
        self.account_users: list[User] = []  # users with a company: they come back in saas sessions
        self.mobile_users: list[User] = []
        self.anonymous_devices: list[Device] = []
        self.accounts: list[Account] = []
        self.parents: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._twins: dict[str, str] = {}  # channel -> the first of a pair of case twins
        self.early_returns: dict[str, int] = {}  # scenario -> returning visits made while ids were planted
        self._stamp = (0, 0, 0, 0)  # originalTimestamp, sentAt, receivedAt, timestamp (ms) of the last event
        self._previous_ts = 0  # timestamp (ms) of the event before it
        product = slug(self.pools.domain_words[0]) or "product"
        self.site = f"https://www.{product}.com"
        self.app = f"https://app.{product}.com"
        self.mobile_app = {"name": product.capitalize(), "namespace": f"com.{product}.app"}
        r = self.rng
        self.random = r.random
        self.randrange = r.randrange
        self.choice = r.choice
        self.getrandbits = r.getrandbits
        self.hazards = Schedule(r.randrange, r.random)

    # -- primitive draws -------------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.random() < p

    def hex(self, n: int) -> str:
        return "%0*x" % (n, self.getrandbits(4 * n))

    def uuid4(self) -> str:
        n = self.getrandbits(128)
        n = (n & ~(0xF000 << 64)) | (4 << 76)  # version 4
        n = (n & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
        h = "%032x" % n
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def unique(self, prefix: str, n: int) -> str:
        """An id ``prefix + n hex digits`` never used before in this world."""
        while True:
            candidate = prefix + self.hex(n)
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def claim(self, value: Id) -> bool:
        """Reserve ``value`` as an id of this world; False when it (or the same digits) is taken already."""
        key = str(value)
        if key in self._ids:
            return False
        self._ids.add(key)
        return True

    # -- ids, with the identity hazards ------------------------------------------------------------------
    def new_id(self, channel: str) -> tuple[Id, str | None]:
        """A new id for ``channel`` (``userId``, ``groupId`` or ``anonymousId``) and the hazard planted in it."""
        kind = self.hazards.take_one(channel)
        if kind is not None:
            value = self._odd_id(channel, kind)
            if value is not None:
                return value, "case-twin" if kind == TWIN_SECOND else kind
        if channel == "userId":
            return self.unique("usr_", 10), None
        if channel == "groupId":
            return self.unique("acc_", 8), None
        return self.uuid4(), None

    def _odd_id(self, channel: str, kind: str) -> Id | None:
        user, group = channel == "userId", channel == "groupId"
        for _ in range(50):
            value: Id
            if kind == "padded":
                base = self.unique("usr_", 10) if user else self.unique("acc_", 8) if group else self.uuid4()
                pad = self.choice((" ", "  "))
                value = (pad + base, base + pad, pad + base + " ")[self.randrange(3)]
            elif kind == "inner-space":
                if user:
                    value = f"{self.choice(('EMEA', 'AMER', 'APAC'))} {self.randrange(100_000, 1_000_000)}"
                elif group:
                    name = self.choice(self.pools.companies)
                    value = name if " " in name.strip() else f"{name} {self.choice(('Ltd', 'Inc', 'GmbH'))}"
                else:
                    value = f"sess {self.hex(16)}"
            elif kind == "case-twin":
                if user:
                    word = slug(self.choice(self.pools.domain_words)) or "acme"
                    value = f"{word.capitalize()}-{self.randrange(1, 100)}"
                    twin = value.lower()
                elif group:
                    letters = "".join(self.choice(_ALNUM) for _ in range(10))
                    value = "0015" + self.choice(_UPPER) + letters
                    twin = value.swapcase()
                else:
                    value = self.uuid4().upper()
                    twin = value.lower()
                if value == twin or value in self._ids or twin in self._ids:
                    continue
                self.claim(value)
                self.claim(twin)
                self._twins[channel] = twin
                self.hazards.put_back(channel, TWIN_SECOND)
                return value
            elif kind == TWIN_SECOND:
                return self._twins.pop(channel, None)  # claimed with the first twin
            elif kind == "number":
                if user:
                    value = self.randrange(1_000, 100_000_000)
                else:
                    value = self.randrange(100, 1_000_000) if group else self.randrange(10**8, 10**12)
            elif kind == "leading-zeros":
                value = "0" * self.randrange(1, 4) + str(self.randrange(1, 1_000_000))
            elif kind == "unicode":
                if user:
                    value = f"{self.choice(UNICODE_USER_STEMS)}.{self.hex(4)}"
                elif group:
                    value = f"{self.choice(UNICODE_COMPANY_STEMS)}-{self.hex(4)}"
                else:
                    value = f"sesión-{self.hex(12)}"
            elif kind == "long":
                if user:
                    value = "samlp|corp-idp|" + self.hex(self.randrange(240, 400))
                elif group:
                    value = f"tenant:{self.choice(('eu-west-1', 'us-east-1'))}:" + self.hex(self.randrange(200, 330))
                else:
                    value = self.hex(self.randrange(256, 400))
            else:
                raise ValueError(f"unknown identity hazard {kind!r}")
            if kind == "padded" or self.claim(value):  # a padded id's base is claimed already
                return value
        return None

    # -- shapes: nested objects, arrays of objects, empty strings, nulls, empty objects ------------------
    def _shapes(self, channel: str) -> list[str]:
        """Up to two trait hazards for a new user or account; one whose calls carry no traits gets no other."""
        shapes = self.hazards.take(channel, 2)
        if "empty" in shapes and len(shapes) > 1:
            for other in reversed([s for s in shapes if s != "empty"]):
                self.hazards.put_back(channel, other)
            shapes = ["empty"]
        return shapes

    def trait_hazard(self, kind: str) -> tuple[str, Any]:
        """A user trait of the shape ``kind``."""
        if kind == "nested-object":
            notifications = {"email": self.chance(0.7), "push": self.chance(0.4)}
            return "preferences", {"theme": self.choice(("dark", "light", "system")), "notifications": notifications}
        if kind == "object-array":
            teams = [
                {"id": "team_" + self.hex(4), "name": self.choice(TEAM_NAMES), "lead": self.chance(0.3)}
                for _ in range(self.randrange(1, 4))
            ]
            return "teams", teams
        if kind == "empty-string":
            return "department", ""
        if kind == "null":
            return "avatar", None
        return "customAttributes", {}

    def group_trait_hazard(self, kind: str, plan: str) -> tuple[str, Any]:
        """An account trait of the shape ``kind``."""
        if kind == "nested-object":
            seats = self.randrange(2, 200)
            return "billing", {"plan": {"name": plan, "seats": seats}, "cycle": self.choice(("monthly", "annual"))}
        if kind == "object-array":
            products = [
                {"product": self.choice(PRODUCTS), "seats": self.randrange(1, 120)} for _ in range(self.randrange(1, 4))
            ]
            return "subscriptions", products
        if kind == "empty-string":
            return "vatNumber", ""
        if kind == "null":
            return "csm", None
        return "customFields", {}

    def property_hazard(self, kind: str, where: str) -> tuple[str, Any]:
        """A track property of the shape ``kind`` (``where``: the page path or screen of the track)."""
        if kind == "nested-object":
            return "source", {"page": where, "section": self.choice(("toolbar", "sidebar", "shortcut", "menu"))}
        if kind == "object-array":
            return "tags", [{"id": "tag_" + self.hex(4), "label": self.choice(TAG_LABELS)} for _ in range(2)]
        if kind == "empty-string":
            return "note", ""
        if kind == "null":
            return "referrerId", None
        return "metadata", {}

    def ip(self) -> str:
        first = self.choice((24, 31, 45, 62, 73, 81, 98, 104, 142, 176, 185, 203, 212))
        return f"{first}.{self.randrange(256)}.{self.randrange(256)}.{self.randrange(1, 255)}"

    def advance(self, low_ms: int, high_ms: int) -> int:
        self.clock += self.randrange(low_ms, high_ms)
        return self.clock

    def session_start(self, low_ms: int, high_ms: int, last_seen: int = 0) -> int:
        """When the next session starts: sessions of different people overlap, but a returning person
        (``last_seen`` > 0) comes back between ten minutes and three days after their previous visit."""
        start = self.advance(low_ms, high_ms)
        if last_seen:
            start = max(start, last_seen + self.randrange(600_000, 3 * 86_400_000))
        return start

    # -- people and companies --------------------------------------------------------------------------
    def person(self) -> tuple[str, str, str]:
        """(first name, last name, e-mail local part)."""
        p = self.pools
        first, last = self.choice(p.first_names), self.choice(p.last_names)
        local = slug(first) + "." + slug(last)
        if len(local) < 5:  # names in scripts without ASCII letters: use Faker's romanised user names
            local = self.choice(p.user_names)
        return first, last, local

    def new_parent(self) -> dict[str, Any]:
        name = self.choice(self.pools.companies)
        parent = {"id": self.unique("org_", 6), "name": f"{name} Holdings"}
        self.admit(self.parents, parent)
        return parent

    def new_account(self, created_ms: int, plant: bool = True) -> Account:
        """A new company; with ``plant``, its id and traits take the hazards the schedule holds for accounts."""
        p = self.pools
        name = self.choice(p.companies)
        domain = (slug(self.choice(p.domain_words)) or "company") + self.choice((".com", ".io", ".co", ".net"))
        traits: dict[str, Any] = {
            "name": name,
            "industry": self.choice(INDUSTRIES),
            "employees": self.choice((4, 12, 35, 80, 150, 420, 1200, 5000)) + self.randrange(10),
            "plan": self.choice(PLANS),
            "website": f"https://{domain}",
            "createdAt": iso_ms(created_ms - self.randrange(86_400_000, 900 * 86_400_000)),
        }
        if self.chance(0.25):
            parent = self.choice(self.parents) if self.parents and self.chance(0.6) else self.new_parent()
            traits["parentAccount"] = dict(parent)
        account_id, kind = self.new_id("groupId") if plant else (self.unique("acc_", 8), None)
        hazards = [f"groupId:{kind}"] if kind else []
        shapes = self._shapes("groupTraits") if plant else []
        for shape in shapes:
            if shape != "empty":
                key, value = self.group_trait_hazard(shape, traits["plan"])
                traits[key] = value
            hazards.append(f"groupTraits:{shape}")
        account = Account(account_id, traits, hazards=tuple(hazards), traitless="empty" in shapes)
        self.admit(self.accounts, account)
        return account

    def new_user(self, created_ms: int, with_account: bool = True) -> User:
        first, last, local = self.person()
        account = None
        if with_account:
            share = self.accounts and not self.hazards.planting("groupId", "groupTraits") and self.chance(0.7)
            account = self.choice(self.accounts) if share else self.new_account(created_ms)
            account.users += 1
            domain = account.traits["website"][len("https://") :]
        else:
            domain = self.choice(self.pools.free_email_domains)
        traits: dict[str, Any] = {
            "email": f"{local}@{domain}",
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "title": self.choice(self.pools.jobs),
            "createdAt": iso_ms(created_ms),
        }
        if account is not None:
            traits["plan"] = account.traits["plan"]
            traits["role"] = self.choice(ROLES)
            traits["company"] = {"id": account.id, "name": account.traits["name"]}
        if self.chance(0.3):
            traits["phone"] = self.choice(self.pools.phones)
        if self.chance(0.2):
            traits["address"] = {
                "street": self.choice(self.pools.streets),
                "city": self.choice(self.pools.cities),
                "postalCode": self.choice(self.pools.postcodes),
            }
        traits["logins"] = 0
        user_id, kind = self.new_id("userId")
        hazards = [f"userId:{kind}"] if kind else []
        shapes = self._shapes("traits")
        for shape in shapes:
            if shape != "empty":
                key, value = self.trait_hazard(shape)
                traits[key] = value
            hazards.append(f"traits:{shape}")
        user = User(user_id, traits, account, hazards=tuple(hazards), traitless="empty" in shapes)
        self.user_count += 1
        if account is not None:
            self.admit_user(self.account_users, user)
        return user

    # -- the bounded population ---------------------------------------------------------------------------
    def admit(self, pool: list[T], member: T) -> T | None:
        """Add ``member`` to ``pool``; once the pool holds ``population`` members, it takes the oldest one's place
        (no draw from the PRNG: a stream is unchanged until a pool is full). Returns the member retired, if any."""
        if len(pool) < self.population:
            pool.append(member)
            return None
        key = id(pool)
        slot = self._next_retiring.get(key, 0)
        retired = pool[slot]
        pool[slot] = member
        self._next_retiring[key] = (slot + 1) % self.population
        return retired

    def admit_user(self, pool: list[User], user: User) -> None:
        """``admit`` for people: one who has left every pool will not come back, and their id is free again."""
        user.pooled += 1
        retired = self.admit(pool, user)
        if retired is not None:
            retired.pooled -= 1
            if not retired.pooled:
                self._ids.discard(str(retired.id))

    def browser(self, anonymous_id: Id | None = None) -> Device:
        return Device(
            anonymous_id=self.uuid4() if anonymous_id is None else anonymous_id,
            user_agent=self.choice(BROWSER_AGENTS),
            ip=self.ip(),
            timezone=self.timezone if self.chance(0.8) else self.choice(EXTRA_TIMEZONES),
            library={"name": "analytics.js", "version": self.choice(ANALYTICS_JS_VERSIONS)},
        )

    def phone(self) -> Device:
        ios = self.chance(0.55)
        if ios:
            model, name = self.choice(IOS_MODELS)
            os_info = {"name": "iOS", "version": self.choice(("17.6.1", "18.0", "18.1", "18.2"))}
            library = {"name": "analytics-swift", "version": self.choice(("1.6.2", "1.7.0"))}
            screen: dict[str, float] = {"width": 393, "height": 852, "density": 3}
            manufacturer = "Apple"
        else:
            manufacturer, model, name = self.choice(ANDROID_MODELS)
            os_info = {"name": "Android", "version": self.choice(("13", "14", "15"))}
            library = {"name": "analytics-kotlin", "version": self.choice(("1.16.3", "1.17.0"))}
            screen = {"width": 1080, "height": 2400, "density": 2.75}
        device_id = self.uuid4()
        mobile = {
            "app": {
                "name": self.mobile_app["name"],
                "version": self.choice(("3.12.0", "3.13.1", "3.14.0")),
                "build": str(self.randrange(400, 480)),
                "namespace": self.mobile_app["namespace"],
            },
            "device": {
                "id": device_id.upper() if ios else device_id,
                "manufacturer": manufacturer,
                "model": model,
                "name": name,
                "type": "ios" if ios else "android",
                "adTrackingEnabled": self.chance(0.3),
            },
            "os": os_info,
            "screen": screen,
            "network": {"wifi": self.chance(0.6), "cellular": self.chance(0.7), "carrier": self.choice(CARRIERS)},
        }
        return Device(
            anonymous_id=self.uuid4().upper() if ios else self.uuid4(),
            user_agent="",
            ip=self.ip(),
            timezone=self.timezone,
            library=library,
            mobile=mobile,
        )

    # -- events ----------------------------------------------------------------------------------------
    def begin_session(self) -> int:
        """Draw a session's network latency and client clock error; returns the clock error in ms.

        Most clients have a correct clock; one session in ten runs seconds to minutes off. Latency varies
        less within a session than the shortest gap between two events (50 ms), so timestamps increase.
        """
        self.latency = self.randrange(20, 350)
        if self.chance(0.1):
            return self.choice((-1, 1)) * self.randrange(1_000, 300_000)
        return 0

    def stamp(self, event: dict[str, Any], at_ms: int, skew_ms: int) -> dict[str, Any]:
        """Add messageId and the four timestamps as Segment delivers them (client clock off by ``skew_ms``)."""
        send_delay = self.randrange(5, 1500)
        latency = self.latency + self.randrange(40)
        original = at_ms + skew_ms
        event["messageId"] = self.uuid4()
        event["originalTimestamp"] = iso_ms(original)
        event["sentAt"] = iso_ms(original + send_delay)
        event["receivedAt"] = iso_ms(at_ms + send_delay + latency)
        # Segment's correction: timestamp = receivedAt - (sentAt - originalTimestamp)
        event["timestamp"] = iso_ms(at_ms + latency)
        self._previous_ts = self._stamp[3]
        self._stamp = (original, original + send_delay, at_ms + send_delay + latency, at_ms + latency)
        return event

    def restamp(self, event: dict[str, Any], kind: str) -> bool:
        """Write the last stamped event's ``timestamp`` and ``originalTimestamp`` the way ``kind`` says (the
        same instants, other spellings); False when it cannot (a whole second would move it before the event
        stamped before it)."""
        original, sent, received, ts = self._stamp
        zulu = True
        if kind == "offset-plus":
            offset, digits = self.choice(PLUS_OFFSETS), 3
        elif kind == "offset-minus":
            offset, digits = self.choice(MINUS_OFFSETS), 6
        elif kind == "no-fraction":
            offset, digits = 0, 0
        elif kind == "micro":
            offset, digits, zulu = 0, 6, self.chance(0.5)  # analytics-python writes +00:00
        else:
            raise ValueError(f"unknown timestamp hazard {kind!r}")
        if digits == 0:
            # A whole second: the event moves earlier by under a second, all four timestamps together.
            shift = ts % 1000
            if ts - shift <= self._previous_ts:
                return False
            original, sent, received, ts = original - shift, sent - shift, received - shift, ts - shift
            event["sentAt"] = iso_ms(sent)
            event["receivedAt"] = iso_ms(received)
            self._stamp = (original, sent, received, ts)
        # Sub-millisecond digits stay under 500 us: truncating and rounding to milliseconds agree.
        event["timestamp"] = iso_format(ts, offset, digits, self.randrange(500), zulu)
        event["originalTimestamp"] = iso_format(original, offset, digits or 3, self.randrange(500), zulu)
        return True


INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Logistics",
    "Telecommunications",
    "Real Estate",
)
PLANS = ("free", "starter", "pro", "business", "enterprise")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = _UPPER + "abcdefghijklmnopqrstuvwxyz0123456789"
PLAN_PRICE_CENTS = {"free": 0, "starter": 1900, "pro": 4900, "business": 14900, "enterprise": 49900}
ROLES = ("admin", "member", "member", "member", "viewer", "owner")
CARRIERS = ("Verizon", "T-Mobile", "Vodafone", "Orange", "Telefónica", "NTT docomo", "AT&T")
IOS_MODELS = (("iPhone15,4", "iPhone 15"), ("iPhone16,1", "iPhone 15 Pro"), ("iPhone17,3", "iPhone 16"))
ANDROID_MODELS = (
    ("Google", "Pixel 8", "shiba"),
    ("samsung", "SM-S921B", "e1s"),
    ("samsung", "SM-A546B", "a54x"),
    ("OnePlus", "CPH2581", "OP5913L1"),
)
