"""The generator's world: a seeded PRNG, a clock, and the users, accounts and devices sessions draw from.

Determinism rules kept here: only integer draws and ``random()`` of :class:`random.Random` are used (their
algorithms are fixed across CPython versions), no transcendental float maths (``log``/``exp`` can differ in
the last bit between C libraries), no iteration over sets or hash-ordered containers.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from .pools import Pools, load_pools

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


def money(cents: int) -> int | float:
    """A price as a browser's JSON writes it: whole amounts as integers, else two decimals."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` (for domains and e-mail local parts)."""
    out = "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())
    return out


@dataclass
class Account:
    id: str
    traits: dict[str, Any]
    users: int = 0


@dataclass
class User:
    id: str
    traits: dict[str, Any]
    account: Account | None
    devices: list[Device] = field(default_factory=list)
    sessions: int = 0
    last_seen: int = 0  # ms of the user's latest event: a returning visit starts after it


@dataclass
class Device:
    """A browser or a phone: it keeps its anonymousId, as analytics.js and the mobile libraries do."""

    anonymous_id: str
    user_agent: str
    ip: str
    timezone: str
    library: dict[str, str]
    mobile: dict[str, Any] | None = None
    last_seen: int = 0


class World:
    """Everything one generated stream shares: PRNG, clock, pools, and the people and companies in it."""

    def __init__(self, seed: int, locale: str = "en_US", start_ms: int = DEFAULT_START_MS):
        self.rng = random.Random(seed)
        self.pools: Pools = load_pools(locale)
        self.locale = locale
        self.locale_tag, self.timezone, self.currency = LOCALE_FACTS.get(locale, LOCALE_FACTS["en_US"])
        self.clock = start_ms
        self.latency = 100
        self.users: list[User] = []
        self.account_users: list[User] = []  # users with a company: they come back in saas sessions
        self.mobile_users: list[User] = []
        self.anonymous_devices: list[Device] = []
        self.accounts: list[Account] = []
        self.parents: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        product = slug(self.pools.domain_words[0]) or "product"
        self.site = f"https://www.{product}.com"
        self.app = f"https://app.{product}.com"
        self.mobile_app = {"name": product.capitalize(), "namespace": f"com.{product}.app"}
        r = self.rng
        self.random = r.random
        self.randrange = r.randrange
        self.choice = r.choice
        self.getrandbits = r.getrandbits

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
        self.parents.append(parent)
        return parent

    def new_account(self, created_ms: int) -> Account:
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
        account = Account(self.unique("acc_", 8), traits)
        self.accounts.append(account)
        return account

    def new_user(self, created_ms: int, with_account: bool = True) -> User:
        first, last, local = self.person()
        account = None
        if with_account:
            share = self.accounts and self.chance(0.7)
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
        user = User(self.unique("usr_", 10), traits, account)
        self.users.append(user)
        if account is not None:
            self.account_users.append(user)
        return user

    def browser(self) -> Device:
        return Device(
            anonymous_id=self.uuid4(),
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
        return event


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
