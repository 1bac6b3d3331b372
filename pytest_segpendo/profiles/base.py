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

from ..events import lane_key
from ..mapping import UNDEFINED, CompiledMapping, MappingError
from ..mapping.js import JsFunction, js_truthy
from ..mapping.kit import _LEAVES as LEAVES
from ..mapping.kit import json_view
from ..records import Record, repeats_kept, state_view
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
    fast: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Hand-written Python giving what the default field mappings give (``Action.payload``), used while an action
    keeps them: proved equal to the mapping engine by ``tests/test_perf_payloads.py``."""

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
    fast: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # the default mapping, hand-written

    def __post_init__(self) -> None:
        fields = self.compiled.fields
        impure = self.impure
        # per field: its compiled mapping, and whether its value is cleaned (json_view) or taken as it is
        self._fields = [(k, f, k in impure) for k, f in fields] if fields is not None else None

    def payload(self, event: dict[str, Any]) -> dict[str, Any]:
        """The action's fields for ``event``: what ``transform(mapping, event)`` gives."""
        if self.fast is not None:
            return self.fast(event)
        fields = self._fields
        if fields is None:
            raw = self.compiled.resolve(event)
            impure = self.impure
            return {
                k: (json_view(v) if k in impure else v)
                for k, v in raw.items()
                if v is not UNDEFINED and type(v) is not JsFunction
            }
        out = {}
        for k, f, clean in fields:
            v = f(event)
            if v is not UNDEFINED and type(v) is not JsFunction:
                out[k] = json_view(v) if clean else v
        return out

    def generic_payload(self, event: dict[str, Any]) -> dict[str, Any]:
        """``payload`` through the mapping engine, never the hand-written default (what the fast path is proved
        against)."""
        fast, self.fast = self.fast, None
        try:
            return self.payload(event)
        finally:
            self.fast = fast


# -- hand-written default mappings --------------------------------------------------------------------------------
# The profiles' default field mappings are a few @path, @if and @template directives; run through the engine they
# cost several times parsing the event. ``ActionSpec.fast`` functions compute the same payload with these helpers
# (tests/test_perf_payloads.py proves each equal to the engine on generated, fuzzed and golden events).


def step(value: Any, key: str) -> Any:
    """``get(value, key)`` of the mapping engine, one key, for a key that no JavaScript prototype has (not
    ``length``, not an index, not a method name): an object's own value or undefined; a falsy value stops the walk
    (it is the result); any other value has no such property (undefined)."""
    if type(value) is dict:
        return value.get(key, UNDEFINED)
    return value if not js_truthy(value) else UNDEFINED


def cleaned(value: Any) -> Any:
    """A field value as an impure field's payload holds it (``json_view``): leaves as they are."""
    return value if type(value) in LEAVES else json_view(value)


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set a payload field as ``Action.payload`` does: undefined (and functions) left out."""
    if value is not UNDEFINED and type(value) is not JsFunction:
        out[key] = value


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


class _Emitter:
    """``emit(record)`` for :meth:`Profile.expect`: appends the record, the index of the event being handled and
    that event's delivery lane (computed only for events that send something)."""

    __slots__ = ("stream", "origins", "writers", "index", "event")

    def __init__(self, stream: list[Record], origins: list[int], writers: list[str]):
        self.stream = stream
        self.origins = origins
        self.writers = writers
        self.index = 0
        self.event: Any = None

    def __call__(self, record: Record) -> None:
        self.stream.append(record)
        self.origins.append(self.index)
        self.writers.append(lane_key(self.event))


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
        self._own_matching = type(self).matching is Profile.matching
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
        fast = spec.fast if spec.fast is not None and mapping == spec.default_mapping() else None
        return Action(name, spec.kind, subscription, mapping, compiled, enabled, impure, fast)

    # -- running -----------------------------------------------------------------------------------------
    def expect(self, events: Iterable[dict[str, Any]]) -> Expectation:
        """The records Pendo should receive for ``events`` (in order), and the events it ignores."""
        result = Expectation(self.name, dict(self.settings), 0, hints=self.hints)
        emit = _Emitter(result.stream, result.origins, result.writers)
        handle = self.handle
        ignored = result.ignored
        index = -1
        for index, event in enumerate(events):
            emit.index = index
            emit.event = event
            reason = handle(event, emit)
            if reason is not None:
                ignored.append(Ignored(index, str(event.get("type")), event.get("messageId"), reason))
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
        by_type = self._by_type
        if by_type is not None and self._own_matching:  # matching(), inlined
            kind = event.get("type")
            matched = by_type.get(kind, ()) if isinstance(kind, str) else ()
        else:
            matched = self.matching(event)
        if not matched:
            return self.no_action_reason(event)
        if len(matched) == 1:
            (a,) = matched
            return self.perform(a, event, a.payload(event), emit)
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
        kept = repeats_kept(result.stream)
        if len(kept) != len(result.stream):
            lists: tuple[list[Any], ...] = (result.stream, result.origins, result.writers)
            for items in lists:  # origins and writers: parallel to the stream, or empty
                items[:] = [items[i] for i in kept if i < len(items)]
