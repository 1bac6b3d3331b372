"""Profile ``classic``: the classic Pendo destination, as Pendo applies it to events Segment posts in cloud mode
(``https://data.pendo.io/data/segmentio/<API_KEY>``, one raw Segment event per request).

The rules are those of the classic integration's code (analytics.js-integrations ``integrations/pendo``):
visitor = ``{id, ...traits}`` (a trait named ``id`` wins, the opposite of web-actions); ``parentAccount`` lifted
out of the group traits; the Pendo agent's ``parent::child`` account ids. In cloud mode each event stands alone:
no analytics.js state carries a group into an identify, or a user into a group.

Track calls become Track Events only when a flag is on in the Pendo subscription (segment-docs
``catalog/pendo/index.md``: "Using Track method also requires a setting enabled on your Pendo subscription";
the flag's name is not public): setting ``trackEvents``, off by default. Their mapping is what the same page
documents ("we will send it as a Pendo Track Event", ``groupId`` in the properties "Pendo will map ... to an
account ID"); the rest is inferred and marked so in the field sources.
"""

from __future__ import annotations

from typing import Any

from ..events import timestamp_ms
from ..mapping.js import UNDEFINED, js_loose_equals_empty, js_string
from ..records import account_record, parent_account_record, track_record, visitor_record
from .agent import DELIMITER, is_valid_id
from .base import Action, ActionSpec, CompareHints, Emit, FieldSpec, Profile, Setting, cleaned, put, step
from .track_api import track_account, track_context


def P(path: str) -> dict[str, str]:
    return {"@path": path}


SOURCE = "analytics.js-integrations integrations/pendo/lib/index.js"
DOCS = "segment-docs src/connections/destinations/catalog/pendo/index.md"
TRACK_FLAG = (
    'Segment\'s Pendo destination docs: "Using Track method also requires a setting enabled on your Pendo subscription"'
)


def _visitor_id(event: dict[str, Any]) -> Any:
    """``{"@if": {"blank": $.userId, "then": $.userId, "else": {"@template": "_PENDO_T_{{anonymousId}}"}}}``."""
    user = event.get("userId", UNDEFINED)
    if user is not None and user is not UNDEFINED and not js_loose_equals_empty(user):
        return cleaned(user)
    anonymous = event.get("anonymousId", UNDEFINED)
    if anonymous is None or anonymous is UNDEFINED:
        return "_PENDO_T_"
    return "_PENDO_T_" + (anonymous if type(anonymous) is str else js_string(anonymous))


def _identify_payload(event: dict[str, Any]) -> dict[str, Any]:
    """IDENTIFY's mapping, hand-written."""
    out: dict[str, Any] = {"visitorId": _visitor_id(event)}
    put(out, "visitorData", event.get("traits", UNDEFINED))
    return out


def _group_payload(event: dict[str, Any]) -> dict[str, Any]:
    """GROUP's mapping, hand-written."""
    out: dict[str, Any] = {}
    put(out, "accountId", event.get("groupId", UNDEFINED))
    traits = event.get("traits", UNDEFINED)
    put(out, "accountData", traits)
    put(out, "parentAccountData", step(traits, "parentAccount"))
    return out


def _track_payload(event: dict[str, Any]) -> dict[str, Any]:
    """TRACK's mapping, hand-written."""
    out: dict[str, Any] = {}
    put(out, "event", event.get("event", UNDEFINED))
    out["visitorId"] = _visitor_id(event)
    account = track_account(event)
    if account is not UNDEFINED:
        out["accountId"] = cleaned(account)
    put(out, "timestamp", event.get("timestamp", UNDEFINED))
    put(out, "properties", event.get("properties", UNDEFINED))
    out["context"] = track_context(event)
    return out


IDENTIFY = ActionSpec(
    name="identify",
    kind="identify",
    title="identify -> visitor",
    subscription='type = "identify"',
    fields={
        "visitorId": FieldSpec(
            {"@if": {"blank": P("$.userId"), "then": P("$.userId"), "else": {"@template": "_PENDO_T_{{anonymousId}}"}}},
            "visitor id (a trait `id` overrides it)",
            f"{SOURCE} `_identify`: `id = userId ? userId : '_PENDO_T_' + anonymousId`",
        ),
        "visitorData": FieldSpec(P("$.traits"), "visitor metadata (`extend({id}, traits)`)", SOURCE),
    },
    does="Visitor `{id, ...traits}`: traits are spread after the id, so a trait named `id` becomes the visitor id.",
    configurable=False,
    fast=_identify_payload,
)

GROUP = ActionSpec(
    name="group",
    kind="group",
    title="group -> account (and parent account)",
    subscription='type = "group"',
    fields={
        "accountId": FieldSpec(P("$.groupId"), "account id (a trait `id` overrides it)", SOURCE),
        "accountData": FieldSpec(P("$.traits"), "account metadata, without `parentAccount`", SOURCE),
        "parentAccountData": FieldSpec(P("$.traits.parentAccount"), "parentAccount (lifted out of the traits)", SOURCE),
    },
    does=(
        "Account `{id: groupId, ...traits}` with `parentAccount` removed from the traits and sent as the parent "
        "account; the account id becomes `parent::child` (setting `joinParentAccountIds`)."
    ),
    configurable=False,
    fast=_group_payload,
)


TRACK = ActionSpec(
    name="track",
    kind="track",
    title="track -> Track Event (only with the Pendo-side flag: setting `trackEvents`)",
    subscription='type = "track"',
    fields={
        "event": FieldSpec(
            P("$.event"), "event (the Track Event name)", f'{DOCS}: "we will send it as a Pendo Track Event"'
        ),
        "visitorId": FieldSpec(
            {"@if": {"blank": P("$.userId"), "then": P("$.userId"), "else": {"@template": "_PENDO_T_{{anonymousId}}"}}},
            "visitorId",
            f"{DOCS}: userId is the visitor id; `_PENDO_T_` + anonymousId without one is inferred from `_identify`",
        ),
        "accountId": FieldSpec(
            {
                "@if": {
                    "exists": P("$.properties.groupId"),
                    "then": P("$.properties.groupId"),
                    "else": P("$.context.groupId"),
                }
            },
            "accountId",
            f'{DOCS}: "groupId ... highly recommended to add as a property. Pendo will map groupId to an account '
            'ID" (context.groupId: inferred, as profile track-api)',
        ),
        "timestamp": FieldSpec(P("$.timestamp"), "timestamp, as integer milliseconds (inferred)", DOCS),
        "properties": FieldSpec(P("$.properties"), "properties, as sent (inferred)", DOCS),
        "context": FieldSpec(
            {
                "ip": P("$.context.ip"),
                "userAgent": P("$.context.userAgent"),
                "url": P("$.context.page.url"),
                "title": P("$.context.page.title"),
            },
            "context.ip, context.userAgent, context.url, context.title (inferred, as profile track-api)",
            DOCS,
        ),
    },
    does=(
        "With setting `trackEvents` (the flag Pendo turns on in your subscription) each track call is one Track "
        "Event; without it Pendo accepts the call and records nothing (reported as ignored)."
    ),
    configurable=False,
    fast=_track_payload,
)


def _id(value: Any) -> str | None:
    return js_string(value) if is_valid_id(value) else None


class ClassicProfile(Profile):
    name = "classic"
    title = "The classic Pendo destination, cloud mode (/data/segmentio/<apiKey>)"
    summary = (
        "Stateless: each identify writes a visitor, each group an account and its parent account. Track calls "
        "become Track Events only when Pendo has turned a flag on in your subscription (setting `trackEvents`, off "
        "by default); page, screen and alias calls produce nothing. How Pendo's segmentio endpoint treats parent "
        "accounts is not documented: by default it is taken to join ids as the agent does."
    )
    sources = (SOURCE, "segment-docs catalog/pendo (cloud mode endpoint, Track)")
    settings_spec = {
        "joinParentAccountIds": Setting(
            True,
            "account ids become `parent::child` when the group traits carry `parentAccount.id`, as the Pendo agent "
            "does",
        ),
        "trackEvents": Setting(
            False,
            "track calls become Track Events: the setting Pendo enables on your subscription on request ("
            + TRACK_FLAG
            + "; its name is not public). Off: Pendo records nothing for them",
        ),
    }
    action_specs = (IDENTIFY, GROUP, TRACK)
    hints = CompareHints(view="state", timestamp_tolerance_ms=0)
    ignored_note = (
        "page, screen and alias calls: the classic destination sends identify, group and track only; track calls "
        "too unless setting `trackEvents` is on (the Pendo-side flag)."
    )

    def no_action_reason(self, event: dict[str, Any]) -> str:
        return f"the classic destination sends identify, group and track only ({event.get('type')} ignored)"

    def perform(self, action: Action, event: dict[str, Any], payload: dict[str, Any], emit: Emit) -> str | None:
        if action.kind == "track":
            return self._track(event, payload, emit)
        if action.kind == "identify":
            traits = payload.get("visitorData")
            traits = traits if isinstance(traits, dict) else {}
            visitor = _id(traits.get("id", UNDEFINED)) or _id(payload.get("visitorId", UNDEFINED))
            if visitor is None:
                return "identify without userId or anonymousId"
            emit(visitor_record(visitor, {k: v for k, v in traits.items() if k != "id"}))
            return None
        traits = payload.get("accountData")
        traits = dict(traits) if isinstance(traits, dict) else {}
        parent = traits.pop("parentAccount", None)
        account = _id(traits.get("id", UNDEFINED)) or _id(payload.get("accountId", UNDEFINED))
        if account is None:
            return "group without groupId"
        parent = parent if isinstance(parent, dict) else {}
        parent_id = _id(parent.get("id", UNDEFINED))
        if parent_id is not None and self.settings["joinParentAccountIds"]:
            if DELIMITER in account:
                parent_id = account.split(DELIMITER)[0]
            else:
                account = parent_id + DELIMITER + account
        elif parent_id is None and DELIMITER in account:
            parent_id = account.split(DELIMITER)[0]
        emit(account_record(account, {k: v for k, v in traits.items() if k != "id"}, parent_id))
        if parent_id is not None and parent:
            emit(parent_account_record(parent_id, {k: v for k, v in parent.items() if k != "id"}))
        return None

    def _track(self, event: dict[str, Any], payload: dict[str, Any], emit: Emit) -> str | None:
        if not self.settings["trackEvents"]:
            return (
                "track calls on /data/segmentio become Track Events only when Pendo enables a setting on your "
                f"subscription ({TRACK_FLAG}); setting trackEvents is off"
            )
        name = payload.get("event")
        if not isinstance(name, str) or name == "":
            return "track without an event name"
        visitor = _id(payload.get("visitorId", UNDEFINED))
        if visitor is None:
            return "track without userId or anonymousId"
        stamp = payload.get("timestamp")
        properties = payload.get("properties")
        context = payload.get("context")
        emit(
            track_record(
                name,
                visitor,
                _id(payload.get("accountId", UNDEFINED)),
                timestamp_ms(stamp) if isinstance(stamp, str) else None,
                properties if isinstance(properties, dict) else {},
                context if isinstance(context, dict) else {},
            )
        )
        return None
