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
    Account,
    Device,
    Id,
    User,
    World,
    iso_format,
    iso_ms,
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


def _sent(who: User | Account) -> dict[str, Any]:
    """The traits an identify or group call sends: none for a user or account whose app never sends any."""
    return {} if who.traitless else _copy(who.traits)


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


def _group_source(w: World, ev: Event, kind: str, account: Account) -> bool:
    """Name the track's account the way ``kind`` says; False when it cannot (no second account yet)."""
    if kind == "context":
        ev["context"]["groupId"] = account.id
    elif kind == "properties":
        ev["properties"]["groupId"] = account.id
    elif kind == "both-same":
        ev["context"]["groupId"] = ev["properties"]["groupId"] = account.id
    else:  # both-different: the properties name another account (the one the action was about)
        accounts = w.accounts
        if len(accounts) < 2:
            return False
        other = accounts[w.randrange(len(accounts) - 1)]
        if other is account:
            other = accounts[-1]
        ev["context"]["groupId"] = account.id
        ev["properties"]["groupId"] = other.id
    return True


def _track_hazards(w: World, ev: Event, account: Account | None, where: str, context_rate: float = 0.0) -> None:
    """Plant the schedule's track hazards in ``ev``, the event stamped last: a property of an odd shape, the
    account named in context and/or properties, an odd spelling of the timestamp. Without a hazard, a track of a
    user with an account carries ``context.groupId`` at ``context_rate``."""
    hazards = w.hazards
    shape = hazards.take_one("properties")
    if shape is not None:
        name, value = w.property_hazard(shape, where)
        ev["properties"][name] = value
    if account is not None:
        source = hazards.take_one("trackGroup")
        if source is None:
            if context_rate and w.chance(context_rate):
                ev["context"]["groupId"] = account.id
        elif not _group_source(w, ev, source, account):
            hazards.put_back("trackGroup", source)
    spelling = hazards.take_one("timestamp")
    if spelling is not None and not w.restamp(ev, spelling):
        hazards.put_back("timestamp", spelling)


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


EARLY_RETURNS = 2  # returning visits a scenario may make while the schedule still has user ids to plant


def _returns(w: World, scenario: str, rate: float) -> bool:
    """Whether this session is a returning user's. While user ids remain to plant, only a few are (each new user
    takes one), at a lower rate, so that a short check sees both the hazards and returning visits."""
    if not w.hazards.planting("userId", "traits"):
        return w.chance(rate)
    if w.early_returns.get(scenario, 0) >= EARLY_RETURNS or not w.chance(rate / 2):
        return False
    w.early_returns[scenario] = w.early_returns.get(scenario, 0) + 1
    return True


def saas_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """B2B web app: anonymous marketing pages, then identify, group, and product use."""
    # While the schedule still has ids to plant, sessions are short and new users' (but for a few returning
    # visits): the ids that need a user each reach the first ~100 events.
    planting = w.hazards.planting("userId", "groupId")
    if w.account_users and _returns(w, "saas", 0.45):
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
    events.append(_browser(w, dev, user.id, "identify", {"traits": _sent(user)}, page, at, skew))
    account = user.account
    assert account is not None
    if account.hazards or w.chance(0.92):  # an account with a hazard always shows it
        at += w.randrange(50, 1_500)
        events.append(
            _browser(w, dev, user.id, "group", {"groupId": account.id, "traits": _sent(account)}, page, at, skew)
        )
    referrer = page["url"]
    for _ in range(w.randrange(3, 7) if planting else w.randrange(3, 13)):
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
        _track_hazards(w, ev, account, page["path"], 0.3)
        events.append(ev)
        if name == "Subscription Upgraded":
            # The app calls identify({plan}) and group({plan}); analytics.js merges them into the stored
            # traits and sends the merged traits, as it does for every identify and group call.
            account.traits["plan"] = props["toPlan"]
            user.traits["plan"] = props["toPlan"]
            at += w.randrange(200, 3_000)
            events.append(_browser(w, dev, user.id, "identify", {"traits": _sent(user)}, page, at, skew))
            at += w.randrange(50, 1_000)
            events.append(
                _browser(w, dev, user.id, "group", {"groupId": account.id, "traits": _sent(account)}, page, at, skew)
            )
    user.last_seen = at + 1_000
    return events, None


def anonymous_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """A visitor who browses and clicks but never identifies (some come back on the same browser)."""
    if w.anonymous_devices and not w.hazards.planting("anonymousId") and w.chance(0.3):
        dev = w.choice(w.anonymous_devices)
        start = w.session_start(1_000, 60_000, dev.last_seen)
    else:
        anonymous_id, kind = w.new_id("anonymousId")  # a site may set its own anonymousId (setAnonymousId)
        dev = w.browser(anonymous_id)
        if kind:
            dev.hazards = (f"anonymousId:{kind}",)
        w.admit(w.anonymous_devices, dev)
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
            ev = _browser(w, dev, None, "track", {"event": w.choice(ANON_TRACKS), "properties": props}, page, at, skew)
            _anonymous_track_hazards(w, ev, page["path"], at)
            events.append(ev)
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


def _anonymous_track_hazards(w: World, ev: Event, where: str, at: int) -> None:
    """The track hazards of an anonymous visitor: one on a company's own (tenant) page names that company."""
    hazards = w.hazards
    shape = hazards.take_one("anonymousProperties")
    if shape is not None:
        name, value = w.property_hazard(shape, where)
        ev["properties"][name] = value
    source = hazards.take_one("anonymousTrackGroup")
    if source is not None:
        while len(w.accounts) < 2:
            w.new_account(at, plant=False)
        _group_source(w, ev, source, w.choice(w.accounts))
    spelling = hazards.take_one("anonymousTimestamp")
    if spelling is not None and not w.restamp(ev, spelling):
        hazards.put_back("anonymousTimestamp", spelling)


def mobile_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """A phone app session: lifecycle tracks, screen calls, identify once signed in, purchases."""
    hazards = w.hazards
    if w.mobile_users and _returns(w, "mobile", 0.5):
        user = w.choice(w.mobile_users)
        dev = next(d for d in user.devices if d.mobile)
        start = w.session_start(1_000, 90_000, user.last_seen)
    else:
        start = w.session_start(1_000, 90_000)
        user = w.new_user(start, with_account=hazards.planting("groupId", "groupTraits") or w.chance(0.3))
        dev = w.phone()
        user.devices.append(dev)
        w.admit_user(w.mobile_users, user)
    at = start
    skew = w.begin_session()
    user.sessions += 1
    app = (dev.mobile or {})["app"]
    account = user.account
    odd = bool(user.hazards) or (account is not None and bool(account.hazards))
    signed_in = user.sessions > 1 or odd or w.chance(0.6)  # a user with a hazard shows it
    events: list[Event] = []
    user_id = user.id if user.sessions > 1 else None
    opened = {"from_background": user.sessions > 1 and w.chance(0.5), "version": app["version"], "build": app["build"]}
    events.append(_mobile(w, dev, user_id, "track", {"event": "Application Opened", "properties": opened}, at, skew))
    if signed_in:
        at += w.randrange(500, 20_000)
        user_id = user.id
        events.append(_mobile(w, dev, user_id, "identify", {"traits": _sent(user)}, at, skew))
        if account is not None and (account.hazards or w.chance(0.5)):
            at += w.randrange(50, 800)
            events.append(
                _mobile(w, dev, user_id, "group", {"groupId": account.id, "traits": _sent(account)}, at, skew)
            )
    screen = "Home"  # where the app opens
    for _ in range(w.randrange(2, 10)):
        at += w.randrange(1_500, 60_000)
        if w.chance(0.5):
            screen = w.choice(MOBILE_SCREENS)
            events.append(
                _mobile(w, dev, user_id, "screen", {"name": screen, "properties": {"name": screen}}, at, skew)
            )
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
        ev = _mobile(w, dev, user_id, "track", body, at, skew)
        if user_id is not None:
            _track_hazards(w, ev, account, screen)
        events.append(ev)
    at += w.randrange(1_000, 30_000)
    ev = _mobile(w, dev, user_id, "track", {"event": "Application Backgrounded", "properties": {}}, at, skew)
    if user_id is not None:
        _track_hazards(w, ev, account, screen)
    events.append(ev)
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


def _uid(w: World) -> Id:
    """A new user id (the schedule's identity hazards land here too)."""
    return w.new_id("userId")[0]


def _gid(w: World) -> Id:
    """A new account id (the schedule's identity hazards land here too)."""
    return w.new_id("groupId")[0]


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
    uid, gid = _uid(w), _gid(w)
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
    uid, gid = _uid(w), _gid(w)
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
            {
                "groupId": gid,
                "traits": {
                    "name": "Nested Inc",
                    "billing": {"plan": {"name": "pro", "seats": 12}},
                    "contracts": [{"product": "analytics", "seats": 10}, {"product": "guides", "seats": 3}],
                    "customFields": {},
                },
            },
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
                "properties": {
                    "filters": [{"field": "plan", "op": "in", "values": ["pro", "business"]}],
                    "sort": {"field": "createdAt", "order": "desc"},
                    "options": {},
                },
            },
            page,
            t[2],
        ),
    ]


def edge_nulls(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 3)
    uid, gid = _uid(w), _gid(w)
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
    t = _steps(w, at, 4)
    uid, gid = _uid(w), _gid(w)
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
        _edge(
            w, dev, uid, "group", {"groupId": gid, "traits": {"name": "Empty Fields Ltd", "vatNumber": ""}}, page, t[3]
        ),
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
    t = _steps(w, at, 4)
    uid = _uid(w)
    first = _edge(w, dev, uid, "identify", {}, page, t[0])
    return [
        first,
        _edge(w, dev, uid, "identify", {"traits": {}}, page, t[1]),
        _edge(w, dev, uid, "group", {"groupId": _gid(w), "traits": {}}, page, t[2]),
        _edge(w, dev, uid, "track", {"event": "Logged In", "properties": {}}, page, t[3]),
    ]


def edge_group_anonymous(w: World) -> list[Event]:
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    gid = _gid(w)
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
    uid = _uid(w)
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
    uid, gid = _uid(w), _gid(w)
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


# (UTC offset in minutes, fraction digits, "Z" for offset 0) of the timestamps of edge case `timestamps`.
_EDGE_SPELLINGS = ((0, 6, False), (-330, 6, True), (120, 0, True), (0, 0, True))


def edge_timestamps(w: World) -> list[Event]:
    """Timestamps with UTC offsets, without a fraction and with 6 fraction digits: the same instants, spelled
    otherwise (``timestamp`` and ``originalTimestamp`` of each event keep their meaning)."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 4)
    uid = _uid(w)
    out = [
        _edge(w, dev, uid, "identify", {"traits": {"name": "Offset Clock"}}, page, t[0]),
        _edge(w, dev, uid, "track", {"event": "Clock Checked", "properties": {"tz": "-05:30"}}, page, t[1]),
        _edge(w, dev, uid, "track", {"event": "Clock Checked", "properties": {"tz": "+02:00"}}, page, t[2]),
        _edge(w, dev, uid, "track", {"event": "Clock Checked", "properties": {"tz": "Z"}}, page, t[3]),
    ]
    for ev, instant, (offset, digits, zulu) in zip(out, t, _EDGE_SPELLINGS):
        whole = instant - instant % 1000 + 1000  # a whole second, after the instant the event was stamped at
        micros = w.randrange(500)
        ev["timestamp"] = iso_format(whole if digits == 0 else instant + 100, offset, digits, micros, zulu)
        ev["originalTimestamp"] = iso_format(instant, -300, digits or 3, micros, zulu)
    return out


def edge_property_names(w: World) -> list[Event]:
    """Names Pendo's Track Events rules flag (spaces, leading digit, dunder, long) and odd event names."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 2)
    uid = _uid(w)
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
    uid = _uid(w)
    parent = w.unique("org_", 6)
    child = _gid(w)
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
    """Tracks attributed to a company through context.groupId, properties.groupId, both with the same value, and
    both with different values."""
    dev, at, page = _edge_base(w)
    t = _steps(w, at, 4)
    uid, gid, other = _uid(w), _gid(w), _gid(w)
    out = []
    for when, (in_context, in_properties) in zip(t, ((gid, None), (None, gid), (gid, gid), (gid, other))):
        ev = _edge(w, dev, uid, "track", {"event": "Report Submitted", "properties": {}}, page, when)
        if in_context is not None:
            ev["context"]["groupId"] = in_context
        if in_properties is not None:
            ev["properties"]["groupId"] = in_properties
        out.append(ev)
    return out


# The rotation puts first the cases that break relays most often, so that a short check of a mix meets them.
EDGE_CASES: dict[str, Callable[[World], list[Event]]] = {
    "unicode": edge_unicode,
    "numeric-ids": edge_numeric_ids,
    "parent-accounts": edge_parent_accounts,
    "group-context": edge_group_context,
    "nested": edge_nested,
    "nulls": edge_nulls,
    "timestamps": edge_timestamps,
    "empty-strings": edge_empty_strings,
    "trait-named-id": edge_trait_named_id,
    "reserved-traits": edge_reserved_traits,
    "identify-without-traits": edge_identify_without_traits,
    "group-anonymous": edge_group_anonymous,
    "property-names": edge_property_names,
    "near-limit": edge_near_limit,
    "page-screen-alias": edge_page_screen_alias,
}
_EDGE_ORDER = tuple(EDGE_CASES)


def edge_session(w: World, n: int) -> tuple[list[Event], str | None]:
    """The cases that break integrations, one per session, in a fixed rotation."""
    case = _EDGE_ORDER[n % len(_EDGE_ORDER)]
    return EDGE_CASES[case](w), case
