"""Traffic generation speed: the naive way (one Faker provider call per field) vs ``segpendo generate``.

Run: ``python benchmarks/bench_generate.py [--events N] [--naive-events N] [--repeat R]``

Both produce rich ``saas`` events of the same shape (identify traits, group traits, track properties, full
browser context, four timestamps) serialised as JSON lines; the table shows each rate and their ratio,
measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from faker import Faker

from pytest_segpendo.traffic import generate_jsonl


def naive_events(fake: Faker, count: int) -> list[str]:
    """Rich saas events, every field its own Faker call: how most people start."""
    out = []
    for i in range(count):
        kind = ("page", "identify", "group", "track", "track", "track")[i % 6]
        event: dict[str, Any] = {
            "anonymousId": fake.uuid4(),
            "userId": fake.bothify("usr_??????????") if kind != "page" else None,
            "type": kind,
        }
        if kind == "identify":
            first, last = fake.first_name(), fake.last_name()
            event["traits"] = {
                "email": fake.company_email(),
                "name": f"{first} {last}",
                "firstName": first,
                "lastName": last,
                "title": fake.job(),
                "createdAt": fake.iso8601() + "Z",
                "plan": fake.random_element(("free", "starter", "pro", "business", "enterprise")),
                "role": fake.random_element(("admin", "member", "viewer")),
                "company": {"id": fake.bothify("acc_????????"), "name": fake.company()},
                "phone": fake.phone_number(),
                "logins": fake.pyint(1, 40),
            }
        elif kind == "group":
            event["groupId"] = fake.bothify("acc_????????")
            event["traits"] = {
                "name": fake.company(),
                "industry": fake.random_element(("Software", "Retail", "Healthcare")),
                "employees": fake.pyint(1, 5000),
                "plan": fake.random_element(("free", "starter", "pro")),
                "website": fake.url(),
                "createdAt": fake.iso8601() + "Z",
            }
        elif kind == "track":
            event["event"] = fake.random_element(("Report Created", "Order Completed", "Invite Sent"))
            event["properties"] = {
                "orderId": fake.bothify("ord_??????????"),
                "revenue": float(fake.pydecimal(left_digits=4, right_digits=2, positive=True)),
                "currency": fake.currency_code(),
                "plan": fake.random_element(("free", "starter", "pro")),
                "seats": fake.pyint(1, 40),
            }
        else:
            event["name"] = fake.word().title()
            event["properties"] = {"path": fake.uri_path(), "url": fake.url(), "title": fake.sentence(nb_words=3)}
        event["context"] = {
            "ip": fake.ipv4_public(),
            "library": {"name": "analytics.js", "version": "next-1.76.1"},
            "locale": fake.locale().replace("_", "-"),
            "page": {
                "path": fake.uri_path(),
                "referrer": fake.url(),
                "search": "",
                "title": fake.sentence(nb_words=3),
                "url": fake.url(),
            },
            "timezone": fake.timezone(),
            "userAgent": fake.user_agent(),
        }
        event["integrations"] = {}
        event["messageId"] = fake.uuid4()
        stamp = fake.iso8601() + ".000Z"
        event["originalTimestamp"] = stamp
        event["sentAt"] = fake.iso8601() + ".000Z"
        event["receivedAt"] = fake.iso8601() + ".000Z"
        event["timestamp"] = stamp
        event["channel"] = "browser"
        out.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    return out


def best_rate(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Events per second of the fastest of ``repeat`` runs, and the bytes one run wrote."""
    best = float("inf")
    size = 0
    n = 0
    for _ in range(repeat):
        start = time.perf_counter()
        n, size = run()  # type: ignore[misc]
        best = min(best, time.perf_counter() - start)
    return n / best, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events for segpendo (default 100000)")
    parser.add_argument(
        "--naive-events", type=int, default=3_000, help="events for the naive Faker loop (default 3000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts (default 3)")
    args = parser.parse_args(argv)

    fake = Faker("en_US")
    fake.seed_instance(1)

    def naive() -> tuple[int, int]:
        lines = naive_events(fake, args.naive_events)
        return len(lines), sum(len(line) for line in lines)

    def ours() -> tuple[int, int]:
        lines = list(generate_jsonl(args.events, seed=1, scenario="saas"))
        return len(lines), sum(len(line) for line in lines)

    naive_rate, naive_bytes = best_rate(naive, args.repeat)
    our_rate, our_bytes = best_rate(ours, args.repeat)
    print(
        f"traffic generation, saas scenario, JSONL out ({platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()})"
    )
    print(f"{'method':<38} {'events':>8} {'avg bytes':>10} {'events/s':>10}")
    print(
        f"{'naive Faker, one provider call/field':<38} {args.naive_events:>8} {naive_bytes // args.naive_events:>10} "
        f"{naive_rate:>10,.0f}"
    )
    print(
        f"{'segpendo generate (seeded pools)':<38} {args.events:>8} {our_bytes // max(args.events, 1):>10} "
        f"{our_rate:>10,.0f}"
    )
    print(
        f"ratio: {our_rate / naive_rate:.1f}x   target: >= 20,000 events/s -> "
        f"{'met' if our_rate >= 20_000 else 'NOT met'}"
    )
    return 0 if our_rate >= 20_000 else 1


if __name__ == "__main__":
    sys.exit(main())
