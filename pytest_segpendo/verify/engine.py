"""Match expected and observed Pendo records and classify every difference.

The matching, per view (``docs/verify.md``):

- **state**: visitors, accounts and parent accounts after merging their writes, matched by kind and id;
- **stream**: every metadata write, a multiset per kind and id;
- track events, in both views, a multiset. Records equal after normalisation match first (hashing, so 10^5
  records cost well under a second); what is left is paired by identity (event name, visitor, account) and then
  the nearest timestamp and closest properties; what is still left is paired on (event, time) — a wrong visitor
  or account —, on (visitor, time) — a wrong event name — and on the time alone (to the millisecond); the rest
  is missing or unexpected, and an unexpected record equal to one that was matched is a duplicate. In the state
  view a missing and an unexpected visitor or account whose metadata mostly agree are one record whose id
  changed.

Each pair that differs is compared field by field with DeepDiff (imported only then); matchers (timestamp
tolerance, agent-added fields, your own) may declare a field difference equal.

With the lanes that wrote each expected record (``writers``, from ``Expectation.writers``), the state view
accepts, for a visitor or account written from several lanes, any final value of a field that some delivery
order gives (each writer lane's last write of the field) and reports it as ``order-dependent``. With the fake's
``dropped`` records and ``injected`` faults, it links missing records to their cause and keeps apart the
duplicates no correct system avoids (``retry-duplicate``).
"""

from __future__ import annotations

import bisect
import fnmatch
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ..jsonl import bulk
from ..mapping.js import js_number
from ..profiles.agent import ANONYMOUS_PATTERN, TEMP_PREFIX
from ..records import ENTITY_KINDS, collapse_repeats, state_view
from .report import (
    ABSENT,
    KIND_ORDER,
    Difference,
    DiffReport,
    FieldDiff,
    format_path,
    label,
    sort_differences,
    writer_label,
)

_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency
    _orjson = None

__all__ = ["DiffOptions", "Matcher", "VIEWS", "diff"]

VIEWS = ("state", "stream")
Record = dict[str, Any]
ID_FIELDS = ("id", "visitorId", "accountId", "parentAccountId")


@dataclass(frozen=True)
class Matcher:
    """Declares two different values equal at a path: ``Matcher("track.properties.sessionId", lambda e, a: True)``.

    ``path`` is ``kind.field.field...``; a segment ``*`` matches any key or index, a ``**`` segment any number of
    them. ``equal(expected, actual)`` gets ``ABSENT`` for a side where the field is not there.
    """

    path: str
    equal: Callable[[Any, Any], bool]
    name: str = ""

    def __post_init__(self) -> None:
        _parse_path(self.path)

    def applies(self, kind: str, segments: tuple[Any, ...]) -> bool:
        return _path_matches(_parse_path(self.path), kind, segments)


@dataclass(frozen=True)
class DiffOptions:
    """How records are compared. :meth:`from_hints` starts from a profile's :class:`CompareHints`.

    - ``view``: ``state`` or ``stream``;
    - ``timestamp_tolerance_ms``: track timestamps this close are equal (``None``: not compared); an expected
      timestamp that is null (the event had none, so the system picks the time) matches any;
    - ``ignore_paths``: fields not compared, e.g. ``track.context``, ``*.metadata.updatedAt``;
    - ``agent_fields``: fields a client adds itself (``visitor.metadata.language``): not a difference when the
      expectation does not have them;
    - ``anonymous_ids``: an expected id ``_PENDO_T_*`` matches any ``_PENDO_T_`` id Pendo got that no expected
      record names (the agent makes those up);
    - ``ids_as_strings``: a number id equals its string (``42`` and ``"42"``), as Pendo stores ids as strings;
    - ``collapse_repeats``: in the stream view, drop a metadata write identical to the previous one of the same
      record, on both sides;
    - ``matchers``: more field matchers;
    - ``limit``: how many differences the text report details.
    """

    view: str = "state"
    timestamp_tolerance_ms: int | None = 0
    ignore_paths: tuple[str, ...] = ()
    agent_fields: tuple[str, ...] = ()
    anonymous_ids: bool = False
    ids_as_strings: bool = True
    collapse_repeats: bool = False
    matchers: tuple[Matcher, ...] = ()
    limit: int = 20

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}: use state or stream")
        if self.timestamp_tolerance_ms is not None and self.timestamp_tolerance_ms < 0:
            raise ValueError("timestamp tolerance must not be negative")
        for p in (*self.ignore_paths, *self.agent_fields):
            _parse_path(p)

    @classmethod
    def from_hints(cls, hints: Any, **overrides: Any) -> DiffOptions:
        """Options from a profile's compare hints, with keyword overrides (see :meth:`with_overrides`)."""
        base = cls(
            view=hints.view,
            timestamp_tolerance_ms=hints.timestamp_tolerance_ms,
            ignore_paths=tuple(hints.ignore_paths),
            agent_fields=tuple(hints.agent_fields),
            anonymous_ids=bool(hints.anonymous_id_pattern),
            collapse_repeats=hints.view == "stream",
        )
        return base.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> DiffOptions:
        """These options with some changed: ``ignore_paths``, ``agent_fields`` and ``matchers`` extend the
        ones given (a tuple or list), the others replace them; None values leave an option as it is.

        >>> options = DiffOptions(ignore_paths=("track.context",))
        >>> options = options.with_overrides(ignore_paths=["*.metadata.x"], limit=5)
        >>> options.ignore_paths, options.limit
        (('track.context', '*.metadata.x'), 5)
        """
        unknown = sorted(set(overrides) - set(self.__dataclass_fields__))
        if unknown:
            raise TypeError(f"unknown diff option {unknown[0]!r} (options: {', '.join(self.__dataclass_fields__)})")
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("ignore_paths", "agent_fields", "matchers"):
            if key in given:
                value = given[key]
                given[key] = tuple(getattr(self, key)) + (
                    (value,) if isinstance(value, (str, Matcher)) else tuple(value)
                )
        return replace(self, **given) if given else self


# -- paths ------------------------------------------------------------------------------------------------------

_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {}


def _parse_path(path: str) -> tuple[str, tuple[str, ...]]:
    parsed = _PATHS.get(path)
    if parsed is None:
        kind, _, rest = path.partition(".")
        if not kind or kind not in (*ENTITY_KINDS, "track", "*"):
            raise ValueError(f"path {path!r}: must start with visitor, account, parentAccount, track or *")
        parsed = _PATHS[path] = (kind, tuple(rest.split(".")) if rest else ())
    return parsed


def _path_matches(parsed: tuple[str, tuple[str, ...]], kind: str, segments: tuple[Any, ...]) -> bool:
    want_kind, pattern = parsed
    if want_kind not in ("*", kind):
        return False
    return _segments_match(pattern, tuple(str(s) for s in segments))


def _segments_match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if not pattern:
        return True  # a path matches everything below it
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_segments_match(rest, segments[i:]) for i in range(len(segments) + 1))
    if not segments:
        return False
    if head != "*" and not fnmatch.fnmatchcase(segments[0], head):
        return False
    return _segments_match(rest, segments[1:])


def _strip(record: Record, pattern: tuple[str, ...]) -> Record:
    """``record`` without the fields ``pattern`` names (copying only along the way)."""
    if not pattern:
        return record
    head, rest = pattern[0], pattern[1:]
    out = None
    for key in list(record):
        if not (head in ("*", "**") or fnmatch.fnmatchcase(key, head)):
            continue
        if out is None:
            out = dict(record)
        if not rest:
            del out[key]
        elif isinstance(out[key], dict):
            out[key] = _strip(out[key], rest)
    return record if out is None else out


def _has(record: Record, pattern: tuple[str, ...]) -> bool:
    node: Any = record
    for i, seg in enumerate(pattern):
        if not isinstance(node, dict):
            return False
        if seg in ("*", "**") or any(ch in seg for ch in "*?["):
            return any(
                _has(v, pattern[i + 1 :]) if isinstance(v, dict) else i + 1 == len(pattern)
                for k, v in node.items()
                if seg in ("*", "**") or fnmatch.fnmatchcase(k, seg)
            )
        if seg not in node:
            return False
        node = node[seg]
    return True


# -- normalisation -----------------------------------------------------------------------------------------------


def _id_string(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return js_number(value)


class _Normaliser:
    def __init__(self, options: DiffOptions, expected: Sequence[Record]):
        self.options = options
        ignore = list(options.ignore_paths)
        if options.timestamp_tolerance_ms is None:
            ignore.append("track.timestamp")
        self.ignore: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for p in ignore:
            kind, segs = _parse_path(p)
            for k in (*ENTITY_KINDS, "track") if kind == "*" else (kind,):
                self.ignore[k].append(segs)
        self.agent: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for p in options.agent_fields:
            kind, segs = _parse_path(p)
            for k in (*ENTITY_KINDS, "track") if kind == "*" else (kind,):
                self.agent[k].append(segs)
        self.expected_ids: set[str] = set()
        self.pattern = False
        # which expected records carry an agent field (then it is compared for them)
        self.agent_expected: set[tuple[str, Any, tuple[str, ...]]] = set()
        # what an expected record teaches: its id (only the anonymous-id pattern needs them), its agent fields
        self.learns = bool(options.anonymous_ids or self.agent)
        self.ids_as_strings = options.ids_as_strings
        for r in expected if self.learns else ():
            self.learn(r)
        if options.anonymous_ids:
            self.pattern = ANONYMOUS_PATTERN in self.expected_ids

    def learn(self, r: Record) -> None:
        """Take in one expected record (``learns``: the others teach nothing)."""
        kind = str(r.get("kind"))
        if kind == "visitor":
            self.expected_ids.add(str(_id_string(r.get("id"))))
        elif kind == "track":
            self.expected_ids.add(str(_id_string(r.get("visitorId"))))
        for segs in self.agent.get(kind, ()):
            if _has(r, segs):
                self.agent_expected.add((kind, None if kind == "track" else r.get("id"), segs))

    def __call__(self, record: Record, observed: bool) -> Record:
        out = record
        if "source" in out:  # where a fake got it (GET /__segpendo/records): not part of what Pendo received
            out = {k: v for k, v in out.items() if k != "source"}
        if self.ids_as_strings:
            get = out.get
            for f in ID_FIELDS:
                v = get(f)
                if v is None or type(v) is str:
                    continue
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    if out is record:
                        out = dict(record)
                    out[f] = _id_string(v)
        if not (self.ignore or self.pattern or self.agent):
            return out
        kind = str(record.get("kind"))
        if self.pattern and observed:
            name = "id" if kind == "visitor" else "visitorId" if kind == "track" else ""
            v = out.get(name) if name else None
            if isinstance(v, str) and v.startswith(TEMP_PREFIX) and v not in self.expected_ids:
                if out is record:
                    out = dict(record)
                out[name] = ANONYMOUS_PATTERN
        for segs in self.ignore.get(kind, ()):
            out = _strip(out, segs)
        if observed:
            for segs in self.agent.get(kind, ()):
                if (kind, None if kind == "track" else out.get("id"), segs) not in self.agent_expected:
                    out = _strip(out, segs)
        return out


# -- keys and field differences ------------------------------------------------------------------------------------


def _key(record: Any) -> int:
    """A record's identity for exact matching: the hash of its canonical JSON (sorted keys).

    Keeping 10^5 serialisations alive fragments the allocator and makes each one several times slower;
    their 64-bit hashes cost nothing to keep (two records collide with probability about n^2 / 2^64).
    """
    return hash(_canonical(record))


def _canonical(record: Any) -> bytes:
    if _orjson is not None:
        try:
            data: bytes = _orjson.dumps(record, option=_orjson.OPT_SORT_KEYS)
            return data
        except (TypeError, _orjson.JSONEncodeError):
            pass
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr).encode()


_DEEPDIFF: tuple[Any, Any] | None = None


def _deepdiff() -> tuple[Any, Any]:
    """DeepDiff and its "not present" marker, imported on first use: importing it costs more than the plugin's
    whole start, and most runs never have a pair of records to compare field by field."""
    global _DEEPDIFF
    if _DEEPDIFF is None:
        from deepdiff import DeepDiff
        from deepdiff.helper import notpresent

        _DEEPDIFF = (DeepDiff, notpresent)
    return _DEEPDIFF


def _deepdiff_levels(expected: Any, observed: Any) -> list[tuple[tuple[Any, ...], Any, Any]]:
    """Where DeepDiff finds two values different: (path, expected value, observed value), ABSENT for a side
    without the field."""
    DeepDiff, notpresent = _deepdiff()
    tree = DeepDiff(expected, observed, view="tree", verbose_level=2)
    return [
        (
            tuple(level.path(output_format="list")),
            ABSENT if level.t1 is notpresent else level.t1,
            ABSENT if level.t2 is notpresent else level.t2,
        )
        for levels in tree.values()
        for level in levels
    ]


_LEAF_TYPES = frozenset((str, int, float, bool, type(None)))
DEEPER_THRESHOLD = 0.33  # DeepDiff's threshold_to_diff_deeper: below this share of common keys, an object changed


def _object_levels(e: dict[str, Any], o: dict[str, Any], path: tuple[Any, ...], out: list[Any]) -> bool:
    """:func:`_deepdiff_levels` of two objects whose differences are in objects and leaves only, appended to
    ``out`` (in another order; they are sorted): a key on one side only; a value of another type; a leaf of the
    same type that differs. False (``out`` then unused) when arrays differ, or a value is not JSON: DeepDiff
    decides those."""
    union = len(e.keys() | o.keys())
    if union > 1 and len(e.keys() & o.keys()) / union < DEEPER_THRESHOLD:
        out.append((path, e, o))  # too few keys in common: DeepDiff calls the whole object changed
        return True
    for k, a in e.items():
        if k not in o:
            out.append(((*path, k), a, ABSENT))
            continue
        b = o[k]
        if a is b:
            continue  # one object on both sides (DeepDiff looks no further: a NaN equals itself then)
        ta = type(a)
        if ta is not type(b):
            out.append(((*path, k), a, b))
        elif ta is dict:
            if not _object_levels(a, b, (*path, k), out):
                return False
        elif ta in _LEAF_TYPES:
            if a != b:
                out.append(((*path, k), a, b))
        elif ta is not list or _canonical(a) != _canonical(b):
            return False  # arrays that differ (or values DeepDiff alone knows): DeepDiff's word
    for k, b in o.items():
        if k not in e:
            out.append(((*path, k), ABSENT, b))
    return True


def _field_diffs(
    kind: str, expected: Record, observed: Record, matchers: Sequence[Matcher], tolerance: int | None
) -> list[FieldDiff]:
    _deepdiff()  # imported with the first pair to compare, as before (what the diff compares with is DeepDiff's)
    levels: list[tuple[tuple[Any, ...], Any, Any]] = []
    if not (type(expected) is dict and type(observed) is dict and _object_levels(expected, observed, (), levels)):
        levels = _deepdiff_levels(expected, observed)
    out = []
    for segments, e, a in levels:
        if segments == ("kind",):
            continue
        if kind == "track" and segments == ("timestamp",) and (e is None or (tolerance and _close(e, a, tolerance))):
            continue  # within the tolerance, or not predictable (the event had no time)
        if any(m.applies(kind, segments) and m.equal(e, a) for m in matchers):
            continue
        out.append(FieldDiff(segments, e, a))
    out.sort(key=lambda f: tuple((0, s) if isinstance(s, int) else (1, s) for s in f.path))
    return out


def _quick_equal(e: Record, o: Record, tolerance: int | None) -> bool:
    if e == o:
        return True
    if e.get("kind") == "track" and e.get("timestamp") is None:  # not predictable: any time matches
        return {**e, "timestamp": None} == {**o, "timestamp": None}
    if tolerance and e.get("kind") == "track" and _close(e.get("timestamp"), o.get("timestamp"), tolerance):
        return {**e, "timestamp": None} == {**o, "timestamp": None}
    return False


def _close(a: Any, b: Any, tolerance: int) -> bool:
    ok = (int, float)
    return (
        isinstance(a, ok)
        and isinstance(b, ok)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and abs(a - b) <= tolerance
    )


def _track_sort(r: Record) -> tuple[Any, ...]:
    ts = r.get("timestamp")
    return (
        str(r.get("event")),
        str(r.get("visitorId")),
        str(r.get("accountId") or ""),
        ts if isinstance(ts, (int, float)) else -1,
    )


def _sort_key(r: Record) -> tuple[Any, ...]:
    if r.get("kind") == "track":
        return (KIND_ORDER["track"], *_track_sort(r))
    return (KIND_ORDER.get(r.get("kind"), 9), str(r.get("id")))  # type: ignore[arg-type]


# -- the matcher ---------------------------------------------------------------------------------------------------


Step = tuple[Callable[[Record], Any], bool]
LOCAL_TRACK_STEPS = 2  # track steps whose keys hold the visitor: equal but the time, then one identity


def _track_steps(tolerance: int | None) -> list[Step]:
    """The pairing steps for track events, in order: (key, pair the closest first)."""
    no_time: Callable[[Record], Any] = lambda r: _key({**r, "timestamp": None})
    identity: Callable[[Record], Any] = lambda r: (
        r.get("event"),
        _h(r.get("visitorId")),
        _h(r.get("accountId")),
    )
    if tolerance is None:
        wrong_who: Callable[[Record], Any] = lambda r: (r.get("event"), _key(r.get("properties")))
        wrong_what: Callable[[Record], Any] = lambda r: (
            _h(r.get("visitorId")),
            _h(r.get("accountId")),
            _key(r.get("properties")),
        )
    else:
        wrong_who = lambda r: (r.get("event"), _h(r.get("timestamp")))
        wrong_what = lambda r: (_h(r.get("visitorId")), _h(r.get("timestamp")))
    steps: list[Step] = [
        (no_time, False),
        (identity, True),
        (wrong_who, False),
        (wrong_what, False),
    ]
    if tolerance is not None:
        # the same moment to the millisecond: the same event, whatever else the system changed
        steps.append((lambda r: _h(r.get("timestamp")) if r.get("timestamp") is not None else object(), False))
    return steps


def _entity_steps() -> list[Step]:
    """The pairing step for metadata writes (stream view): one kind and id, the closest first."""
    return [(lambda r: (r.get("kind"), _h(r.get("id"))), True)]


class _Matching:
    def __init__(self, options: DiffOptions):
        self.options = options
        self.tolerance = options.timestamp_tolerance_ms
        self.pairs: list[tuple[Record, Record]] = []
        self.matched = 0
        self.multiset_done = False
        self.duplicate_keys: set[int] = set()
        self.observed: list[Record] = []
        self.left: tuple[list[int], list[int]] = ([], [])  # indexes of what multiset() left on each side

    def multiset(
        self, exp: list[Record], obs: list[Record], tracks: bool, steps: str = "all"
    ) -> tuple[list[Record], list[Record]]:
        """Match two multisets; returns what is left on each side (pairs that differ are in ``self.pairs``).

        ``steps``: ``all``; ``local``, only the steps whose keys hold the record's identity (equal records, then
        records of one visitor or id: :data:`LOCAL_TRACK_STEPS`), so a part of the records holding all of some
        identities is matched as the whole would match it; ``cross``, only the steps after those, on what they
        left (``pytest_segpendo.scale`` runs the local steps per shard and the cross steps on the leftovers).
        """
        e_keys = [_key(r) for r in exp] if steps != "cross" else []
        o_keys = [_key(r) for r in obs] if steps != "cross" else []
        e_used = [False] * len(exp)
        o_used = [False] * len(obs)
        if steps != "cross":
            by_key: dict[int, list[int]] = defaultdict(list)
            for i in range(len(obs) - 1, -1, -1):
                by_key[o_keys[i]].append(i)
            for i, k in enumerate(e_keys):
                stack = by_key.get(k)
                if stack:
                    o_used[stack.pop()] = True
                    e_used[i] = True
                    self.matched += 1
        rest_e = [i for i in range(len(exp)) if not e_used[i]]
        rest_o = [i for i in range(len(obs)) if not o_used[i]]
        if rest_e and rest_o:
            all_steps = _track_steps(self.tolerance) if tracks else _entity_steps()
            if steps == "local":
                chosen = all_steps[: LOCAL_TRACK_STEPS if tracks else len(all_steps)]
            elif steps == "cross":
                chosen = all_steps[LOCAL_TRACK_STEPS:] if tracks else []
            else:
                chosen = all_steps
            for key, nearest in chosen:
                if not (rest_e and rest_o):
                    break
                self._pair_grouped(exp, obs, rest_e, rest_o, e_used, o_used, key, nearest)
                rest_e = [i for i in rest_e if not e_used[i]]
                rest_o = [i for i in rest_o if not o_used[i]]
        # what is left over on the observed side and equals a received record is a duplicate
        if steps == "cross":
            self.duplicate_keys = {_key(r) for r, used in zip(obs, o_used) if used}
        else:
            self.duplicate_keys = {k for k, used in zip(o_keys, o_used) if used} | set(e_keys)
        self.multiset_done = True
        self.observed = obs
        self.left = (rest_e, rest_o)
        return [exp[i] for i in rest_e], [obs[i] for i in rest_o]

    def is_duplicate(self, record: Record) -> bool:
        return _key(record) in self.duplicate_keys

    def _pair_grouped(
        self,
        exp: list[Record],
        obs: list[Record],
        rest_e: list[int],
        rest_o: list[int],
        e_used: list[bool],
        o_used: list[bool],
        key: Callable[[Record], Any],
        nearest: bool,
    ) -> None:
        """Pair records that share ``key``: in time order, or (``nearest``) closest first."""
        groups: dict[Any, list[int]] = defaultdict(list)
        for j in rest_o:
            groups[key(obs[j])].append(j)
        pending: dict[Any, list[int]] = defaultdict(list)
        for i in rest_e:
            k = key(exp[i])
            if k in groups:
                pending[k].append(i)
        for k, e_idx in pending.items():
            o_idx = groups[k]
            if nearest:
                pairs = _closest_pairs(exp, obs, e_idx, o_idx)
            else:
                pairs = list(
                    zip(
                        sorted(e_idx, key=lambda i: _num(exp[i].get("timestamp"))),
                        sorted(o_idx, key=lambda j: _num(obs[j].get("timestamp"))),
                    )
                )
            for i, j in pairs:
                self.pairs.append((exp[i], obs[j]))
                e_used[i] = o_used[j] = True


WINDOW = 24  # candidates per record, nearest in time, when a group is too large to try every pair


def _closest_pairs(exp: list[Record], obs: list[Record], e_idx: list[int], o_idx: list[int]) -> list[tuple[int, int]]:
    """Pair the records of one identity, closest first: fewest differing fields (properties or metadata), then
    nearest timestamp, then order. Every pair is tried in a small group; a large one tries the nearest in time."""
    out: list[tuple[int, int]] = []
    e_left, o_left = list(e_idx), list(o_idx)
    while e_left and o_left:
        candidates: list[tuple[int, float, int, int, int]] = []
        if len(e_left) * len(o_left) <= 4096:
            for a, i in enumerate(e_left):
                for b, j in enumerate(o_left):
                    candidates.append(
                        (
                            _distance(exp[i], obs[j]),
                            abs(_num(exp[i].get("timestamp")) - _num(obs[j].get("timestamp"))),
                            abs(a - b),
                            i,
                            j,
                        )
                    )
        else:
            o_sorted = sorted(o_left, key=lambda j: _num(obs[j].get("timestamp")))
            stamps = [_num(obs[j].get("timestamp")) for j in o_sorted]
            for i in e_left:
                t = _num(exp[i].get("timestamp"))
                at = bisect.bisect_left(stamps, t)
                for b in range(max(0, at - WINDOW // 2), min(len(o_sorted), at + WINDOW // 2)):
                    j = o_sorted[b]
                    candidates.append((_distance(exp[i], obs[j]), abs(t - stamps[b]), 0, i, j))
        candidates.sort()
        taken_e: set[int] = set()
        taken_o: set[int] = set()
        for *_cost, i, j in candidates:
            if i not in taken_e and j not in taken_o:
                taken_e.add(i)
                taken_o.add(j)
                out.append((i, j))
        e_left = [i for i in e_left if i not in taken_e]
        o_left = [j for j in o_left if j not in taken_o]
    return out


def _distance(a: Record, b: Record) -> int:
    """How many top-level properties (tracks) or metadata fields (the rest) differ."""
    field_name = "properties" if a.get("kind") == "track" else "metadata"
    pa, pb = a.get(field_name), b.get(field_name)
    if not isinstance(pa, dict) or not isinstance(pb, dict):
        return 0 if pa == pb else 1000
    return sum(1 for k in pa.keys() | pb.keys() if pa.get(k, ABSENT) != pb.get(k, ABSENT))


def _h(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, type(None))) else _key(value)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else -1.0


# -- the diff ----------------------------------------------------------------------------------------------------


def diff(
    expected: Iterable[Record],
    observed: Iterable[Record],
    options: DiffOptions | None = None,
    *,
    rejected: Iterable[Mapping[str, Any]] = (),
    warnings: Iterable[Mapping[str, Any]] = (),
    ignored: Iterable[Any] = (),
    profile: str | None = None,
    seed: int | None = None,
    reproduce: str | None = None,
    writers: Sequence[str] | None = None,
    dropped: Iterable[Mapping[str, Any]] = (),
    injected: Iterable[Mapping[str, Any]] = (),
) -> DiffReport:
    """Compare expected with observed records (both as streams, or both as states) and classify every difference.

    ``rejected`` and ``warnings`` are the fake's (``FakePendo.rejected``, ``.warnings``); ``ignored`` the
    expectation's ignored events (``Expectation.ignored``). ``writers`` (``Expectation.writers``, one lane per
    expected record) lets the state view accept what another delivery order gives a record written from several
    lanes; without it the expected stream's order is the only one. ``dropped`` and ``injected`` are the fake's
    silent drops and the faults the test injected (``FakePendo.dropped``, ``.injected``); observed records read
    with their ``source`` request let the diff tell the duplicates those faults made unavoidable.
    """
    with bulk():  # records hold no reference cycles: the collector's rescans would cost a third of the time
        return _diff(
            expected,
            observed,
            options,
            rejected,
            warnings,
            ignored,
            profile,
            seed,
            reproduce,
            writers,
            dropped,
            injected,
        )


def _diff(
    expected: Iterable[Record],
    observed: Iterable[Record],
    options: DiffOptions | None,
    rejected: Iterable[Mapping[str, Any]],
    warnings: Iterable[Mapping[str, Any]],
    ignored: Iterable[Any],
    profile: str | None,
    seed: int | None,
    reproduce: str | None,
    writers: Sequence[str] | None,
    dropped: Iterable[Mapping[str, Any]],
    injected: Iterable[Mapping[str, Any]],
) -> DiffReport:
    options = options or DiffOptions()
    exp_list = list(expected)
    obs_list = list(observed)
    faults = [dict(item) for item in injected if isinstance(item, Mapping)]
    norm = _Normaliser(options, exp_list)
    exp_n = [norm(r, False) for r in exp_list]
    # requests Pendo processed before the fault (a late answer, an error, a dropped connection): a retry of one
    # of them is a duplicate no client avoids; the observed records' source says which request brought them
    processed = {item.get("request"): item for item in faults if _processed(item)}
    sources: dict[int, Any] = {}
    if processed:
        obs_n = []
        for raw in obs_list:
            normal = norm(raw, True)
            src = raw.get("source") if isinstance(raw, dict) else None
            if isinstance(src, Mapping):
                sources[id(normal)] = src.get("request")
            obs_n.append(normal)
    else:
        obs_n = [norm(r, True) for r in obs_list]
    written: dict[tuple[Any, Any], dict[tuple[Any, ...], dict[str, Any]]] | None = None
    late: dict[tuple[Any, Any], dict[tuple[Any, ...], list[tuple[Any, Any]]]] | None = None
    if options.view == "state":
        if writers is not None and len(writers) == len(exp_list):
            written = _writer_values(exp_n, writers)
        if sources:
            late = _late_writes(exp_n, obs_n, sources, processed)
        exp_n, obs_n = state_view(exp_n), state_view(obs_n)
    elif options.collapse_repeats:
        exp_n, obs_n = collapse_repeats(exp_n), collapse_repeats(obs_n)
    differences: list[Difference] = []
    e_tracks = [r for r in exp_n if r.get("kind") == "track"]
    o_tracks = [r for r in obs_n if r.get("kind") == "track"]
    e_ents = [r for r in exp_n if r.get("kind") != "track"]
    o_ents = [r for r in obs_n if r.get("kind") != "track"]
    left: list[tuple[list[Record], list[Record], _Matching]] = []
    if options.view == "state":
        left.append(_match_state(e_ents, o_ents, _Matching(options)))
    else:
        m = _Matching(options)
        le, lo = m.multiset(e_ents, o_ents, tracks=False)
        left.append((le, lo, m))
    m = _Matching(options)
    le, lo = m.multiset(e_tracks, o_tracks, tracks=True)
    left.append((le, lo, m))
    matched = 0
    for rest_e, rest_o, m in left:
        found, n = _pair_differences(m.pairs, options, written, late)
        differences.extend(found)
        matched += m.matched + n
        retries: Callable[[dict[int, Difference]], list[Difference]] | None = None
        if processed:
            retries = partial(_retry_duplicates, observed=m.observed, sources=sources, processed=processed)
        differences.extend(_leftover_differences(rest_e, rest_o, m.is_duplicate if m.multiset_done else None, retries))
    differences.extend(_fake_differences(differences, rejected, dropped, warnings, ignored, faults, norm))
    return DiffReport(
        view=options.view,
        expected_records=len(exp_n),
        observed_records=len(obs_n),
        matched=matched,
        differences=sort_differences(differences),
        profile=profile,
        seed=seed,
        reproduce=reproduce,
        limit=options.limit,
        injected=faults,
    )


def _pair_differences(
    pairs: Iterable[tuple[Record, Record]],
    options: DiffOptions,
    written: Mapping[tuple[Any, Any], dict[tuple[Any, ...], dict[str, Any]]] | None,
    late: Mapping[tuple[Any, Any], dict[tuple[Any, ...], list[tuple[Any, Any]]]] | None,
) -> tuple[list[Difference], int]:
    """The differences of paired records (``changed``, ``order-dependent``) and how many pairs are equal."""
    differences: list[Difference] = []
    matched = 0
    matchers = options.matchers
    tolerance = options.timestamp_tolerance_ms
    for e, o in pairs:
        if _quick_equal(e, o, tolerance):
            matched += 1
            continue
        kind = e.get("kind", "?")
        lanes = delayed = None
        if (written or late) and kind != "track":
            key = (kind, _h(e.get("id")))
            lanes = written.get(key) if written else None
            delayed = late.get(key) if late else None
            if lanes or delayed:
                # most such pairs differ only in fields another order explains: no field-by-field diff then
                tops = _top_diffs(e, o)
                if tops is not None:
                    rest, ordered, _ = _order_dependent(
                        kind, e, o, tops, lanes or {}, delayed or {}, matchers, tolerance
                    )
                    if not rest and ordered is not None:
                        differences.append(ordered)
                        matched += 1
                        continue
        fields = _field_diffs(kind, e, o, matchers, tolerance)
        cause = None
        if fields and (lanes or delayed):
            fields, ordered, cause = _order_dependent(
                kind, e, o, fields, lanes or {}, delayed or {}, matchers, tolerance
            )
            if ordered is not None:
                differences.append(ordered)
        if fields:
            differences.append(
                Difference("changed", e["kind"], label(e), e, o, fields, sort_key=_sort_key(e), cause=cause)
            )
        else:
            matched += 1
    return differences, matched


def _leftover_differences(
    rest_e: Iterable[Record],
    rest_o: Iterable[Record],
    is_duplicate: Callable[[Record], bool] | None,
    retries: Callable[[dict[int, Difference]], list[Difference]] | None,
) -> list[Difference]:
    """What pairing left: ``missing`` expected records; observed ones ``duplicated`` when ``is_duplicate`` says so
    (then ``retries`` takes out the copies a retry explains), else ``unexpected``."""
    differences: list[Difference] = []
    for e in rest_e:
        differences.append(Difference("missing", e.get("kind", "?"), label(e), expected=e, sort_key=_sort_key(e)))
    dups: dict[int, Difference] = {}
    for o in rest_o:
        if is_duplicate is not None and is_duplicate(o):
            k = _key(o)
            if k in dups:
                dups[k].count += 1
            else:
                dups[k] = Difference("duplicated", o.get("kind", "?"), label(o), observed=o, sort_key=_sort_key(o))
            continue
        differences.append(Difference("unexpected", o.get("kind", "?"), label(o), observed=o, sort_key=_sort_key(o)))
    if dups and retries is not None:
        differences.extend(retries(dups))
    differences.extend(d for d in dups.values() if d.count)
    return differences


def _fake_differences(
    differences: list[Difference],
    rejected: Iterable[Mapping[str, Any]],
    dropped: Iterable[Mapping[str, Any]],
    warnings: Iterable[Mapping[str, Any]],
    ignored: Iterable[Any],
    faults: list[dict[str, Any]],
    norm: _Normaliser,
) -> list[Difference]:
    """The differences the fake and the expectation report themselves: refusals, silent drops (linking the
    ``differences`` of records they explain to them, and to the faults), warnings, ignored events."""
    start = len(differences)
    for n, r in enumerate(rejected):
        where = f"{r.get('method', '?')} {r.get('path', '?')}"
        status = r.get("status")
        extra = f" (event {r['index']})" if r.get("index") is not None else ""
        differences.append(
            Difference(
                "rejected",
                "request",
                f"request {where}{extra}",
                reason=f"HTTP {status}: {r.get('reason')}",
                sort_key=(n,),
                request=r.get("request") if isinstance(r.get("request"), int) else None,
            )
        )
    drops = [_dropped(n, item, norm) for n, item in enumerate(dropped) if isinstance(item, Mapping)]
    differences.extend(drops)
    if drops or faults:
        _link_causes(differences, drops, faults, norm)
    for n, w in enumerate(warnings):
        differences.append(
            Difference(
                "warning",
                str(w.get("rule", "warning")),
                f"request #{w.get('request', '?')} ({w.get('route', '?')})",
                reason=str(w.get("detail")),
                sort_key=(n,),
            )
        )
    for n, item in enumerate(ignored):
        index = getattr(item, "index", n)
        kind = getattr(item, "type", None) or (item.get("type") if isinstance(item, Mapping) else "event")
        reason = getattr(item, "reason", None) or (item.get("reason") if isinstance(item, Mapping) else None)
        differences.append(
            Difference(
                "ignored",
                str(kind),
                f"{kind} event {index + 1}",
                expected={"type": kind, "index": index},
                reason=reason,
                sort_key=(index,),
            )
        )
    out = differences[start:]
    del differences[start:]
    return out


# -- order-dependent state ---------------------------------------------------------------------------------------


def _writer_values(
    stream: list[Record], writers: Sequence[str]
) -> dict[tuple[Any, Any], dict[tuple[Any, ...], dict[str, Any]]]:
    """For each visitor, account and parent account written from more than one lane: per top-level field
    (``("metadata", name)``, ``("parentAccountId",)``), each lane's last value, in the order lanes first wrote it.

    Segment keeps each lane in order and interleaves lanes freely, and Pendo keeps a field's last write, so a
    field ends with the last value of whichever lane writing it came last: any of these, and nothing else."""
    first: dict[tuple[Any, Any], str] = {}
    several: set[tuple[Any, Any]] = set()
    for record, lane in zip(stream, writers):
        kind = record.get("kind")
        if kind == "track":
            continue
        key = (kind, _h(record.get("id")))
        if first.setdefault(key, lane) != lane:
            several.add(key)
    out: dict[tuple[Any, Any], dict[tuple[Any, ...], dict[str, Any]]] = {}
    if not several:
        return out
    for record, lane in zip(stream, writers):
        kind = record.get("kind")
        if kind == "track":
            continue
        key = (kind, _h(record.get("id")))
        if key not in several:
            continue
        per = out.setdefault(key, {})
        metadata = record.get("metadata")
        if isinstance(metadata, dict):
            for name, value in metadata.items():
                per.setdefault(("metadata", name), {})[lane] = value
        if kind == "account" and record.get("parentAccountId") is not None:
            per.setdefault(("parentAccountId",), {})[lane] = record["parentAccountId"]
    return out


def _get(record: Any, path: tuple[Any, ...]) -> Any:
    for segment in path:
        if not isinstance(record, dict) or segment not in record:
            return ABSENT
        record = record[segment]
    return record


def _put(path: tuple[Any, ...], value: Any) -> Record:
    out: Any = value
    for segment in reversed(path):
        out = {segment: out}
    return out  # type: ignore[no-any-return]


def _late_writes(
    expected: list[Record], observed: list[Record], sources: dict[int, Any], processed: dict[Any, dict[str, Any]]
) -> dict[tuple[Any, Any], dict[tuple[Any, ...], list[tuple[Any, Any]]]]:
    """Writes Pendo processed late, as a slow fault before processing makes it: after the client's retry, and
    maybe after the lane's next writes. Per entity and top-level field, (request, value) for each value such a
    request wrote that an expected write of the entity has too (a write sent again late, not a wrong one)."""
    delayed = {r for r, item in processed.items() if item.get("kind") == "slow" and item.get("phase") != "after"}
    out: dict[tuple[Any, Any], dict[tuple[Any, ...], list[tuple[Any, Any]]]] = {}
    if not delayed:
        return out
    for record in observed:
        request = sources.get(id(record))
        if request in delayed and record.get("kind") != "track":
            per = out.setdefault((record.get("kind"), _h(record.get("id"))), {})
            for top, value in _top_fields(record):
                per.setdefault(top, []).append((request, value))
    if not out:
        return out
    wrote: dict[tuple[Any, Any], dict[tuple[Any, ...], set[bytes]]] = {}
    for record in expected:
        key = (record.get("kind"), _h(record.get("id")))
        if key in out:
            per_field = wrote.setdefault(key, {})
            for top, value in _top_fields(record):
                per_field.setdefault(top, set()).add(_canonical(value))
    for key, per in out.items():
        known = wrote.get(key, {})
        for top in list(per):
            per[top] = [(r, v) for r, v in per[top] if _canonical(v) in known.get(top, ())]
    return out


def _top_diffs(e: Record, o: Record) -> list[FieldDiff] | None:
    """The top-level fields (metadata keys, an account's parent) in which two versions of an entity differ, or
    None when something else differs (its id, its kind)."""
    if e.keys() != o.keys() or any(e[k] != o[k] for k in e if k not in ("metadata", "parentAccountId")):
        return None
    out = []
    if e.get("parentAccountId") != o.get("parentAccountId"):
        out.append(FieldDiff(("parentAccountId",), e.get("parentAccountId"), o.get("parentAccountId")))
    em, om = e.get("metadata"), o.get("metadata")
    if not isinstance(em, dict) or not isinstance(om, dict):
        return None if em != om else out
    for name in sorted(em.keys() | om.keys(), key=str):
        a, b = em.get(name, ABSENT), om.get(name, ABSENT)
        if a is ABSENT or b is ABSENT or _canonical(a) != _canonical(b):
            out.append(FieldDiff(("metadata", name), a, b))
    return out


def _top_fields(record: Record) -> list[tuple[tuple[Any, ...], Any]]:
    """A write's top-level fields as the state view merges them: metadata keys, and an account's parent."""
    out: list[tuple[tuple[Any, ...], Any]] = []
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        out.extend((("metadata", name), value) for name, value in metadata.items())
    if record.get("kind") == "account" and record.get("parentAccountId") is not None:
        out.append((("parentAccountId",), record["parentAccountId"]))
    return out


def _order_dependent(
    kind: str,
    e: Record,
    o: Record,
    fields: list[FieldDiff],
    lanes: dict[tuple[Any, ...], dict[str, Any]],
    delayed: dict[tuple[Any, ...], list[tuple[Any, Any]]],
    matchers: Sequence[Matcher],
    tolerance: int | None,
) -> tuple[list[FieldDiff], Difference | None, str | None]:
    """Split a changed entity's field differences: fields whose observed value some lane wrote last (another
    delivery order gives it), or a request Pendo processed late wrote, become one ``order-dependent``
    difference; the rest stay, with a cause naming the values that would conform when the field has several."""
    groups: dict[tuple[Any, ...], list[FieldDiff]] = {}
    for f in fields:
        top = f.path[:2] if len(f.path) >= 2 and f.path[0] == "metadata" else f.path[:1]
        groups.setdefault(top, []).append(f)
    keep: list[FieldDiff] = []
    accepted: list[FieldDiff] = []
    who: dict[str, list[tuple[str, Any]]] = {}
    notes: list[str] = []
    late_notes: list[str] = []
    for top, found in groups.items():
        by_lane = lanes.get(top) or {}
        again = delayed.get(top) or []
        actual = _get(o, top)
        where = format_path(top)
        if (
            actual is not ABSENT
            and len(by_lane) > 1
            and any(_same(kind, top, v, actual, matchers, tolerance) for v in by_lane.values())
        ):
            accepted.append(FieldDiff(top, _get(e, top), actual))
            who[where] = list(by_lane.items())
            continue
        if actual is not ABSENT and again:
            request = next((r for r, v in again if _same(kind, top, v, actual, matchers, tolerance)), None)
            if request is not None:
                accepted.append(FieldDiff(top, _get(e, top), actual))
                who[where] = [*by_lane.items(), (f"request:{request}", actual)]
                late_notes.append(
                    f"{where} was written again by request #{request}, which Pendo processed late (a slow fault): "
                    "after the client's retry and maybe after newer writes"
                )
                continue
        keep.extend(found)
        if len(by_lane) < 2:
            continue
        values: dict[bytes, tuple[Any, str]] = {}
        for lane, value in by_lane.items():
            values.setdefault(_canonical(value), (value, lane))
        if len(values) > 1:
            shown = [f"{_text(v)} ({writer_label(lane)})" for v, lane in list(values.values())[:4]]
            more = f" or {len(values) - 4} more" if len(values) > 4 else ""
            notes.append(
                f"{where} depends on the order Segment delivers different users' events in: {' or '.join(shown)}"
                f"{more} would conform"
            )
    ordered = None
    if accepted:
        ordered = Difference(
            "order-dependent",
            kind,
            label(e),
            e,
            o,
            accepted,
            sort_key=_sort_key(e),
            writers=who,
            cause="; ".join(late_notes) or None,
        )
    keep.sort(key=lambda f: tuple((0, s) if isinstance(s, int) else (1, s) for s in f.path))
    return keep, ordered, "; ".join(notes) or None


def _same(kind: str, path: tuple[Any, ...], a: Any, b: Any, matchers: Sequence[Matcher], tolerance: int | None) -> bool:
    if _canonical(a) == _canonical(b):
        return True
    return bool(matchers) and not _field_diffs(kind, _put(path, a), _put(path, b), matchers, tolerance)


def _text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


# -- injected faults and silent drops ------------------------------------------------------------------------------


def _processed(item: Mapping[str, Any]) -> bool:
    """Whether Pendo processed the request before the fault struck (a slow answer always is)."""
    if "processed" in item:
        return bool(item["processed"])
    return item.get("kind") == "slow"


def _fault_text(item: Mapping[str, Any]) -> str:
    if item.get("kind") == "drop":
        return "dropped the connection"
    if item.get("kind") == "slow":
        return "answered late"
    return f"answered {item.get('status', '?')}"


def _retry_duplicates(
    dups: dict[int, Difference], observed: list[Record], sources: dict[int, Any], processed: dict[Any, dict[str, Any]]
) -> list[Difference]:
    """Take out of ``dups`` the copies a retry of a processed request explains: each copy that came from such a
    request accounts for one duplicate. Returns them as ``retry-duplicate`` differences."""
    copies: dict[int, list[Any]] = {}
    for record in observed:
        request = sources.get(id(record))
        if request is None or request not in processed:
            continue
        k = _key(record)
        if k in dups:
            copies.setdefault(k, []).append(request)
    return _retry_differences(dups, copies, processed)


def _retry_differences(
    dups: dict[int, Difference], copies: dict[int, list[Any]], processed: dict[Any, dict[str, Any]]
) -> list[Difference]:
    """The ``retry-duplicate`` differences of ``copies`` (per duplicate's key, in the order its first copy was
    received: the processed requests that brought a copy)."""
    out = []
    for k, requests in copies.items():
        d = dups[k]
        n = min(d.count, len(requests))
        d.count -= n
        first = min(requests)
        item = processed[first]
        if item.get("kind") == "slow":
            cause = f"duplicated after a late answer at request #{first}"
        else:
            cause = f"duplicated after Pendo {_fault_text(item)} having processed request #{first}"
        out.append(
            Difference(
                "retry-duplicate",
                d.kind,
                d.label,
                observed=d.observed,
                count=n,
                sort_key=d.sort_key,
                cause=cause,
                request=first,
            )
        )
    return out


def _dropped(n: int, item: Mapping[str, Any], norm: _Normaliser) -> Difference:
    record = item.get("record")
    request = item.get("request") if isinstance(item.get("request"), int) else None
    if isinstance(record, dict) and record.get("kind"):
        rn = norm(record, True)
        kind, name = str(rn.get("kind")), label(rn)
    else:
        rn, kind, name = None, "request", f"request #{request if request is not None else '?'}"
    return Difference(
        "dropped",
        kind,
        name,
        observed=rn,
        reason=str(item.get("reason")),
        sort_key=(n,),
        rule=str(item.get("rule", "dropped")),
        source=str(item["source"]) if item.get("source") else None,
        request=request,
    )


def _identities(record: Record) -> list[Any]:
    """Keys that name a record, most precise first: all of it, then who and when, then who."""
    if record.get("kind") == "track":
        who = ("track", record.get("event"), _h(record.get("visitorId")), _h(record.get("accountId")))
        return [_key(record), (*who, _h(record.get("timestamp"))), who]
    return [_key(record), (record.get("kind"), _h(record.get("id")))]


def _link_causes(
    differences: list[Difference], drops: list[Difference], faults: list[dict[str, Any]], norm: _Normaliser
) -> None:
    """Say why an expected record is missing (or an entity changed) when the fake knows: Pendo dropped it, or a
    fault the test injected lost the request that held it."""
    causes: dict[Any, str] = {}
    for d in drops:
        if d.observed is not None:
            where = f" at request #{d.request}" if d.request is not None else ""
            for k in _identities(d.observed):
                causes.setdefault(k, f"dropped by Pendo{where} (rule {d.rule})")
    for item in faults:
        if _processed(item):
            continue
        for record in item.get("records") or ():
            if isinstance(record, dict) and record.get("kind"):
                text = f"lost after Pendo {_fault_text(item)} at request #{item.get('request', '?')}"
                for k in _identities(norm(record, True)):
                    causes.setdefault(k, text)
    if not causes:
        return
    for d in differences:
        if d.cls not in ("missing", "changed") or d.expected is None:
            continue
        if d.cls == "changed" and d.kind == "track":
            continue
        for k in _identities(d.expected):
            found = causes.get(k)
            if found is not None:
                if d.cls == "changed":
                    found = "a write of it was " + found
                d.cause = found if d.cause is None else f"{d.cause}; {found}"
                break


def _match_state(
    exp: list[Record], obs: list[Record], matching: _Matching, content: bool = True
) -> tuple[list[Record], list[Record], _Matching]:
    """Entities of the state view: one per kind and id; then (``content``) what is left, paired by content."""
    observed = {(r.get("kind"), _h(r.get("id"))): r for r in obs}
    rest_e = []
    for e in exp:
        o = observed.pop((e.get("kind"), _h(e.get("id"))), None)
        if o is None:
            rest_e.append(e)
        elif o == e:
            matching.matched += 1
        else:
            matching.pairs.append((e, o))
    rest_o = list(observed.values())
    if content and rest_e and rest_o:
        rest_e, rest_o = _pair_by_content(rest_e, rest_o, matching)
    return rest_e, rest_o, matching


MAX_CONTENT_PAIRING = 5000  # leftovers per side beyond which records are left missing and unexpected


def _pair_by_content(exp: list[Record], obs: list[Record], matching: _Matching) -> tuple[list[Record], list[Record]]:
    """Pair a missing and an unexpected entity of the same kind whose metadata mostly agree: the id changed
    (mangled, a number sent for a string, the anonymous id sent for the user id), which a reader wants to see
    as ``id: expected ..., got ...``, not as one record missing and another unexpected.

    A pair needs at least half of the expected metadata fields equal (and at least one); the closest first."""
    if len(exp) > MAX_CONTENT_PAIRING or len(obs) > MAX_CONTENT_PAIRING:
        return exp, obs
    index: dict[tuple[Any, str, int], list[int]] = defaultdict(list)
    for j, o in enumerate(obs):
        meta = o.get("metadata")
        if isinstance(meta, dict):
            for k, v in meta.items():
                index[(o.get("kind"), k, _key(v))].append(j)
    candidates: list[tuple[int, int, int]] = []
    for i, e in enumerate(exp):
        meta = e.get("metadata")
        if not isinstance(meta, dict) or not meta:
            continue
        shared: dict[int, int] = defaultdict(int)
        for k, v in meta.items():
            for j in index.get((e.get("kind"), k, _key(v)), ()):
                shared[j] += 1
        for j, n in shared.items():
            if 2 * n >= len(meta):
                candidates.append((-n, i, j))
    candidates.sort()
    taken_e: set[int] = set()
    taken_o: set[int] = set()
    for _n, i, j in candidates:
        if i not in taken_e and j not in taken_o:
            taken_e.add(i)
            taken_o.add(j)
            matching.pairs.append((exp[i], obs[j]))
    return [e for i, e in enumerate(exp) if i not in taken_e], [o for j, o in enumerate(obs) if j not in taken_o]
