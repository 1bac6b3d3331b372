"""The diff, one shard at a time, then the leftovers of every shard in one pass: the same report as
:func:`pytest_segpendo.verify.diff` on all the records at once.

Every step of the diff that looks at one identity at a time (a track event's visitor, an entity's id) runs per
shard, each shard holding every record of its identities in their global order: normalising, the writer lanes and
late writes of the state view, merging an entity's writes, collapsing repeated writes, exact matches, the pairing of
a visitor's events (same event but the time; same event, visitor and account, the closest first), and the pairing
of an entity's versions by id. What those steps leave (residuals: the records that will be missing, unexpected,
duplicated, or paired across identities) goes to one final pass, in global order, with what the shard knows about
them (a state entity's writer lanes, whether an observed record equals one the shard matched, which of its copies
came from a request Pendo processed before a fault). The final pass runs the steps that pair across identities
exactly as the whole diff runs them: track events with a wrong visitor or account (paired on event and time), a
wrong name (visitor and time), the same moment; state entities whose id changed (paired by content). Its memory
grows with the number of differences, not with the input.

One identity needs the whole input: the anonymous-id pattern (``_PENDO_T_*``), to which every observed id the
agent made up is normalised. Its shard runs last, with the observed records the other shards found to be such ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any
from zlib import crc32

from ..archive import parse_line
from ..jsonl import loads
from ..profiles.agent import ANONYMOUS_PATTERN
from ..records import ENTITY_KINDS, record_errors, repeats_kept
from ..verify.engine import (
    DiffOptions,
    _fake_differences,
    _h,
    _key,
    _late_writes,
    _leftover_differences,
    _match_state,
    _Matching,
    _Normaliser,
    _pair_by_content,
    _pair_differences,
    _retry_differences,
    _writer_values,
)
from ..verify.report import Difference, DiffReport, sort_differences
from .partition import line_key
from .partition import record_key as partition_record_key

try:  # a line is parsed with orjson first, with the full loads() when that fails
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _orjson_loads = loads  # type: ignore[assignment]

__all__ = ["DiffContext", "ShardResult", "diff_shard", "merge_shards"]

Record = dict[str, Any]
_first = itemgetter(0)


@dataclass(frozen=True)
class DiffContext:
    """What every diff shard of a run shares.

    ``pattern``: an expected record names the anonymous-id pattern (then observed ids the agent made up are
    normalised to it); ``track_agent``: the agent fields some expected track event carries (compared then);
    ``processed``: the requests Pendo processed before an injected fault; ``writers``: the expected records carry
    the lane that wrote each; ``pattern_shard``: the shard of the pattern's identity (it runs last).
    """

    options: DiffOptions
    pattern: bool = False
    track_agent: frozenset[tuple[str, Any, tuple[str, ...]]] = frozenset()
    processed: Mapping[Any, dict[str, Any]] = field(default_factory=dict)
    writers: bool = False
    pattern_shard: int | None = None
    # lines routed by the identity they start with (partition.line_key), unparsed: each shard checks its own
    shards: int = 1
    raw: bool = False
    interest: frozenset[str] = frozenset()  # identities whose expected records the final pass needed known

    def normaliser(self, expected: Sequence[Record]) -> _Normaliser:
        """A normaliser that treats ``expected`` (every expected record of some identities) as the whole diff's
        normaliser treats them."""
        norm = _Normaliser(self.options, expected)
        if self.options.anonymous_ids:
            norm.pattern = self.pattern
        norm.agent_expected.update(self.track_agent)
        return norm


@dataclass
class ShardResult:
    """What a shard found: the differences of the pairs it made, how many records matched, its record counts in
    the view, and its residuals with what the final pass needs to know of them."""

    differences: list[Difference] = field(default_factory=list)
    matched: int = 0
    expected: int = 0
    observed: int = 0
    # (position, record, writer lanes, late writes) for expected entities; (position, record) for tracks
    entity_expected: list[tuple[Any, ...]] = field(default_factory=list)
    track_expected: list[tuple[Any, ...]] = field(default_factory=list)
    # (position, record, duplicate of one matched in the shard, requests of its processed copies, first copy)
    entity_observed: list[tuple[Any, ...]] = field(default_factory=list)
    track_observed: list[tuple[Any, ...]] = field(default_factory=list)
    moved: list[tuple[Any, Record]] = field(default_factory=list)  # observed records of the pattern's identity
    misrouted: bool = False  # a line routed by its start belongs elsewhere: the diff is made again, every line parsed
    bad: list[tuple[str, Any, str, bytes]] = field(default_factory=list)  # lines not records: side, position, why


def _identity(record: Record) -> Any:
    kind = record.get("kind")
    return record.get("id") if kind == "visitor" else record.get("visitorId") if kind == "track" else None


def _distinct(records: list[Record]) -> list[Record]:
    """The records, a record appearing twice (the same object) copied: positions are looked up by object."""
    seen: set[int] = set()
    out = []
    for r in records:
        if id(r) in seen and isinstance(r, dict):
            r = dict(r)
        seen.add(id(r))
        out.append(r)
    return out


_KIND_PLACE = {kind: n for n, kind in enumerate(ENTITY_KINDS)}


def _state_positions(stream: list[Record], positions: list[Any]) -> tuple[list[Record], list[Any]]:
    """``state_view(stream)`` and each record's place in the whole state view: (kind, first write) for an entity,
    (3, position) for the rest (kept in stream order after the entities). One pass, merging as ``state_view``
    merges: metadata field by field, the latest write winning; an account's latest parent."""
    merged: dict[tuple[str, Any], Record] = {}
    first: dict[tuple[str, Any], Any] = {}
    rest: list[Record] = []
    rest_at: list[tuple[int, Any]] = []
    places = _KIND_PLACE
    for r, p in zip(stream, positions):
        kind = r.get("kind")
        if kind not in places:
            rest.append(r)
            rest_at.append((3, p))
            continue
        key = (kind, r["id"])
        current = merged.get(key)
        if current is None:
            merged[key] = {**r, "metadata": dict(r.get("metadata") or {})}
            first[key] = p
            continue
        current["metadata"].update(r.get("metadata") or {})
        if kind == "account" and r.get("parentAccountId") is not None:
            current["parentAccountId"] = r["parentAccountId"]
    view: list[Record] = []
    placed: list[Any] = []
    for kind in ENTITY_KINDS:
        n = places[kind]
        for key, r in merged.items():
            if key[0] == kind:
                view.append(r)
                placed.append((n, first[key]))
    return view + rest, placed + rest_at


def _collapse_positions(stream: list[Record], positions: list[Any]) -> tuple[list[Record], list[Any]]:
    """``collapse_repeats(stream)`` (a metadata write equal to the previous one of its record dropped), with
    the positions of what it keeps."""
    kept = repeats_kept(stream)
    return [stream[i] for i in kept], [positions[i] for i in kept]


def _copies(
    observed: list[Record], positions: dict[int, Any], sources: dict[int, Any], processed: Mapping[Any, Any]
) -> tuple[dict[int, list[Any]], dict[int, Any]]:
    """Per record key: the processed requests that brought a copy of it, and where the first copy is."""
    requests: dict[int, list[Any]] = {}
    first: dict[int, Any] = {}
    for r in observed:
        request = sources.get(id(r))
        if request is None or request not in processed:
            continue
        k = _key(r)
        requests.setdefault(k, []).append(request)
        first.setdefault(k, positions[id(r)])
    return requests, first


def record_ok(r: dict[str, Any]) -> bool:
    """A quick yes for the usual record (``record_errors`` says why otherwise)."""
    kind = r.get("kind")
    if kind == "track":
        t = r.get("timestamp")
        a = r.get("accountId")
        return (
            type(r.get("event")) is str
            and type(r.get("visitorId")) is str
            and type(r.get("properties")) is dict
            and type(r.get("context")) is dict
            and (type(a) is str or (a is None and "accountId" in r))
            and (type(t) is int or (t is None and "timestamp" in r))
        )
    if kind == "visitor" or kind == "parentAccount":
        return type(r.get("id")) is str and type(r.get("metadata")) is dict
    if kind == "account":
        p = r.get("parentAccountId")
        return (
            type(r.get("id")) is str
            and type(r.get("metadata")) is dict
            and (type(p) is str or (p is None and "parentAccountId" in r))
        )
    return False


def _parsed(item: Any) -> Any:
    return loads(item) if type(item) is bytes else item


class _Reader:
    """Records given as lines, parsed and checked: a line that is not a record is left out, with why
    (``bad``: position, error, the line's start), as the partition words it."""

    __slots__ = ("side", "bad", "check", "misrouted")

    def __init__(
        self, side: str, bad: list[tuple[str, Any, str, bytes]], check: tuple[DiffContext, int] | None = None
    ) -> None:
        self.side = side
        self.bad = bad
        self.check = check  # (context, shard) when lines were routed by their start
        self.misrouted = False

    def __call__(self, pos: Any, item: Any) -> Any:
        if type(item) is not bytes:
            return item
        try:
            value = _orjson_loads(item)
        except ValueError:
            value = None
        if type(value) is dict and record_ok(value):
            if self.check is not None:
                self._verify(value, item)
            return value
        line = item.strip()
        value, error = parse_line(line)
        if error is None:
            errors = record_errors(value)
            if not errors:
                if self.check is not None:
                    self._verify(value, item)
                return value
            error = f"not a Pendo record: {errors[0]}"
        self.bad.append((self.side, pos, error, line[:1000]))
        return None

    def _verify(self, record: Record, line: bytes) -> None:
        """Whether a record routed by its line's start is where its identity puts it, and (expected records)
        whether the partition learnt what it had to of it."""
        assert self.check is not None
        context, shard = self.check
        key = record.get("visitorId") if record.get("kind") == "track" else record.get("id")
        if type(key) is not str:  # a record's identity is a string; anything else is keyed as the partition keys it
            key = partition_record_key(record)
        if context.shards > 1 and crc32(key.encode("utf-8", "surrogatepass")) % context.shards != shard:
            self.misrouted = True
        elif self.side == "expected" and (key == ANONYMOUS_PATTERN or key in context.interest):
            head = line_key(line)
            if head is not None and head != ANONYMOUS_PATTERN and head not in context.interest and head != key:
                self.misrouted = True  # read wrong off its start: the partition did not learn from it


def diff_shard(
    context: DiffContext,
    expected: list[tuple[Any, Any, Any]],
    observed: list[tuple[Any, Any]],
    last: bool = False,
    shared: bool = True,
    shard: int = 0,
) -> ShardResult:
    """Diff the records of some identities: ``expected`` as (position, writer lane or None, record), ``observed``
    as (position, record), positions giving the global order; a record may be given as its JSON line (bytes),
    parsed here (and, when lines were routed by their start, checked to belong to ``shard``). ``last``: this shard
    runs after the others and holds the pattern's identity (otherwise observed records normalised to the pattern
    are handed back in ``moved``, raw, for that shard). ``shared``: a record may be the same object as another
    (not when each was parsed on its own).

    Track events are matched as they are read: each is parsed, normalised and hashed, and only the hash is kept;
    the few left without an equal are read again for the steps that pair them. (With the requests of injected
    faults, every record is kept: their sources explain duplicates.)"""
    bad: list[tuple[str, Any, str, bytes]] = []
    check = (context, shard) if context.raw else None
    read, read_o = _Reader("expected", bad, check), _Reader("observed", bad, check)
    if context.processed:
        expected = [(p, lane, r) for p, lane, item in expected if (r := read(p, item)) is not None]
        observed = [(p, r) for p, item in observed if (r := read_o(p, item)) is not None]
        result = _diff_shard_whole(context, expected, observed, last, shared)
        result.bad = bad
        result.misrouted = read.misrouted or read_o.misrouted
        return result
    options = context.options
    out = ShardResult()
    out.bad = bad
    expected = sorted(expected, key=_first)
    observed = sorted(observed, key=_first)
    norm = context.normaliser(())
    learn = norm.learn if norm.learns else None

    # expected: entities (and any other kind) kept; track events as their hashes
    ent_e: list[Record] = []
    ent_e_pos: list[Any] = []
    ent_e_lanes: list[Any] = []
    e_keys: list[int] = []
    e_items: list[tuple[Any, Any]] = []  # (position, record or line) of each track event
    # The hash of each track event's line: the same line is the same record, normalised the same on both sides
    # when nothing an expected record teaches changes how observed ones are normalised (no anonymous-id pattern,
    # no agent fields), so it is read once.
    seen: dict[bytes, int] | None = {} if learn is None else None
    for pos, lane, item in expected:
        if seen is not None and type(item) is bytes:
            known = seen.get(item)
            if known is not None:
                e_keys.append(known)
                e_items.append((pos, item))
                continue
        record = read(pos, item)
        if record is None:
            continue
        if learn is not None:
            learn(record)
        normal = norm(record, False)
        if normal.get("kind") == "track":
            k = _key(normal)
            e_keys.append(k)
            e_items.append((pos, item))
            if seen is not None and type(item) is bytes:
                seen[item] = k
        else:
            ent_e.append(normal)
            ent_e_pos.append(pos)
            ent_e_lanes.append(lane)
    if learn is not None and options.anonymous_ids:
        norm.pattern = context.pattern
    moving = norm.pattern and not last
    ent_o: list[Record] = []
    ent_o_pos: list[Any] = []
    o_keys: list[int] = []
    o_items: list[tuple[Any, Any]] = []
    for pos, item in observed:
        if seen is not None and type(item) is bytes:
            known = seen.get(item)
            if known is not None:
                o_keys.append(known)
                o_items.append((pos, item))
                continue
        record = read_o(pos, item)
        if record is None:
            continue
        normal = norm(record, True)
        if moving and _identity(normal) == ANONYMOUS_PATTERN:
            out.moved.append((pos, item))
            continue
        if normal.get("kind") == "track":
            k = _key(normal)
            o_keys.append(k)
            o_items.append((pos, item))
            if seen is not None and type(item) is bytes:
                seen[item] = k
        else:
            ent_o.append(normal)
            ent_o_pos.append(pos)
    if shared:
        ent_e, ent_o = _distinct(ent_e), _distinct(ent_o)

    # entities: as the whole shard's records would be matched
    written = None
    state = options.view == "state"
    if state:
        if context.writers:
            written = _writer_values(ent_e, ent_e_lanes)
        exp_v, exp_p = _state_positions(ent_e, ent_e_pos)
        obs_v, obs_p = _state_positions(ent_o, ent_o_pos)
    elif options.collapse_repeats:
        exp_v, exp_p = _collapse_positions(ent_e, ent_e_pos)
        obs_v, obs_p = _collapse_positions(ent_o, ent_o_pos)
    else:
        exp_v, exp_p, obs_v, obs_p = ent_e, ent_e_pos, ent_o, ent_o_pos
    out.expected, out.observed = len(exp_v) + len(e_keys), len(obs_v) + len(o_keys)
    e_at = {id(r): p for r, p in zip(exp_v, exp_p)}
    o_at = {id(r): p for r, p in zip(obs_v, obs_p)}
    m = _Matching(options)
    if state:
        rest_e, rest_o, m = _match_state(exp_v, obs_v, m, content=False)
    else:
        rest_e, rest_o = m.multiset(exp_v, obs_v, tracks=False)
    found, n = _pair_differences(m.pairs, options, written, None)
    out.differences.extend(found)
    out.matched += m.matched + n
    for e in rest_e:
        lanes = written.get((e.get("kind"), _h(e.get("id")))) if written else None
        out.entity_expected.append((e_at[id(e)], e, lanes, None))
    out.entity_observed.extend(_observed_rest(rest_o, m, obs_v, o_at, {}, {}))

    # track events: equal ones by their hashes (the first equal observed one for each expected, in order), then
    # what is left is read again and paired by identity; the rest pairs across visitors later
    stacks: dict[int, list[int]] = {}
    for j in range(len(o_keys) - 1, -1, -1):
        stack = stacks.get(o_keys[j])
        if stack is None:
            stacks[o_keys[j]] = [j]
        else:
            stack.append(j)
    o_used = [False] * len(o_keys)
    e_left: list[int] = []
    exact = 0
    for i, k in enumerate(e_keys):
        stack = stacks.get(k)
        if stack:
            o_used[stack.pop()] = True
            exact += 1
        else:
            e_left.append(i)
    e_rest = [norm(_parsed(e_items[i][1]), False) for i in e_left]
    o_left = [j for j, used in enumerate(o_used) if not used]
    o_rest = [norm(_parsed(o_items[j][1]), True) for j in o_left]
    if shared:
        e_rest, o_rest = _distinct(e_rest), _distinct(o_rest)
    e_at = {id(r): e_items[i][0] for r, i in zip(e_rest, e_left)}
    o_at = {id(r): o_items[j][0] for r, j in zip(o_rest, o_left)}
    m = _Matching(options)
    rest_e, rest_o = m.multiset(e_rest, o_rest, tracks=True, steps="local")
    m.matched += exact
    m.duplicate_keys.update(e_keys)  # every expected record's, as matching them all at once gives
    found, n = _pair_differences(m.pairs, options, None, None)
    out.differences.extend(found)
    out.matched += m.matched + n
    out.track_expected.extend((e_at[id(e)], e) for e in rest_e)
    out.track_observed.extend(_observed_rest(rest_o, m, o_rest, o_at, {}, {}))
    out.misrouted = read.misrouted or read_o.misrouted
    return out


def _diff_shard_whole(
    context: DiffContext,
    expected: list[tuple[Any, Any, Record]],
    observed: list[tuple[Any, Record]],
    last: bool = False,
    shared: bool = True,
) -> ShardResult:
    """``diff_shard`` holding every record: for a diff with injected faults (each record's source request
    counts)."""
    options = context.options
    out = ShardResult()
    expected = sorted(expected, key=_first)
    observed = sorted(observed, key=_first)
    exp_list = [item[2] for item in expected]
    obs_list = [item[1] for item in observed]
    if shared:
        exp_list, obs_list = _distinct(exp_list), _distinct(obs_list)
    exp_pos = [item[0] for item in expected]
    writers = [item[1] for item in expected] if context.writers else None
    norm = context.normaliser(exp_list)
    exp_n = [norm(r, False) for r in exp_list]
    processed = context.processed
    moving = norm.pattern and not last
    sources: dict[int, Any] = {}
    obs_n: list[Record] = []
    obs_pos: list[Any] = []
    for (pos, raw), unique in zip(observed, obs_list):
        normal = norm(unique, True)
        if moving and _identity(normal) == ANONYMOUS_PATTERN:
            out.moved.append((pos, raw))
            continue
        if processed:
            src = unique.get("source") if isinstance(unique, dict) else None
            if isinstance(src, Mapping):
                sources[id(normal)] = src.get("request")
        obs_n.append(normal)
        obs_pos.append(pos)
    written = late = None
    state = options.view == "state"
    if state:
        if writers is not None:
            written = _writer_values(exp_n, writers)
        if sources:
            late = _late_writes(exp_n, obs_n, sources, processed)  # type: ignore[arg-type]
        exp_v, exp_p = _state_positions(exp_n, exp_pos)
        obs_v, obs_p = _state_positions(obs_n, obs_pos)
    elif options.collapse_repeats:
        exp_v, exp_p = _collapse_positions(exp_n, exp_pos)
        obs_v, obs_p = _collapse_positions(obs_n, obs_pos)
    else:
        exp_v, exp_p, obs_v, obs_p = exp_n, exp_pos, obs_n, obs_pos
    out.expected, out.observed = len(exp_v), len(obs_v)
    e_at = {id(r): p for r, p in zip(exp_v, exp_p)}
    o_at = {id(r): p for r, p in zip(obs_v, obs_p)}
    e_tracks = [r for r in exp_v if r.get("kind") == "track"]
    o_tracks = [r for r in obs_v if r.get("kind") == "track"]
    e_ents = [r for r in exp_v if r.get("kind") != "track"]
    o_ents = [r for r in obs_v if r.get("kind") != "track"]

    # entities: by id (state view; pairing by content waits for the final pass), or every write (stream view)
    m = _Matching(options)
    if state:
        rest_e, rest_o, m = _match_state(e_ents, o_ents, m, content=False)
    else:
        rest_e, rest_o = m.multiset(e_ents, o_ents, tracks=False)
    found, n = _pair_differences(m.pairs, options, written, late)
    out.differences.extend(found)
    out.matched += m.matched + n
    for e in rest_e:
        key = (e.get("kind"), _h(e.get("id")))
        lanes = written.get(key) if written else None
        delayed = late.get(key) if late else None
        out.entity_expected.append((e_at[id(e)], e, lanes, delayed))
    out.entity_observed.extend(_observed_rest(rest_o, m, o_ents, o_at, sources, processed))

    # track events: equal ones, then a visitor's events paired by identity; the rest pairs across visitors later
    m = _Matching(options)
    rest_e, rest_o = m.multiset(e_tracks, o_tracks, tracks=True, steps="local")
    found, n = _pair_differences(m.pairs, options, written, late)
    out.differences.extend(found)
    out.matched += m.matched + n
    out.track_expected.extend((e_at[id(e)], e) for e in rest_e)
    out.track_observed.extend(_observed_rest(rest_o, m, o_tracks, o_at, sources, processed))
    return out


def _observed_rest(
    rest: list[Record],
    m: _Matching,
    group: list[Record],
    at: dict[int, Any],
    sources: dict[int, Any],
    processed: Mapping[Any, Any],
) -> list[tuple[Any, ...]]:
    if not rest:
        return []
    requests: dict[int, list[Any]] = {}
    first: dict[int, Any] = {}
    if processed and m.multiset_done:
        requests, first = _copies(group, at, sources, processed)
    out = []
    for o in rest:
        duplicate = m.multiset_done and m.is_duplicate(o)
        if requests:
            k = _key(o)
            out.append((at[id(o)], o, duplicate, requests.get(k), first.get(k)))
        else:
            out.append((at[id(o)], o, duplicate, None, None))
    return out


def merge_shards(
    context: DiffContext,
    results: Iterable[ShardResult],
    *,
    rejected: Iterable[Mapping[str, Any]] = (),
    warnings: Iterable[Mapping[str, Any]] = (),
    ignored: Iterable[Any] = (),
    dropped: Iterable[Mapping[str, Any]] = (),
    injected: Iterable[Mapping[str, Any]] = (),
    known: Sequence[Record] = (),
    profile: str | None = None,
    seed: int | None = None,
    reproduce: str | None = None,
) -> DiffReport:
    """The final pass: the shards' differences, the residuals paired across identities and classified, the fake's
    own findings; one report, as the whole diff makes it. ``known``: the expected records of the identities the
    fake's dropped records and the faults' records name (to normalise those as the whole diff does)."""
    options = context.options
    differences: list[Difference] = []
    matched = expected_count = observed_count = 0
    ent_e: list[tuple[Any, ...]] = []
    ent_o: list[tuple[Any, ...]] = []
    trk_e: list[tuple[Any, ...]] = []
    trk_o: list[tuple[Any, ...]] = []
    for r in results:
        differences.extend(r.differences)
        matched += r.matched
        expected_count += r.expected
        observed_count += r.observed
        ent_e.extend(r.entity_expected)
        ent_o.extend(r.entity_observed)
        trk_e.extend(r.track_expected)
        trk_o.extend(r.track_observed)
    for items in (ent_e, ent_o, trk_e, trk_o):
        items.sort(key=_first)
    processed = context.processed
    faults = [dict(item) for item in injected if isinstance(item, Mapping)]

    # entities
    es = [item[1] for item in ent_e]
    os_ = [item[1] for item in ent_o]
    if options.view == "state":
        m = _Matching(options)
        rest_e, rest_o = _pair_by_content(es, os_, m) if es and os_ else (es, os_)
        written = {(e.get("kind"), _h(e.get("id"))): lanes for _p, e, lanes, _d in ent_e if lanes}
        late = {(e.get("kind"), _h(e.get("id"))): delayed for _p, e, _l, delayed in ent_e if delayed}
        found, n = _pair_differences(m.pairs, options, written or None, late or None)
        differences.extend(found)
        matched += n
        differences.extend(_leftover_differences(rest_e, rest_o, None, None))
    else:
        flags = {id(item[1]): item[2] for item in ent_o}
        differences.extend(_leftover_differences(es, os_, lambda o: bool(flags[id(o)]), _retries(ent_o, processed)))

    # track events: the steps across visitors, on what every shard left
    m = _Matching(options)
    te = [item[1] for item in trk_e]
    to = [item[1] for item in trk_o]
    rest_e, rest_o = m.multiset(te, to, tracks=True, steps="cross")
    found, n = _pair_differences(m.pairs, options, None, None)
    differences.extend(found)
    matched += n
    flags = {id(item[1]): item[2] for item in trk_o}
    paired = m.duplicate_keys
    differences.extend(
        _leftover_differences(
            rest_e, rest_o, lambda o: bool(flags[id(o)]) or _key(o) in paired, _retries(trk_o, processed)
        )
    )

    norm = context.normaliser(known)
    differences.extend(_fake_differences(differences, rejected, dropped, warnings, ignored, faults, norm))
    return DiffReport(
        view=options.view,
        expected_records=expected_count,
        observed_records=observed_count,
        matched=matched,
        differences=sort_differences(differences),
        profile=profile,
        seed=seed,
        reproduce=reproduce,
        limit=options.limit,
        injected=faults,
    )


def _retries(observed: list[tuple[Any, ...]], processed: Mapping[Any, dict[str, Any]]) -> Any:
    """The final pass's ``retries``: each duplicate's processed copies, as its shard counted them, in the order
    the first copy was received."""
    if not processed:
        return None

    def retries(dups: dict[int, Difference]) -> list[Difference]:
        found: dict[int, tuple[Any, list[Any]]] = {}
        for _pos, o, _dup, requests, first in observed:
            if requests:
                k = _key(o)
                if k in dups and k not in found:
                    found[k] = (first, requests)
        copies = {k: requests for k, (_f, requests) in sorted(found.items(), key=lambda kv: kv[1][0])}
        return _retry_differences(dups, copies, dict(processed))

    return retries
