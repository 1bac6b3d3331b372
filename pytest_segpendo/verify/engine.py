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

Each pair that differs is compared field by field with DeepDiff; matchers (timestamp tolerance, agent-added
fields, your own) may declare a field difference equal.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from ..jsonl import bulk
from ..mapping.js import js_number
from ..profiles.agent import ANONYMOUS_PATTERN, TEMP_PREFIX
from ..records import ENTITY_KINDS, collapse_repeats, state_view
from .report import ABSENT, KIND_ORDER, Difference, DiffReport, FieldDiff, label, sort_differences

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
        """Options from a profile's compare hints, with keyword overrides (None values are left as hinted)."""
        base = cls(
            view=hints.view,
            timestamp_tolerance_ms=hints.timestamp_tolerance_ms,
            ignore_paths=tuple(hints.ignore_paths),
            agent_fields=tuple(hints.agent_fields),
            anonymous_ids=bool(hints.anonymous_id_pattern),
            collapse_repeats=hints.view == "stream",
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("ignore_paths", "agent_fields", "matchers"):
            if key in given:
                given[key] = tuple(getattr(base, key)) + tuple(given[key])
        return replace(base, **given)


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
        for r in expected:
            kind = str(r.get("kind"))
            if kind == "visitor":
                self.expected_ids.add(str(_id_string(r.get("id"))))
            elif kind == "track":
                self.expected_ids.add(str(_id_string(r.get("visitorId"))))
            for segs in self.agent.get(kind, ()):
                if _has(r, segs):
                    self.agent_expected.add((kind, None if kind == "track" else r.get("id"), segs))
        if options.anonymous_ids:
            self.pattern = ANONYMOUS_PATTERN in self.expected_ids

    def __call__(self, record: Record, observed: bool) -> Record:
        kind = str(record.get("kind"))
        out = record
        if "source" in out:  # where a fake got it (GET /__segpendo/records): not part of what Pendo received
            out = {k: v for k, v in out.items() if k != "source"}
        if self.options.ids_as_strings:
            for f in ID_FIELDS:
                v = out.get(f)
                if v is None or type(v) is str:
                    continue
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    if out is record:
                        out = dict(record)
                    out[f] = _id_string(v)
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


def _field_diffs(
    kind: str, expected: Record, observed: Record, matchers: Sequence[Matcher], tolerance: int | None
) -> list[FieldDiff]:
    tree = DeepDiff(expected, observed, view="tree", verbose_level=2)
    out = []
    for _report, levels in tree.items():
        for level in levels:
            segments = tuple(level.path(output_format="list"))
            e = ABSENT if level.t1 is notpresent else level.t1
            a = ABSENT if level.t2 is notpresent else level.t2
            if segments == ("kind",):
                continue
            if (
                kind == "track"
                and segments == ("timestamp",)
                and (e is None or (tolerance and _close(e, a, tolerance)))
            ):
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


class _Matching:
    def __init__(self, options: DiffOptions):
        self.options = options
        self.tolerance = options.timestamp_tolerance_ms
        self.pairs: list[tuple[Record, Record]] = []
        self.matched = 0
        self.multiset_done = False
        self.duplicate_keys: set[int] = set()

    def multiset(self, exp: list[Record], obs: list[Record], tracks: bool) -> tuple[list[Record], list[Record]]:
        """Match two multisets; returns what is left on each side (pairs that differ are in ``self.pairs``)."""
        e_keys = [_key(r) for r in exp]
        o_keys = [_key(r) for r in obs]
        by_key: dict[int, list[int]] = defaultdict(list)
        for i in range(len(obs) - 1, -1, -1):
            by_key[o_keys[i]].append(i)
        e_used = [False] * len(exp)
        o_used = [False] * len(obs)
        for i, k in enumerate(e_keys):
            stack = by_key.get(k)
            if stack:
                o_used[stack.pop()] = True
                e_used[i] = True
                self.matched += 1
        rest_e = [i for i in range(len(exp)) if not e_used[i]]
        rest_o = [i for i in range(len(obs)) if not o_used[i]]
        if rest_e and rest_o:
            if tracks:
                no_time: Callable[[Record], Any] = lambda r: _key({**r, "timestamp": None})
                identity: Callable[[Record], Any] = lambda r: (
                    r.get("event"),
                    _h(r.get("visitorId")),
                    _h(r.get("accountId")),
                )
                if self.tolerance is None:
                    wrong_who: Callable[[Record], Any] = lambda r: (r.get("event"), _key(r.get("properties")))
                    wrong_what: Callable[[Record], Any] = lambda r: (
                        _h(r.get("visitorId")),
                        _h(r.get("accountId")),
                        _key(r.get("properties")),
                    )
                else:
                    wrong_who = lambda r: (r.get("event"), _h(r.get("timestamp")))
                    wrong_what = lambda r: (_h(r.get("visitorId")), _h(r.get("timestamp")))
                steps: list[tuple[Callable[[Record], Any], bool]] = [
                    (no_time, False),
                    (identity, True),
                    (wrong_who, False),
                    (wrong_what, False),
                ]
                if self.tolerance is not None:
                    # the same moment to the millisecond: the same event, whatever else the system changed
                    steps.append(
                        (lambda r: _h(r.get("timestamp")) if r.get("timestamp") is not None else object(), False)
                    )
            else:
                steps = [(lambda r: (r.get("kind"), _h(r.get("id"))), True)]
            for key, nearest in steps:
                if not (rest_e and rest_o):
                    break
                self._pair_grouped(exp, obs, rest_e, rest_o, e_used, o_used, key, nearest)
                rest_e = [i for i in rest_e if not e_used[i]]
                rest_o = [i for i in rest_o if not o_used[i]]
        # what is left over on the observed side and equals a received record is a duplicate
        self.duplicate_keys = {k for k, used in zip(o_keys, o_used) if used} | set(e_keys)
        self.multiset_done = True
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
) -> DiffReport:
    """Compare expected with observed records (both as streams, or both as states) and classify every difference.

    ``rejected`` and ``warnings`` are the fake's (``FakePendo.rejected``, ``.warnings``); ``ignored`` the
    expectation's ignored events (``Expectation.ignored``).
    """
    with bulk():  # records hold no reference cycles: the collector's rescans would cost a third of the time
        return _diff(expected, observed, options, rejected, warnings, ignored, profile, seed, reproduce)


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
) -> DiffReport:
    options = options or DiffOptions()
    exp_list = list(expected)
    obs_list = list(observed)
    norm = _Normaliser(options, exp_list)
    exp_n = [norm(r, False) for r in exp_list]
    obs_n = [norm(r, True) for r in obs_list]
    if options.view == "state":
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
    matchers = options.matchers
    for rest_e, rest_o, m in left:
        matched += m.matched
        for e, o in m.pairs:
            if _quick_equal(e, o, options.timestamp_tolerance_ms):
                matched += 1
                continue
            fields = _field_diffs(e.get("kind", "?"), e, o, matchers, options.timestamp_tolerance_ms)
            if fields:
                differences.append(Difference("changed", e["kind"], label(e), e, o, fields, sort_key=_sort_key(e)))
            else:
                matched += 1
        for e in rest_e:
            differences.append(Difference("missing", e.get("kind", "?"), label(e), expected=e, sort_key=_sort_key(e)))
        dups: dict[int, Difference] = {}
        for o in rest_o:
            if m.multiset_done and m.is_duplicate(o):
                k = _key(o)
                if k in dups:
                    dups[k].count += 1
                else:
                    dups[k] = Difference("duplicated", o.get("kind", "?"), label(o), observed=o, sort_key=_sort_key(o))
                continue
            differences.append(
                Difference("unexpected", o.get("kind", "?"), label(o), observed=o, sort_key=_sort_key(o))
            )
        differences.extend(dups.values())
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
            )
        )
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
    )


def _match_state(
    exp: list[Record], obs: list[Record], matching: _Matching
) -> tuple[list[Record], list[Record], _Matching]:
    """Entities of the state view: one per kind and id."""
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
    if rest_e and rest_o:
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
