"""What a profile is: settings, actions (a subscription and a field mapping each) and what they make of events.

A profile turns Segment events into the Pendo records they should produce (:class:`Expectation`). Its
actions are described as data, like a Segment destination's: a subscription (``type = "identify"``) and
mapping-kit field mappings, which a user mapping file (:class:`UserMapping`) can override or extend.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..mapping import UNDEFINED, CompiledMapping, MappingError
from ..mapping.js import JsFunction
from ..mapping.kit import json_view
from ..records import Record, collapse_repeats, state_view
from .subscriptions import Subscription, SubscriptionError, parse_subscription

__all__ = [
    "ActionSpec",
    "CompareHints",
    "Expectation",
    "Ignored",
    "Profile",
    "ProfileError",
    "Setting",
    "UserMapping",
    "lane_key",
]


class ProfileError(ValueError):
    """A bad profile name, setting or user mapping; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Setting:
    """A destination setting: its default, the values it takes, and what it does."""

    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None

    def parse(self, name: str, value: Any) -> Any:
        """Coerce ``value`` (possibly text from the command line) to this setting's type."""
        if isinstance(self.default, bool):
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                value = value.lower() in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ProfileError(f"setting {name} takes true or false (got {value!r})")
        elif self.choices is not None and value not in self.choices:
            raise ProfileError(f"setting {name} takes one of {', '.join(map(str, self.choices))} (got {value!r})")
        return value


@dataclass(frozen=True)
class FieldSpec:
    """One field of an action: its default mapping, where it goes in Pendo, and the source of the rule."""

    mapping: Any
    target: str
    source: str


@dataclass(frozen=True)
class ActionSpec:
    """A profile's action as the destination defines it."""

    name: str
    kind: str
    title: str
    subscription: str
    fields: dict[str, FieldSpec]
    does: str
    configurable: bool = True

    def default_mapping(self) -> dict[str, Any]:
        return {name: spec.mapping for name, spec in self.fields.items()}


@dataclass
class Action:
    """An action ready to run: the (possibly user-overridden) subscription and compiled field mapping."""

    name: str
    kind: str
    subscription: Subscription
    mapping: dict[str, Any]
    compiled: CompiledMapping
    enabled: bool = True
    impure: frozenset[str] = frozenset()  # fields whose value may hold undefined inside: cleaned per call

    def payload(self, event: dict[str, Any]) -> dict[str, Any]:
        """The action's fields for ``event``: what ``transform(mapping, event)`` gives."""
        raw = self.compiled.resolve(event)
        impure = self.impure
        return {
            k: (json_view(v) if k in impure else v)
            for k, v in raw.items()
            if v is not UNDEFINED and type(v) is not JsFunction
        }


def _is_plain_field(mapping: Any) -> bool:
    """A constant or a string ``@path``: its value is event data as it is, or undefined."""
    if isinstance(mapping, dict):
        return len(mapping) == 1 and isinstance(mapping.get("@path"), str)
    return not isinstance(mapping, list)


@dataclass(frozen=True)
class Ignored:
    """An event no action turned into a Pendo record, and why."""

    index: int
    type: str
    message_id: str | None
    reason: str


@dataclass(frozen=True)
class CompareHints:
    """How expected and observed records of a profile should be compared (used by the diff)."""

    view: str = "stream"
    timestamp_tolerance_ms: int | None = 0
    ignore_paths: tuple[str, ...] = ()
    agent_fields: tuple[str, ...] = ()
    anonymous_id_pattern: bool = False
    notes: tuple[str, ...] = ()


def lane_key(event: Any) -> str:
    """The delivery lane of a Segment event: ``"userId:<id>"``, else ``"anonymousId:<id>"``, else ``""``.

    Segment keeps one user's events in order and does not order events of different users; the delivery
    (``pytest_segpendo.delivery``) spreads events over parallel connections by this key, and the diff uses it to
    know which final states of a record written by several users some delivery order produces.
    """
    if isinstance(event, dict):
        for name in ("userId", "anonymousId"):
            value = event.get(name)
            if value not in (None, ""):
                return f"{name}:{value}"
    return ""


@dataclass
class Expectation:
    """What Pendo should receive for a list of events under a profile.

    ``origins`` and ``writers`` are parallel to ``stream``: the index of the event each record comes from, and
    that event's delivery lane (:func:`lane_key`). ``writers`` lets the state view accept every final value some
    admissible delivery order gives a record written from several lanes (``docs/verify.md``); an expectation
    without it (or whose stream was changed since) is compared strictly, in stream order.
    """

    profile: str
    settings: dict[str, Any]
    events: int
    stream: list[Record] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)  # index of the event each stream record comes from
    ignored: list[Ignored] = field(default_factory=list)
    hints: CompareHints = field(default_factory=CompareHints)
    writers: list[str] = field(default_factory=list)  # lane_key of the event each stream record comes from

    @cached_property
    def state(self) -> list[Record]:
        """The state view: merged visitors, accounts and parent accounts, then track events."""
        return state_view(self.stream)

    def view(self, name: str) -> list[Record]:
        if name == "stream":
            return self.stream
        if name == "state":
            return self.state
        raise ProfileError(f"unknown view {name!r}: use stream or state")

    def ignored_summary(self) -> dict[str, int]:
        """How many events were ignored, per event type."""
        out: dict[str, int] = {}
        for item in self.ignored:
            out[item.type] = out.get(item.type, 0) + 1
        return out


@dataclass
class UserMapping:
    """A user's mapping file: per action, a subscription and field mappings, as configured in Segment's UI.

    JSON shape::

        {"profile": "track-api",                      (optional: the profile it is for)
         "settings": {"anonymousTracks": "skip"},     (optional)
         "actions": {
            "trackEvent": {"subscribe": "type = \\"track\\" and event != \\"Debug\\"",
                           "mapping": {"event": {"@path": "$.event"}}},      (override fields of an action)
            "identify": {"enabled": false},                                   (turn an action off)
            "pageAsTrack": {"kind": "trackEvent", "subscribe": "type = \\"page\\"",
                            "mapping": {"event": {"@template": "Viewed {{name}}"}}}  (a new action of a kind)
         }}
    """

    profile: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "<mapping>"

    @classmethod
    def load(cls, path: str | Path) -> UserMapping:
        name = str(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ProfileError(f"cannot read mapping file {name}: {exc.strerror}") from None
        except ValueError as exc:
            raise ProfileError(f"mapping file {name} is not JSON: {exc}") from None
        return cls.from_json(data, name)

    @classmethod
    def from_json(cls, data: Any, source: str = "<mapping>") -> UserMapping:
        if not isinstance(data, dict):
            raise ProfileError(f'{source}: a mapping file is a JSON object with an "actions" object')
        unknown = set(data) - {"profile", "settings", "actions", "description"}
        if unknown:
            raise ProfileError(f"{source}: unknown key {sorted(unknown)[0]!r} (use profile, settings, actions)")
        actions = data.get("actions", {})
        if not isinstance(actions, dict) or not all(isinstance(v, dict) for v in actions.values()):
            raise ProfileError(f'{source}: "actions" must map action names to objects')
        for name, spec in actions.items():
            bad = set(spec) - {"kind", "subscribe", "mapping", "enabled"}
            if bad:
                raise ProfileError(
                    f"{source}: action {name!r} has unknown key {sorted(bad)[0]!r} (use kind, subscribe, mapping, "
                    "enabled)"
                )
            if "mapping" in spec and not isinstance(spec["mapping"], dict):
                raise ProfileError(f'{source}: action {name!r}: "mapping" must be an object of field mappings')
        settings = data.get("settings", {})
        if not isinstance(settings, dict):
            raise ProfileError(f'{source}: "settings" must be an object')
        profile = data.get("profile")
        if profile is not None and not isinstance(profile, str):
            raise ProfileError(f'{source}: "profile" must be a profile name')
        return cls(profile, settings, actions, source)


Emit = Callable[[Record], None]


class Profile:
    """Base of the profiles: resolves settings and actions; subclasses say what each action does."""

    name: str = ""
    title: str = ""
    summary: str = ""
    sources: tuple[str, ...] = ()
    settings_spec: dict[str, Setting] = {}
    action_specs: tuple[ActionSpec, ...] = ()
    hints: CompareHints = CompareHints()
    ignored_note: str = ""

    def __init__(self, settings: Mapping[str, Any] | None = None, mapping: UserMapping | None = None):
        given = dict(mapping.settings if mapping else {})
        given.update(settings or {})
        self.settings = self._settings(given)
        self.actions = self._actions(mapping)
        enabled = [a for a in self.actions if a.enabled]
        self._by_type: dict[str, list[Action]] | None = None
        if all(a.subscription.only_type for a in enabled):  # the usual case: dispatch on the event type
            self._by_type = {}
            for a in enabled:
                self._by_type.setdefault(a.subscription.only_type or "", []).append(a)

    # -- configuration ---------------------------------------------------------------------------------
    def _settings(self, given: dict[str, Any]) -> dict[str, Any]:
        out = {name: spec.default for name, spec in self.settings_spec.items()}
        for name, value in given.items():
            spec = self.settings_spec.get(name)
            if spec is None:
                known = ", ".join(self.settings_spec) or "none"
                raise ProfileError(f"profile {self.name} has no setting {name!r} (its settings: {known})")
            out[name] = spec.parse(name, value)
        return out

    def _actions(self, mapping: UserMapping | None) -> list[Action]:
        overrides = dict(mapping.actions) if mapping else {}
        if mapping and mapping.profile and mapping.profile != self.name:
            raise ProfileError(f"{mapping.source} is for profile {mapping.profile!r}, not {self.name!r}")
        specs = {spec.name: spec for spec in self.action_specs}
        kinds = {spec.kind: spec for spec in self.action_specs}
        where = mapping.source if mapping else "<profile>"
        actions = []
        for spec in self.action_specs:
            override = overrides.pop(spec.name, {})
            actions.append(self._build(spec, override, where))
        for name, override in overrides.items():
            kind: Any = override.get("kind")  # user JSON: any value, looked up as given
            base = specs.get(kind) or kinds.get(kind)
            if base is None:
                choices = ", ".join(sorted(set(specs)))
                raise ProfileError(f'{where}: new action {name!r} needs "kind": one of {choices}')
            if "subscribe" not in override:
                raise ProfileError(f'{where}: new action {name!r} needs a "subscribe" condition')
            actions.append(self._build(base, override, where, name=name))
        return actions

    def _build(self, spec: ActionSpec, override: dict[str, Any], where: str, name: str | None = None) -> Action:
        name = name or spec.name
        if override and not spec.configurable and set(override) - {"enabled"}:
            raise ProfileError(
                f'{where}: action {name!r} of profile {self.name} is fixed code in the destination; only "enabled" '
                "can be set"
            )
        mapping = spec.default_mapping()
        mapping.update(override.get("mapping", {}))
        try:
            subscription = parse_subscription(override.get("subscribe", spec.subscription))
        except SubscriptionError as exc:
            raise ProfileError(f"{where}: action {name!r}: {exc}") from None
        try:
            compiled = CompiledMapping(mapping)
        except MappingError as exc:
            raise ProfileError(f"{where}: action {name!r}: invalid mapping: {exc.messages[0]}") from None
        enabled = override.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ProfileError(f'{where}: action {name!r}: "enabled" must be true or false')
        impure = frozenset(k for k, v in mapping.items() if not _is_plain_field(v))
        return Action(name, spec.kind, subscription, mapping, compiled, enabled, impure)

    # -- running -----------------------------------------------------------------------------------------
    def expect(self, events: Iterable[dict[str, Any]]) -> Expectation:
        """The records Pendo should receive for ``events`` (in order), and the events it ignores."""
        result = Expectation(self.name, dict(self.settings), 0, hints=self.hints)
        stream, origins, writers = result.stream, result.origins, result.writers
        index = -1
        for index, event in enumerate(events):

            def emit(record: Record, _i: int = index, _lane: str = lane_key(event)) -> None:
                stream.append(record)
                origins.append(_i)
                writers.append(_lane)

            reason = self.handle(event, emit)
            if reason is not None:
                result.ignored.append(Ignored(index, str(event.get("type")), event.get("messageId"), reason))
        result.events = index + 1
        self.finish(result)
        return result

    def matching(self, event: dict[str, Any]) -> list[Action]:
        if self._by_type is not None:
            kind = event.get("type")
            return self._by_type.get(kind, []) if isinstance(kind, str) else []
        return [a for a in self.actions if a.enabled and a.subscription(event)]

    def handle(self, event: dict[str, Any], emit: Emit) -> str | None:
        """Handle one event; return why it produced nothing, or None."""
        return self.run_actions(event, emit)

    def run_actions(self, event: dict[str, Any], emit: Emit) -> str | None:
        """Run every action the event matches; the event is ignored when none of them sent anything."""
        matched = self.matching(event)
        if not matched:
            return self.no_action_reason(event)
        reasons = [r for a in matched if (r := self.perform(a, event, a.payload(event), emit)) is not None]
        return reasons[0] if len(reasons) == len(matched) else None

    def no_action_reason(self, event: dict[str, Any]) -> str:
        kind = event.get("type")
        if kind in ("page", "screen", "alias"):
            return f"{kind} calls produce nothing in Pendo"
        return f"no action of profile {self.name} subscribes to this {kind} event"

    def perform(self, action: Action, event: dict[str, Any], payload: dict[str, Any], emit: Emit) -> str | None:
        raise NotImplementedError

    def finish(self, result: Expectation) -> None:
        """Post-process the stream once every event is handled (e.g. collapse repeated writes)."""

    @classmethod
    def collapse(cls, result: Expectation) -> None:
        kept = collapse_repeats(result.stream)
        if len(kept) != len(result.stream):
            ids = {id(r) for r in kept}
            origins = [o for r, o in zip(result.stream, result.origins) if id(r) in ids]
            writers = [w for r, w in zip(result.stream, result.writers) if id(r) in ids]
            result.stream[:] = kept
            result.origins[:] = origins
            result.writers[:] = writers
