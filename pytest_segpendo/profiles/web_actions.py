"""Profile ``web-actions``: the Pendo Web (Actions) destination in the browser (device mode), replayed per browser.

For this profile a traffic event is the page's call (``analytics.identify(userId, traits)``,
``analytics.group(groupId, traits)``, ``analytics.track(event, properties)``, with the event's ``context`` as
the call's options), not the event Segment delivers. analytics.js (``@segment/analytics-next`` 1.84.3,
``core/analytics/index.ts``, ``core/user/index.ts``, ``core/arguments-resolver``) builds the event the
destination gets from its own memory: an identify carries the user's remembered traits merged with the call's
(for the same or no user id; another id replaces them and forgets the anonymous id), a group the group's;
``properties`` that are not an object become ``{}``; a track without a name is refused (no event).

The destination (segmentio/action-destinations ``browser-destinations/destinations/pendo-web-actions``,
2026-08 head) then calls the Pendo agent: ``pendo.initialize`` when a page loads, with what analytics.js
remembers of the user and the group; ``pendo.identify`` for identify and group events; ``pendo.track`` for
track events. What reaches Pendo depends on the agent (:mod:`.agent`). The profile replays every browser's
events in order through a model of analytics.js's memory, of the actions and of the agent;
``examples/web-actions`` checks it with the real analytics-next and the real agent in Chromium.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..events import timestamp_ms
from ..mapping.js import UNDEFINED, js_number, js_string, js_truthy, json_parse
from ..mapping.kit import _assign
from .agent import ANONYMOUS_PATTERN, Agent
from .base import Action, ActionSpec, CompareHints, Emit, FieldSpec, Profile, Setting

SEGMENT_CALLS = ("identify", "group", "track", "page", "screen", "alias")  # the calls the page makes


def P(path: str) -> dict[str, str]:
    return {"@path": path}


SOURCE = "action-destinations pendo-web-actions"

IDENTIFY = ActionSpec(
    name="identify",
    kind="identify",
    title="Send Identify Event",
    subscription='type = "identify"',
    fields={
        "visitorId": FieldSpec(P("$.userId"), "visitor.id", f"{SOURCE} src/identify/index.ts"),
        "visitorData": FieldSpec(P("$.traits"), "visitor metadata", f"{SOURCE} src/identify/index.ts"),
        "accountId": FieldSpec(
            {"@if": {"exists": P("$.context.groupId"), "then": P("$.context.groupId"), "else": P("$.groupId")}},
            "account.id (no account metadata)",
            f"{SOURCE} src/identify/index.ts (commits aa72a00cc3, f5faa5b0f8)",
        ),
    },
    does=(
        "`pendo.identify({visitor: {...visitorData, id: visitorId}, account: {id: accountId}})`; without an "
        "accountId the group id analytics.js remembers is used (unless `disableGroupIdAndTraitsOnLoad`). The event "
        "is analytics.js's: `traits` are the user's remembered traits merged with the call's (a call with another "
        "user id starts them over), `userId` the remembered id when the call has none. Without any user id the "
        "agent keeps its current visitor (the metadata is still written)."
    ),
)

GROUP = ActionSpec(
    name="group",
    kind="group",
    title="Send Group Event",
    subscription='type = "group"',
    fields={
        "visitorId": FieldSpec(P("$.userId"), "visitor.id", f"{SOURCE} src/group/index.ts"),
        "accountId": FieldSpec(P("$.groupId"), "account.id", f"{SOURCE} src/group/index.ts"),
        "accountData": FieldSpec(P("$.traits"), "account metadata", f"{SOURCE} src/group/index.ts"),
        "parentAccountData": FieldSpec(
            P("$.traits.parentAccount"),
            "parentAccount (lifted out of the account metadata)",
            f"{SOURCE} src/group/index.ts and src/utils.ts (removeNestedObject)",
        ),
    },
    does=(
        "`pendo.identify({visitor: {id: visitorId}, account: {...accountData, id: accountId}, parentAccount})`; "
        "when the parentAccountData path lies inside the accountData path, that part is removed from the account "
        "metadata. The agent then uses `parent::child` as the account id (unless the id already holds `::`). The "
        "event is analytics.js's: `traits` are the group's remembered traits merged with the call's (another group "
        "id starts them over), so a later call without `parentAccount` still carries the remembered one; `userId` "
        "is the user analytics.js remembers."
    ),
)

TRACK = ActionSpec(
    name="track",
    kind="track",
    title="Send Track Event",
    subscription='type = "track"',
    fields={
        "event": FieldSpec(P("$.event"), "track event name", f"{SOURCE} src/track/index.ts"),
        "metadata": FieldSpec(P("$.properties"), "track event properties", f"{SOURCE} src/track/index.ts"),
    },
    does=(
        "`pendo.track(event, metadata)`: the event carries the agent's CURRENT visitor and account, not fields of "
        "the track call. analytics.js refuses a track whose name is missing, empty or not a string (its promise "
        "rejects with `Event missing`: no event), and sends `properties` that are not an object as `{}`. (A "
        'mapping that gives the agent non-object metadata gets `{"__err__": value}`.)'
    ),
)


@dataclass
class Browser:
    """One browser: analytics.js's memory (its user and group, as analytics-next keeps them) and the Pendo agent.

    Ids are kept as analytics-next reads them back (a number comes back as a string); ``anonymous_id`` is None
    when analytics.js made one up itself (a random id: the browser had none, or it forgot it for a new user).
    """

    anonymous_id: Any = None
    user_id: Any = None
    user_traits: dict[str, Any] = field(default_factory=dict)
    group_id: Any = None
    group_traits: dict[str, Any] = field(default_factory=dict)
    agent: Agent = field(default_factory=Agent)
    last_seen: int | None = None
    loaded: bool = False


def _read_id(value: Any) -> Any:
    """A user or group id as analytics-next reads it back from its storage: ``getAndSync`` turns a number into
    a string; a falsy id is no id (``User.id()``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = js_number(value)
    return value if js_truthy(value) else None


def _read_anonymous_id(value: Any) -> Any:
    """The anonymous id as analytics-next 1.84.3 reads it back: from its cookie first (``getConsistent``), whose
    text it parses as JSON when it can (``"12"`` comes back as the string ``"12"``, ``"1e3"`` as ``"1000"``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return js_number(value)
    if not isinstance(value, str):
        return value
    try:
        parsed = json_parse(value)
    except ValueError:
        return value
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        return js_number(parsed)
    if parsed is None or parsed == "" or isinstance(parsed, str):
        return value
    return parsed


def _same(a: Any, b: Any) -> bool:
    """JavaScript's ``a === b`` for ids (strings, numbers, booleans, null; objects are never the same)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return False


def _user_arguments(args: list[Any], current_id: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """analytics-next ``resolveUserArguments`` for ``identify(...args)`` / ``group(...args)``: (id, traits, options).

    A string or number id becomes a string; a null or missing id is the remembered one; an id of another kind is
    skipped, and the arguments after it shift (traits take its place only if it is an object)."""
    order = ["callback", "options", "traits", "id"]
    values: dict[str, Any] = {}
    for arg in args:
        current = order.pop() if order else None
        if current == "id":
            if isinstance(arg, str) or (isinstance(arg, (int, float)) and not isinstance(arg, bool)):
                values["id"] = js_string(arg)
                continue
            if arg is None or arg is UNDEFINED:
                continue
            current = order.pop() if order else None
        if current in ("traits", "options") and (arg is None or arg is UNDEFINED or type(arg) is dict):
            values[current] = arg
    given = values.get("id")
    traits = values.get("traits")
    options = values.get("options")
    return (
        given if given is not None else current_id,
        traits if isinstance(traits, dict) else {},
        options if isinstance(options, dict) else {},
    )


def _identify(
    current_id: Any, current_traits: dict[str, Any], new_id: Any, traits: dict[str, Any]
) -> tuple[Any, dict[str, Any], bool]:
    """analytics-next ``User.identify`` (and ``Group.identify``): the traits merge into the remembered ones when
    the id is the same or none was remembered; another id replaces them. Returns the id and traits it keeps, and
    whether the id changed from one to another (then ``User.id`` forgets the anonymous id)."""
    if current_id is None or _same(current_id, new_id):
        traits = {**current_traits, **traits}
    if not js_truthy(new_id):
        return current_id, traits, False
    return _read_id(new_id), traits, current_id is not None and not _same(new_id, current_id)


def _call_context(options: dict[str, Any]) -> dict[str, Any]:
    """The ``context`` analytics-next's event factory makes of a call's options: ``options.context``, plus every
    other option except ``integrations`` and the event overrides (userId, anonymousId, timestamp, messageId)."""
    context = options.get("context")
    out = dict(context) if type(context) is dict else {}
    for key, value in options.items():
        if key not in ("context", "integrations", "userId", "anonymousId", "timestamp", "messageId"):
            out[key] = value
    return out


def _remove_nested(obj: Any, path: str) -> Any:
    """``removeNestedObject`` of the destination's utils: a copy of ``obj`` without the value at ``path``."""
    if not isinstance(obj, dict):
        return obj
    keys = [k for k in path.split(".") if k]
    out = dict(obj)
    current = out
    for i, key in enumerate(keys):
        if not isinstance(current, dict) or key not in current:
            return out
        if i == len(keys) - 1:
            del current[key]
        else:
            current[key] = dict(current[key]) if isinstance(current[key], dict) else current[key]
            current = current[key]
    return out


class WebActionsProfile(Profile):
    name = "web-actions"
    title = "Pendo Web (Actions), device mode, with the real Pendo agent"
    summary = (
        "Each browser (events sharing an anonymousId) is replayed in order: a page load initializes Pendo with "
        "what analytics.js remembers, then identify, group and track calls go through their actions and the "
        "agent. Here an event is the page's call (`analytics.identify(userId, traits)`, "
        "`analytics.group(groupId, traits)`, `analytics.track(event, properties)`, its `context` as the options), "
        "and the actions read the event analytics.js builds from it: traits merged with the ones it remembers for "
        "the same user or group (another id starts them over), ids as it remembers them (numbers read back as "
        "strings), `properties` `{}` unless an object, no event for a track without a name "
        '(`get_profile("web-actions").analytics_events(events)` lists those events). The server-side profiles '
        "read each event as Segment delivers it. Events from mobile or server sources never reach a browser "
        "destination and are ignored."
    )
    sources = (
        "segmentio/action-destinations packages/browser-destinations/destinations/pendo-web-actions (2026-08 head)",
        "@segment/analytics-next 1.84.3 (core/analytics/index.ts, core/user/index.ts, core/arguments-resolver), "
        "run in headless Chromium (examples/web-actions)",
        "@pendo/agent 2.291.4, observed in headless Chromium (tests/test_pendo_agent.py)",
    )
    settings_spec = {
        "disableUserTraitsOnLoad": Setting(False, "initialize Pendo on page load without the user's traits"),
        "disableGroupIdAndTraitsOnLoad": Setting(
            False, "initialize Pendo on page load without the account; identify does not fall back to the stored group"
        ),
        "pageLoads": Setting(
            "visit",
            "when a page (re)loads and Pendo is initialized again: `visit` (a browser's first event, and its first "
            "event after 30 minutes without one) or `page` (also at every page call: a multi-page site)",
            ("visit", "page"),
        ),
    }
    action_specs = (IDENTIFY, GROUP, TRACK)
    hints = CompareHints(
        view="state",
        timestamp_tolerance_ms=None,
        ignore_paths=("track.context",),
        agent_fields=("visitor.metadata.language",),
        anonymous_id_pattern=True,
        notes=(
            "the agent sends a metadata write only when the options differ from the last ones it sent (and again "
            "on a new day), so compare the state view, or collapse repeated identical writes in the stream view",
            "an id `_PENDO_T_*` stands for an anonymous id made up in the browser (by analytics.js or the agent)",
        ),
    )
    ignored_note = (
        "page, screen and alias calls (the destination has no action for them; a page load still initializes "
        "Pendo); track calls without a name (analytics.js refuses them); events whose `channel` is `mobile` or "
        "`server`."
    )
    VISIT_GAP_MS = 30 * 60 * 1000

    def __init__(self, settings: Any = None, mapping: Any = None):
        super().__init__(settings, mapping)
        self.browsers: dict[str, Browser] = {}
        self.built: list[dict[str, Any] | str] = []  # per event of the last expect(): see analytics_events()

    def expect(self, events: Any) -> Any:
        self.browsers = {}
        self.built = []
        return super().expect(events)

    def _browser(self, event: dict[str, Any]) -> Browser:
        anonymous = event.get("anonymousId")
        if type(anonymous) is str and anonymous:
            key = anonymous
        elif js_truthy(anonymous):
            key = js_string(anonymous)
        else:
            key = "\0user:" + js_string(event.get("userId"))  # no browser id: one browser per user
        browser = self.browsers.get(key)
        if browser is None:
            # a new browser: analytics.js takes the traffic's anonymousId (or makes up a random one)
            known = _read_anonymous_id(anonymous) if js_truthy(anonymous) else None
            browser = self.browsers[key] = Browser(anonymous_id=known)
        return browser

    def _initialize(self, b: Browser) -> dict[str, Any]:
        """The destination's ``initialize``: options from what analytics.js remembers."""
        if js_truthy(b.user_id):
            visitor_id: Any = b.user_id
        elif b.anonymous_id is None:
            visitor_id = ANONYMOUS_PATTERN  # analytics.js's own random anonymous id
        elif js_truthy(b.anonymous_id):
            visitor_id = "_PENDO_T_" + js_string(b.anonymous_id)
        else:
            visitor_id = None
        visitor = {} if self.settings["disableUserTraitsOnLoad"] else dict(b.user_traits)
        visitor["id"] = visitor_id
        options: dict[str, Any] = {"visitor": visitor}
        if js_truthy(b.group_id) and not self.settings["disableGroupIdAndTraitsOnLoad"]:
            options["account"] = {**b.group_traits, "id": b.group_id}
        return options

    def analytics_event(self, b: Browser, event: dict[str, Any]) -> dict[str, Any] | str:
        """The event analytics.js (analytics-next 1.84.3) builds from the page's call for ``event``, and hands to
        the destination; its memory is updated on the way. A string says why it builds none.

        The page's calls: ``identify(userId, traits, options)``, ``group(groupId, traits, options)``,
        ``track(event, properties, options)``, where ``options`` is ``{context}`` when the event has a context
        object. The built event: ids and traits from analytics.js's memory (traits merged for the same id, replaced
        for another), the call's context, ``properties`` ``{}`` unless an object. Other types keep the event's own
        fields, with analytics.js's ids. Fields analytics.js adds from the browser (context.page, userAgent,
        library, messageId, timestamp) are not predicted.
        """
        kind = event.get("type")
        context = event.get("context")
        options: dict[str, Any] = {"context": context} if type(context) is dict else {}
        if kind in ("identify", "group"):
            who = "userId" if kind == "identify" else "groupId"
            current = b.user_id if kind == "identify" else b.group_id
            new_id, traits, options = _user_arguments(
                [event.get(who, UNDEFINED), event.get("traits", UNDEFINED), options], current
            )
            remembered = b.user_traits if kind == "identify" else b.group_traits
            kept_id, kept_traits, changed = _identify(current, remembered, new_id, traits)
            if kind == "identify":
                if changed:
                    b.anonymous_id = None  # another user: analytics.js forgets the anonymous id, makes up another
                b.user_id, b.user_traits = kept_id, kept_traits
                built: dict[str, Any] = {"type": kind, "userId": b.user_id, "traits": dict(b.user_traits)}
            else:
                b.group_id, b.group_traits = kept_id, kept_traits  # (Group has no anonymous id to forget)
                built = {"type": kind, "groupId": b.group_id, "traits": dict(b.group_traits)}
        elif kind == "track":
            name = event.get("event")
            if not isinstance(name, str) or name == "":
                return "analytics.js refuses a track without an event name (its promise rejects: Event missing)"
            properties = event.get("properties")
            built = {"type": kind, "event": name, "properties": properties if type(properties) is dict else {}}
        else:
            built = {k: v for k, v in event.items() if k not in ("userId", "anonymousId")}
        anonymous = options.get("anonymousId")
        if js_truthy(anonymous):
            b.anonymous_id = _read_anonymous_id(anonymous)  # an anonymousId option is taken for good
        built["context"] = _call_context(options)
        for key in ("userId", "anonymousId", "timestamp", "messageId"):
            if key in options:
                built[key] = options[key]
        if js_truthy(b.user_id):
            built["userId"] = b.user_id
        if js_truthy(b.anonymous_id):
            built["anonymousId"] = b.anonymous_id
        elif b.anonymous_id is None:
            built.pop("anonymousId", None)  # a random id analytics.js made up: unknown here
        return built

    def analytics_events(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any] | str]:
        """For each of ``events``, the event analytics.js hands the destination (:meth:`analytics_event`), or why
        none reaches it (a mobile or server event, a track without a name)."""
        self.expect(events)
        return list(self.built)

    def handle(self, event: dict[str, Any], emit: Emit) -> str | None:
        if event.get("channel") in ("mobile", "server"):
            reason = f"a {event.get('channel')} event never reaches a browser destination"
            self.built.append(reason)
            return reason
        b = self._browser(event)
        kind = event.get("type")
        now = timestamp_ms(event.get("timestamp"))
        if b.user_id is None and js_truthy(event.get("userId")) and kind != "identify":
            b.user_id = _read_id(event["userId"])  # analytics.js already knew the user
        load = (
            not b.loaded
            or (self.settings["pageLoads"] == "page" and kind == "page")
            or (now is not None and b.last_seen is not None and now - b.last_seen > self.VISIT_GAP_MS)
        )
        if load:
            b.loaded = True
            for record in b.agent.update_options(self._initialize(b)):
                emit(record)
        if now is not None:
            b.last_seen = now
        self._now = now
        self._current = b
        if kind not in SEGMENT_CALLS:
            self.built.append("not a Segment call")
            return self.run_actions(event, emit)
        built = self.analytics_event(b, event)
        self.built.append(built)
        if isinstance(built, str):
            return built
        return self.run_actions(built, emit)

    def perform(self, action: Action, event: dict[str, Any], payload: dict[str, Any], emit: Emit) -> str | None:
        b = self._current
        if action.kind == "identify":
            visitor = _spread(payload.get("visitorData", UNDEFINED))
            visitor["id"] = payload.get("visitorId", UNDEFINED)
            options: dict[str, Any] = {"visitor": visitor}
            account_id = payload.get("accountId", UNDEFINED)
            if js_truthy(account_id):
                options["account"] = {"id": account_id}
            elif js_truthy(b.group_id) and not self.settings["disableGroupIdAndTraitsOnLoad"]:
                options["account"] = {"id": b.group_id}
            for record in b.agent.update_options(options):
                emit(record)
            return None
        if action.kind == "group":
            data = payload.get("accountData", UNDEFINED)
            parent_path = _path_of(action.mapping.get("parentAccountData"))
            data_path = _path_of(action.mapping.get("accountData"))
            if parent_path is not None and data_path is not None and parent_path.startswith(data_path):
                data = _remove_nested(data, parent_path[len(data_path) :])
            account = _spread(data)
            account["id"] = payload.get("accountId", UNDEFINED)
            options = {"visitor": {"id": payload.get("visitorId", UNDEFINED)}, "account": account}
            parent = payload.get("parentAccountData", UNDEFINED)
            if js_truthy(parent):
                options["parentAccount"] = parent
            for record in b.agent.update_options(options):
                emit(record)
            return None
        if action.kind == "track":
            tracked = b.agent.track(payload.get("event", UNDEFINED), payload.get("metadata", UNDEFINED), self._now)
            if tracked is None:
                return "track with a missing or empty event name: the agent sends nothing"
            emit(tracked)
            return None
        raise AssertionError(action.kind)


def _spread(value: Any) -> dict[str, Any]:
    """``{...value}`` in JavaScript."""
    if type(value) is dict:
        return dict(value)
    out: dict[str, Any] = {}
    _assign(out, value)
    return out


def _path_of(mapping: Any) -> str | None:
    if isinstance(mapping, dict):
        path = mapping.get("@path")
        if isinstance(path, str):
            return path
    return None
