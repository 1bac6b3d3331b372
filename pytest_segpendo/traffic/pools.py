"""Pools of realistic values drawn once from Faker.

Calling a Faker provider per field is slow (about 1,000 rich events per second) and its output depends on
the installed Faker version. The generator therefore draws from pools of Faker values with its own seeded
PRNG. For the locales in :data:`BUNDLED_LOCALES` the pools are checked in (``pools/<locale>.json``), so the
same seed gives the same bytes on any machine whatever Faker version is installed. Any other Faker locale
works too: its pools are built from Faker at first use, which is deterministic for a given Faker version.

Regenerate the bundled files with ``python -m pytest_segpendo.traffic.pools`` (this changes the generator's
output for those locales, so the fixtures corpus must be regenerated in the same commit).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

BUNDLED_LOCALES: tuple[str, ...] = (
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "es_ES",
    "pt_BR",
    "ja_JP",
    "zh_CN",
)
POOLS_DIR = Path(__file__).with_name("pools")

# How many draws to make per provider when building a pool; distinct values are kept in draw order.
_DRAWS = {
    "first_names": 1200,
    "last_names": 1200,
    "user_names": 600,
    "companies": 600,
    "domain_words": 600,
    "cities": 500,
    "streets": 300,
    "postcodes": 200,
    "phones": 200,
    "jobs": 400,
    "free_email_domains": 200,
    "catch_phrases": 200,
}
_CAP = 400  # at most this many distinct values per pool


@dataclass(frozen=True)
class Pools:
    """Distinct Faker values for one locale, in a fixed order."""

    locale: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    user_names: tuple[str, ...]
    companies: tuple[str, ...]
    domain_words: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    postcodes: tuple[str, ...]
    phones: tuple[str, ...]
    jobs: tuple[str, ...]
    free_email_domains: tuple[str, ...]
    catch_phrases: tuple[str, ...]


def build_pools(locale: str, seed: int = 0) -> Pools:
    """Draw the pools for ``locale`` from Faker (raises ValueError for a locale Faker does not know)."""
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise ValueError(f"unknown locale {locale!r}; Faker knows e.g. {', '.join(BUNDLED_LOCALES)}")
    fake = Faker(locale)
    fake.seed_instance(seed)
    providers = {
        "first_names": fake.first_name,
        "last_names": fake.last_name,
        "user_names": fake.user_name,
        "companies": fake.company,
        "domain_words": fake.domain_word,
        "cities": fake.city,
        "streets": fake.street_address,
        "postcodes": fake.postcode,
        "phones": fake.phone_number,
        "jobs": fake.job,
        "free_email_domains": fake.free_email_domain,
        "catch_phrases": fake.catch_phrase,
    }
    values: dict[str, tuple[str, ...]] = {}
    for name, provider in providers.items():
        seen: dict[str, None] = {}
        for _ in range(_DRAWS[name]):
            value = " ".join(str(provider()).split())  # Faker addresses hold newlines
            if value:
                seen.setdefault(value, None)
            if len(seen) >= _CAP:
                break
        values[name] = tuple(seen)
    return Pools(locale=locale, **values)


@cache
def load_pools(locale: str = "en_US") -> Pools:
    """The pools for ``locale``: the bundled file when there is one, else built from Faker."""
    path = POOLS_DIR / f"{locale}.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return Pools(locale=locale, **{f.name: tuple(data[f.name]) for f in fields(Pools) if f.name != "locale"})
    return build_pools(locale)


def write_bundled(locales: tuple[str, ...] = BUNDLED_LOCALES) -> list[Path]:
    """Rebuild the checked-in pool files from the installed Faker."""
    written = []
    for locale in locales:
        pools = build_pools(locale)
        data = {f.name: list(getattr(pools, f.name)) for f in fields(Pools) if f.name != "locale"}
        path = POOLS_DIR / f"{locale}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    for p in write_bundled(tuple(sys.argv[1:]) or BUNDLED_LOCALES):
        print(p)
