"""The scenarios: each function plays one session of a scenario and returns its events in time order.

A session is one visit from one device (a browser or a phone); its events share the device's
``anonymousId`` and their timestamps increase. Sessions of a stream are emitted one after another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import MAX_EVENT_BYTES, event_size
from .world import (
    PLAN_PRICE_CENTS,
    PLANS,
    Device,
    User,
    World,
    iso_ms,
    iso_offset,
    money,
    slug,
)

Event = dict[str, Any]

MARKETING_PAGES = (
    ("Home", "/"),
    ("Pricing", "/pricing"),
    ("Features", "/features"),
    ("Customers", "/customers"),
    ("Integrations", "/integrations"),
    ("Blog", "/blog"),
)
APP_PAGES = (
    ("Dashboard", "/dashboard"),
    ("Reports", "/reports"),
    ("Projects", "/projects"),
    ("Settings", "/settings/profile"),
    ("Billing", "/settings/billing"),
    ("Team", "/settings/team"),
    ("Integrations", "/settings/integrations"),
)
CAMPAIGNS = (
    ("google", "cpc", "brand-search"),
    ("linkedin", "paid-social", "q1-launch"),
    ("newsletter", "email", "product-update"),
    ("g2", "referral", "reviews"),
)
ANON_TRACKS = ("CTA Clicked", "Video Played", "Pricing Plan Selected", "Demo Requested", "Signup Started")
MOBILE_SCREENS = ("Home", "Feed", "Search", "Item Detail", "Cart", "Profile", "Settings", "Notifications")


# -- building blocks --------------------------------------------------------------------------------------


def _copy(traits: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in traits.items()}


def _page_info(w: World, base: str, name: str, path: str, referrer: str, search: str = "") -> dict[str, Any]:
    return {
        "path": path,
        "referrer": referrer,
        "search": search,
        "title": f"{name} | {w.mobile_app['name']}",
        "url": base + path + search,
    }


def _browser(
    w: World, dev: Device, user_id: Any, kind: str, body: Event, page: dict[str, Any], at: int, skew: int
) -> Event:
    context: dict[str, Any] = {
        "ip": dev.ip,
        "library": dict(dev.library),
        "locale": w.locale_tag,
        "page": dict(page),
        "timezone": dev.timezone,
        "userAgent": dev.user_agent,
    }
    event: Event = {"anonymousId": dev.anonymous_id, "userId": user_id, "type": kind}
    event.update(body)
    event["context"] = context
    event["integrations"] = {}
    w.stamp(event, at, skew)
    event["channel"] = "browser"
    return event


def _mobile(w: World, dev: Device, user_id: Any, kind: str, body: Event, at: int, skew: int) -> Event:
    m = dev.mobile or {}
    context: dict[str, Any] = {
        "app": dict(m["app"]),
        "device": dict(m["device"]),
        "ip": dev.ip,
        "library": dict(dev.library),
        "locale": w.locale_tag,
        "network": dict(m["network"]),
        "os": dict(m["os"]),
        "screen": dict(m["screen"]),
        "timezone": dev.timezone,
    }
    event: Event = {"anonymousId": dev.anonymous_id, "userId": user_id, "type": kind}
    event.update(body)
    event["context"] = context
    event["integrations"] = {}
    w.stamp(event, at, skew)
    event["channel"] = "mobile"
    return event


def _saas_track(w: World, user: User) -> tuple[str, dict[str, Any]]:
    """A product event with realistic properties (revenue, currency, plan, counts)."""
    account = user.account
    roll = w.randrange(100)
    if roll < 14:
        return "Report Created", {
            "reportId": "rpt_" + w.hex(8),
            "template": w.choice(("blank", "funnel", "retention", "revenue", "nps")),
            "widgets": w.randrange(1, 13),
            "shared": w.chance(0.3),
        }
    if roll < 26:
        return "Dashboard Viewed", {
            "dashboardId": "dsh_" + w.hex(6),
            "tiles": w.randrange(2, 24),
            "loadMs": w.randrange(180, 4200),
        }
    if roll < 36:
        return "Project Created", {
            "projectId": "prj_" + w.hex(8),
            "name": w.choice(w.pools.catch_phrases),
            "visibility": w.choice(("private", "team", "public")),
        }
    if roll < 46:
        return "Invite Sent", {"inviteeRole": w.choice(("member", "viewer", "admin")), "count": w.randrange(1, 6)}
    if roll < 55:
        return "File Uploaded", {
            "fileType": w.choice(("csv", "xlsx", "pdf", "png", "json")),
            "sizeBytes": w.randrange(1_024, 25_000_000),
        }
    if roll < 64:
        return "Feature Used", {
            "feature": w.choice(("filters", "export", "alerts", "annotations", "sso")),
            "count": w.randrange(1, 40),
        }
    if roll < 72:
        return "Search Performed", {
            "query": w.choice(w.pools.catch_phrases).split(" ")[0].lower(),
            "results": w.randrange(0, 120),
        }
    if roll < 80:
        return "Export Downloaded", {"format": w.choice(("csv", "pdf", "xlsx")), "rows": w.randrange(10, 50_000)}
    if roll < 87:
        return "Comment Added", {"length": w.randrange(3, 800), "mentions": w.randrange(0, 4)}
    if roll < 94 or account is None:
        plan = user.traits.get("plan", "starter")
        seats = w.randrange(1, 40)
        cents = PLAN_PRICE_CENTS.get(plan, 1900) * seats + w.choice((0, 0, 99))
        return "Order Completed", {
            "orderId": "ord_" + w.hex(10),
            "revenue": money(cents),
            "currency": w.currency,
            "plan": plan,
            "seats": seats,
            "coupon": w.choice((None, None, None, "WELCOME10", "ANNUAL20")),
        }
    old = account.traits["plan"]
    higher = [p for p in PLANS if PLANS.index(p) > PLANS.index(old)] or [old]
    new = w.choice(higher)
    return "Subscription Upgraded", {
        "fromPlan": old,
        "toPlan": new,
        "plan": new,
        "revenue": money(PLAN_PRICE_CENTS[new] * 12),
        "currency": w.currency,
        "billingCycle": w.choice(("monthly", "annual")),
    }


# -- scenarios ------------------------------------------------------------------------------------------


def saas_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """B2B web app: anonymous marketing pages, then identify, group, and product use."""
    if w.account_users and w.chance(0.45):
        user = w.choice(w.account_users)
        start = w.session_start(1_000, 90_000, user.last_seen)
    else:
        start = w.session_start(1_000, 90_000)
        user = w.new_user(start)
    at = start
    skew = w.begin_session()
    events: list[Event] = []
    user.sessions += 1
    user.traits["logins"] = user.traits.get("logins", 0) + 1
    browsers = [d for d in user.devices if d.mobile is None]
    dev = w.choice(browsers) if browsers and w.chance(0.6) else None
    referrer = "https://www.google.com/"

    if dev is None:
        dev = w.browser()
        user.devices.append(dev)
        # Anonymous visit of the marketing site before signing in.
        search = ""
        campaign = None
        if w.chance(0.35):
            source, medium, name = w.choice(CAMPAIGNS)
            campaign = {"source": source, "medium": medium, "name": name}
            search = f"?utm_source={source}&utm_medium={medium}&utm_campaign={name}"
        for i in range(w.randrange(1, 4)):
            name, path = w.choice(MARKETING_PAGES)
            page = _page_info(w, w.site, name, path, referrer, search if i == 0 else "")
            ev = _browser(w, dev, None, "page", {"name": name, "properties": dict(page, name=name)}, page, at, skew)
            if campaign and i == 0:
                ev["context"]["campaign"] = dict(campaign)
            events.append(ev)
            referrer = page["url"]
            at += w.randrange(3_000, 90_000)
            if w.chance(0.3):
                props = {"label": w.choice(("hero", "nav", "footer", "pricing-table")), "location": path}
                events.append(
                    _browser(
                        w, dev, None, "track", {"event": w.choice(ANON_TRACKS), "properties": props}, page, at, skew
                    )
                )
                at += w.randrange(2_000, 30_000)
        page = _page_info(w, w.app, "Log In", "/login", referrer)
    else:
        page = _page_info(w, w.app, "Dashboard", "/dashboard", "")

    # Sign in: identify (the app calls it on every load once the user is known), then group.
    events.append(_browser(w, dev, user.id, "identify", {"traits": _copy(user.traits)}, page, at, skew))
    account = user.account
    assert account is not None
    if w.chance(0.92):
        at += w.randrange(50, 1_500)
        events.append(
            _browser(w, dev, user.id, "group", {"groupId": account.id, "traits": _copy(account.traits)}, page, at, skew)
        )

    referrer = page["url"]
    for _ in range(w.randrange(3, 13)):
        at += w.randrange(2_000, 120_000)
        if w.chance(0.35):
            name, path = w.choice(APP_PAGES)
            page = _page_info(w, w.app, name, path, referrer)
            events.append(
                _browser(w, dev, user.id, "page", {"name": name, "properties": dict(page, name=name)}, page, at, skew)
            )
            referrer = page["url"]
            continue
        name, props = _saas_track(w, user)
        ev = _browser(w, dev, user.id, "track", {"event": name, "properties": props}, page, at, skew)
        if w.chance(0.3):
            ev["context"]["groupId"] = account.id
        events.append(ev)
        if name == "Subscription Upgraded":
            # The app calls identify({plan}) and group({plan}); analytics.js merges them into the stored
            # traits and sends the merged traits, as it does for every identify and group call.
            account.traits["plan"] = props["toPlan"]
            user.traits["plan"] = props["toPlan"]
            at += w.randrange(200, 3_000)
            events.append(_browser(w, dev, user.id, "identify", {"traits": _copy(user.traits)}, page, at, skew))
            at += w.randrange(50, 1_000)
            events.append(
                _browser(
                    w, dev, user.id, "group", {"groupId": account.id, "traits": _copy(account.traits)}, page, at, skew
                )
            )
    user.last_seen = at + 1_000
    return events, None


def anonymous_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """A visitor who browses and clicks but never identifies (some come back on the same browser)."""
    if w.anonymous_devices and w.chance(0.3):
        dev = w.choice(w.anonymous_devices)
        start = w.session_start(1_000, 60_000, dev.last_seen)
    else:
        dev = w.browser()
        w.anonymous_devices.append(dev)
        start = w.session_start(1_000, 60_000)
    at = start
    skew = w.begin_session()
    referrer = w.choice(("https://www.google.com/", "https://duckduckgo.com/", "https://www.linkedin.com/", ""))
    events: list[Event] = []
    page: dict[str, Any] = {}  # set by the first iteration, which always takes the page branch (no events yet)
    for _ in range(w.randrange(2, 9)):
        if events and w.chance(0.4):
            props: dict[str, Any] = {
                "label": w.choice(("hero", "nav", "footer", "pricing-table")),
                "location": page["path"],
            }
            if w.chance(0.3):
                props["durationSeconds"] = w.randrange(5, 600)
            events.append(
                _browser(w, dev, None, "track", {"event": w.choice(ANON_TRACKS), "properties": props}, page, at, skew)
            )
        else:
            name, path = w.choice(MARKETING_PAGES)
            page = _page_info(w, w.site, name, path, referrer)
            events.append(
                _browser(w, dev, None, "page", {"name": name, "properties": dict(page, name=name)}, page, at, skew)
            )
            referrer = page["url"]
        at += w.randrange(2_000, 90_000)
    dev.last_seen = at
    return events, None


def mobile_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """A phone app session: lifecycle tracks, screen calls, identify once signed in, purchases."""
    if w.mobile_users and w.chance(0.5):
        user = w.choice(w.mobile_users)
        dev = next(d for d in user.devices if d.mobile)
        start = w.session_start(1_000, 90_000, user.last_seen)
    else:
        start = w.session_start(1_000, 90_000)
        user = w.new_user(start, with_account=w.chance(0.3))
        dev = w.phone()
        user.devices.append(dev)
        w.mobile_users.append(user)
    at = start
    skew = w.begin_session()
    user.sessions += 1
    app = (dev.mobile or {})["app"]
    signed_in = user.sessions > 1 or w.chance(0.6)
    events: list[Event] = []
    user_id = user.id if user.sessions > 1 else None
    opened = {"from_background": user.sessions > 1 and w.chance(0.5), "version": app["version"], "build": app["build"]}
    events.append(_mobile(w, dev, user_id, "track", {"event": "Application Opened", "properties": opened}, at, skew))
    if signed_in:
        at += w.randrange(500, 20_000)
        user_id = user.id
        events.append(_mobile(w, dev, user_id, "identify", {"traits": _copy(user.traits)}, at, skew))
        if user.account is not None and w.chance(0.5):
            at += w.randrange(50, 800)
            account = user.account
            events.append(
                _mobile(w, dev, user_id, "group", {"groupId": account.id, "traits": _copy(account.traits)}, at, skew)
            )
    for _ in range(w.randrange(2, 10)):
        at += w.randrange(1_500, 60_000)
        if w.chance(0.5):
            name = w.choice(MOBILE_SCREENS)
            events.append(_mobile(w, dev, user_id, "screen", {"name": name, "properties": {"name": name}}, at, skew))
            continue
        roll = w.randrange(10)
        if roll < 4:
            body = {
                "event": "Item Viewed",
                "properties": {"itemId": "itm_" + w.hex(6), "category": w.choice(("shoes", "books", "audio"))},
            }
        elif roll < 6:
            body = {
                "event": "Search Performed",
                "properties": {
                    "query": slug(w.choice(w.pools.last_names))[:8] or "query",
                    "results": w.randrange(0, 60),
                },
            }
        elif roll < 8:
            body = {
                "event": "Push Notification Tapped",
                "properties": {"campaign": w.choice(("winback", "digest", "promo"))},
            }
        else:
            cents = w.randrange(499, 25_000)
            body = {
                "event": "Order Completed",
                "properties": {
                    "orderId": "ord_" + w.hex(10),
                    "revenue": money(cents),
                    "currency": w.currency,
                    "items": w.randrange(1, 5),
                },
            }
        events.append(_mobile(w, dev, user_id, "track", body, at, skew))
    at += w.randrange(1_000, 30_000)
    events.append(_mobile(w, dev, user_id, "track", {"event": "Application Backgrounded", "properties": {}}, at, skew))
    user.last_seen = at + 1_000
    return events, None


# -- edge cases -----------------------------------------------------------------------------------------


def _edge_base(w: World) -> tuple[Device, int, dict[str, Any]]:
    dev = w.browser()
    at = w.session_start(1_000, 60_000)
    w.begin_session()
    page = _page_info(w, w.app, "Dashboard", "/dashboard", "")
    return dev, at, page


def _edge(w: World, dev: Device, user_id: Any, kind: str, body: Event, page: dict[str, Any], at: int) -> Event:
    return _browser(w, dev, user_id, kind, body, page, at, 0)


def _steps(w: World, at: int, k: int) -> list[int]:
    out = []
    for _ in range(k):
        at += w.randrange(1_000, 20_000)
        out.append(at)
    return out


def edge_unicode(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid = w.unique("usr_ü_", 6)
    traits = {
        "name": "Zoë Ångström-Nuñez 🚀",
        "nickname": "日本語テスト",
        "bio": 'Ünïcödé ✓ — «quotes» "double" \\backslash',
        "emoji": "👩\u200d💻🇧🇷",
    }
    return [
        _edge(w, dev, uid, "identify", {"traits": traits}, page, t[0]),
        _edge(
            w,
            dev,
            uid,
            "track",
            {"event": "Réservation confirmée ✓", "properties": {"prix €": 12.5, "ville": "Zürich", "emoji": "🎉"}},
            page,
            t[1],
        ),
        _edge(w, dev, uid, "track", {"event": "注文完了", "properties": {"商品": "本", "数量": 2}}, page, t[2]),
    ]


def edge_trait_named_id(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    uid, gid = w.unique("usr_", 10), w.unique("acc_", 8)
    return [
        _edge(
            w,
            dev,
            uid,
            "identify",
            {"traits": {"id": "crm-" + w.hex(6), "email": f"id.{w.hex(4)}@example.com"}},
            page,
            t[0],
        ),
        _edge(
            w,
            dev,
            uid,
            "group",
            {"groupId": gid, "traits": {"id": "sf-" + w.hex(6), "name": "Trait Id Corp"}},
            page,
            t[1],
        ),
    ]


def edge_nested(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid, gid = w.unique("usr_", 10), w.unique("acc_", 8)
    traits = {
        "address": {
            "street": w.choice(w.pools.streets),
            "city": w.choice(w.pools.cities),
            "geo": {"lat": 52.52, "lng": 13.405},
        },
        "preferences": {"theme": "dark", "notifications": {"email": True, "push": False, "digest": {"day": "monday"}}},
        "tags": ["beta", "power-user", "eu"],
        "teams": [{"id": 1, "name": "Core"}, {"id": 2, "name": "Growth", "lead": True}],
        "matrix": [[1, 2], [3, [4, 5]]],
        "empty": {},
        "none": [],
    }
    return [
        _edge(w, dev, uid, "identify", {"traits": traits}, page, t[0]),
        _edge(
            w,
            dev,
            uid,
            "group",
            {"groupId": gid, "traits": {"name": "Nested Inc", "billing": {"plan": {"name": "pro", "seats": 12}}}},
            page,
            t[1],
        ),
        _edge(
            w,
            dev,
            uid,
            "track",
            {
                "event": "Filter Applied",
                "properties": {"filters": [{"field": "plan", "op": "in", "values": ["pro", "business"]}]},
            },
            page,
            t[2],
        ),
    ]


def edge_nulls(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid, gid = w.unique("usr_", 10), w.unique("acc_", 8)
    return [
        _edge(
            w,
            dev,
            uid,
            "identify",
            {"traits": {"email": None, "phone": None, "name": "Null Traits", "address": {"city": None}}},
            page,
            t[0],
        ),
        _edge(w, dev, uid, "group", {"groupId": gid, "traits": {"name": None, "plan": "pro"}}, page, t[1]),
        _edge(
            w,
            dev,
            uid,
            "track",
            {"event": "Form Submitted", "properties": {"coupon": None, "value": 0, "valid": False}},
            page,
            t[2],
        ),
    ]


def edge_numeric_ids(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid = w.randrange(1, 10**9)
    gid = w.randrange(1, 10**6)
    return [
        _edge(w, dev, uid, "identify", {"traits": {"name": "Numeric Id", "employeeNumber": 7}}, page, t[0]),
        _edge(w, dev, uid, "group", {"groupId": gid, "traits": {"name": "Numeric Account"}}, page, t[1]),
        _edge(
            w,
            dev,
            uid,
            "track",
            {"event": "Invoice Paid", "properties": {"invoiceId": 10042, "amount": 99.99}},
            page,
            t[2],
        ),
    ]


def edge_empty_strings(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid = w.unique("usr_", 10)
    return [
        # userId "" counts as absent (analytics-python's `user_id or anonymous_id`): the anonymousId identifies.
        _edge(w, dev, "", "track", {"event": "Viewed Empty", "properties": {"label": ""}}, page, t[0]),
        _edge(
            w,
            dev,
            uid,
            "identify",
            {"traits": {"title": "", "name": "Empty Title", "company": {"name": ""}}},
            page,
            t[1],
        ),
        _edge(w, dev, uid, "track", {"event": "Searched", "properties": {"query": "", "": "empty key"}}, page, t[2]),
    ]


def edge_near_limit(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    uid = w.unique("usr_", 10)
    ev = _edge(w, dev, uid, "identify", {"traits": {"name": "Long Bio", "bio": ""}}, page, t[0])

    # Fill to a few hundred bytes under 32 KB, measured both compactly and as analytics-python measures it.
    words = w.pools.catch_phrases
    parts: list[str] = []
    target = MAX_EVENT_BYTES - 400 - event_size(ev)
    size = 0
    while size < target:
        word = slug(w.choice(words)) or "lorem"
        parts.append(word)
        size += len(word) + 1
    ev["traits"]["bio"] = " ".join(parts)[:target]
    props = {"payload": "x" * (MAX_EVENT_BYTES - 1_200)}
    big = _edge(w, dev, uid, "track", {"event": "Large Payload Sent", "properties": props}, page, t[1])
    return [ev, big]


def edge_identify_without_traits(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid = w.unique("usr_", 10)
    first = _edge(w, dev, uid, "identify", {}, page, t[0])
    return [
        first,
        _edge(w, dev, uid, "identify", {"traits": {}}, page, t[1]),
        _edge(w, dev, uid, "track", {"event": "Logged In", "properties": {}}, page, t[2]),
    ]


def edge_group_anonymous(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    gid = w.unique("acc_", 8)
    return [
        _edge(
            w,
            dev,
            None,
            "group",
            {"groupId": gid, "traits": {"name": "Anonymous Group Co", "plan": "free"}},
            page,
            t[0],
        ),
        _edge(w, dev, None, "track", {"event": "Trial Started", "properties": {"plan": "free"}}, page, t[1]),
    ]


def edge_page_screen_alias(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 4)
    uid = w.unique("usr_", 10)
    alias = _edge(w, dev, uid, "alias", {"previousId": dev.anonymous_id}, page, t[2])
    return [
        _edge(
            w,
            dev,
            None,
            "page",
            {"name": "Pricing", "category": "Marketing", "properties": dict(page, name="Pricing")},
            page,
            t[0],
        ),
        _edge(w, dev, None, "screen", {"name": "Onboarding Step 1", "properties": {"step": 1}}, page, t[1]),
        alias,
        _edge(w, dev, uid, "page", {"properties": dict(page)}, page, t[3]),
    ]


def edge_reserved_traits(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid, gid = w.unique("usr_", 10), w.unique("acc_", 8)
    first, last, local = w.person()
    snake = {
        "first_name": first,
        "last_name": last,
        "created_at": iso_ms(t[0] - 86_400_000),
        "company": {"name": "Snake Case Ltd", "employee_count": 42, "plan": "pro"},
        "email": f"{local}@example.org",
    }
    camel = {
        "firstName": first,
        "lastName": last,
        "createdAt": iso_ms(t[0] - 86_400_000),
        "avatar": "https://example.org/a.png",
    }
    return [
        _edge(w, dev, uid, "identify", {"traits": snake}, page, t[0]),
        _edge(w, dev, uid, "identify", {"traits": camel}, page, t[1]),
        _edge(
            w,
            dev,
            uid,
            "group",
            {"groupId": gid, "traits": {"employee_count": 42, "employees": 42, "created_at": iso_ms(t[2])}},
            page,
            t[2],
        ),
    ]


def edge_timestamps(w: World) -> list[Event]:
    """Timestamps with UTC offsets and without milliseconds: the same instants, other spellings."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    uid = w.unique("usr_", 10)
    out = [
        _edge(w, dev, uid, "identify", {"traits": {"name": "Offset Clock"}}, page, t[0]),
        _edge(w, dev, uid, "track", {"event": "Clock Checked", "properties": {"tz": "+02:00"}}, page, t[1]),
    ]
    for ev, instant in zip(out, t):
        ev["timestamp"] = iso_offset(instant + 100, 120)
        ev["originalTimestamp"] = iso_offset(instant, -300)
    return out


def edge_property_names(w: World) -> list[Event]:
    """Names Pendo's Track Events rules flag (spaces, leading digit, dunder, long) and odd event names."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    uid = w.unique("usr_", 10)
    props = {
        "has space": 1,
        "1st": True,
        "__dunder__": "x",
        "kebab-case": "y",
        "a_very_long_property_name_over_32_chars": 3,
        "big": 2**53 - 1,
        "tiny": 1e-07,
        "negative": -12.5,
    }
    return [
        _edge(w, dev, uid, "track", {"event": "user.signed-up/v2", "properties": props}, page, t[0]),
        _edge(w, dev, uid, "track", {"event": "  Padded Name  ", "properties": {"ok": "yes"}}, page, t[1]),
    ]


def edge_parent_accounts(w: World) -> list[Event]:
    """parentAccount inside group traits, and an account id that already holds '::'."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid = w.unique("usr_", 10)
    parent = w.unique("org_", 6)
    child = w.unique("acc_", 8)
    return [
        _edge(
            w,
            dev,
            uid,
            "group",
            {
                "groupId": child,
                "traits": {"name": "Child Co", "parentAccount": {"id": parent, "name": "Parent Group", "tier": 1}},
            },
            page,
            t[0],
        ),
        _edge(
            w, dev, uid, "group", {"groupId": f"{parent}::{child}", "traits": {"name": "Already Joined"}}, page, t[1]
        ),
        _edge(w, dev, uid, "track", {"event": "Team Switched", "properties": {"groupId": child}}, page, t[2]),
    ]


def edge_group_context(w: World) -> list[Event]:
    """A track attributed to a company through context.groupId and also properties.groupId."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    uid, gid, other = w.unique("usr_", 10), w.unique("acc_", 8), w.unique("acc_", 8)
    first = _edge(w, dev, uid, "track", {"event": "Report Submitted", "properties": {}}, page, t[0])
    first["context"]["groupId"] = gid
    second = _edge(w, dev, uid, "track", {"event": "Report Submitted", "properties": {"groupId": other}}, page, t[1])
    second["context"]["groupId"] = gid
    return [first, second]


EDGE_CASES: dict[str, Callable[[World], list[Event]]] = {
    "unicode": edge_unicode,
    "trait-named-id": edge_trait_named_id,
    "nested": edge_nested,
    "nulls": edge_nulls,
    "numeric-ids": edge_numeric_ids,
    "empty-strings": edge_empty_strings,
    "near-limit": edge_near_limit,
    "identify-without-traits": edge_identify_without_traits,
    "group-anonymous": edge_group_anonymous,
    "page-screen-alias": edge_page_screen_alias,
    "reserved-traits": edge_reserved_traits,
    "timestamps": edge_timestamps,
    "property-names": edge_property_names,
    "parent-accounts": edge_parent_accounts,
    "group-context": edge_group_context,
}
_EDGE_ORDER = tuple(EDGE_CASES)


def edge_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """The cases that break integrations, one per session, in a fixed rotation."""
    case = _EDGE_ORDER[n % len(_EDGE_ORDER)]
    return EDGE_CASES[case](w), case
