"""Profile ``web-actions``: the Pendo Web (Actions) destination in the browser (device mode), replayed per browser.

The destination (segmentio/action-destinations ``browser-destinations/destinations/pendo-web-actions``,
2026-08 head) calls the Pendo agent: ``pendo.initialize`` when a page loads, with what analytics.js remembers
of the user and the group; ``pendo.identify`` for identify and group calls; ``pendo.track`` for track calls.
What reaches Pendo then depends on the agent (:mod:`.agent`): the profile replays every browser's events in
order through a model of analytics.js's stored user and group, and of the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import timestamp_ms
from ..mapping.js import UNDEFINED, js_string, js_truthy
from ..mapping.kit import _assign
from .agent import Agent
from .base import Action, ActionSpec, CompareHints, Emit, FieldSpec, Profile, Setting


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
        "accountId the group id analytics.js remembers is used (unless `disableGroupIdAndTraitsOnLoad`). A missing "
        "userId keeps the agent's current visitor (its metadata is still written)."
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
        "metadata. The agent then uses `parent::child` as the account id (unless the id already holds `::`)."
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
        'the track call. A missing or empty name sends nothing; non-object properties arrive as `{"__err__": value}`.'
    ),
)


@dataclass
class Browser:
    """analytics.js's stored user and group in one browser, and the Pendo agent running there."""

    anonymous_id: Any = None
    user_id: Any = None
    user_traits: dict[str, Any] = field(default_factory=dict)
    group_id: Any = None
    group_traits: dict[str, Any] = field(default_factory=dict)
    agent: Agent = field(default_factory=Agent)
    last_seen: int | None = None
    loaded: bool = False


def _remember(current_id: Any, current_traits: dict[str, Any], new_id: Any, traits: Any) -> tuple[Any, dict[str, Any]]:
    """analytics.js ``User.identify`` / ``Group.identify``: traits merge for the same id, reset for another."""
    traits = traits if isinstance(traits, dict) else {}
    if current_id is None or current_id == new_id:
        traits = {**current_traits, **traits}
    return (new_id if js_truthy(new_id) else current_id), traits


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
        "agent. Events from mobile or server sources never reach a browser destination and are ignored."
    )
    sources = (
        "segmentio/action-destinations packages/browser-destinations/destinations/pendo-web-actions (2026-08 head)",
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
            "an id `_PENDO_T_*` stands for an anonymous id the agent makes up itself",
        ),
    )
    ignored_note = (
        "page, screen and alias calls (the destination has no action for them; a page load still initializes "
        "Pendo); events whose `channel` is `mobile` or `server`."
    )
    VISIT_GAP_MS = 30 * 60 * 1000

    def __init__(self, settings: Any = None, mapping: Any = None):
        super().__init__(settings, mapping)
        self.browsers: dict[str, Browser] = {}

    def expect(self, events: Any) -> Any:
        self.browsers = {}
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
            browser = self.browsers[key] = Browser(anonymous_id=anonymous if js_truthy(anonymous) else None)
        return browser

    def _initialize(self, b: Browser) -> dict[str, Any]:
        """The destination's ``initialize``: options from what analytics.js remembers."""
        if js_truthy(b.user_id):
            visitor_id: Any = b.user_id
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

    def handle(self, event: dict[str, Any], emit: Emit) -> str | None:
        if event.get("channel") in ("mobile", "server"):
            return f"a {event.get('channel')} event never reaches a browser destination"
        b = self._browser(event)
        kind = event.get("type")
        now = timestamp_ms(event.get("timestamp"))
        if b.user_id is None and js_truthy(event.get("userId")) and kind != "identify":
            b.user_id = event["userId"]  # analytics.js already knew the user
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
        if kind == "identify":
            b.user_id, b.user_traits = _remember(b.user_id, b.user_traits, event.get("userId"), event.get("traits"))
        elif kind == "group":
            b.group_id, b.group_traits = _remember(
                b.group_id, b.group_traits, event.get("groupId"), event.get("traits")
            )
        self._current = b
        return self.run_actions(event, emit)

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
