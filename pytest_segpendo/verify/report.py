"""The verdict of a diff: classified differences, counts, root causes and their renderings (text, JSON, JUnit).

Classes of difference (``Difference.cls``), in report order:

- ``missing``: an expected record Pendo did not get;
- ``unexpected``: a record Pendo got that nothing expected;
- ``changed``: a record Pendo got with the right identity but different fields (each field named);
- ``duplicated``: a record Pendo got more times than expected;
- ``rejected``: a request the fake refused (with the fake's reason) — data the system sent that Pendo drops;
- ``dropped``: a record Pendo accepted (answered 2xx) and never processes, with the rule and its source;
- ``retry-duplicate``: a duplicate no correct system avoids: Pendo processed a request, then answered late (or
  with an error, or dropped the connection, as a test's injected fault made it) and the client sent it again
  (does not fail the check);
- ``order-dependent``: a record written from several delivery lanes (users) whose final value depends on the
  order Segment delivered them in, and which Pendo got in an order that is possible (does not fail the check);
- ``warning``: data the fake accepted but Pendo would treat specially (does not fail the check);
- ``ignored``: a Segment event the profile turns into nothing (page, screen, alias...; does not fail the check).

The text report opens with what explains the rest (:meth:`DiffReport.root_causes`): refusals grouped by reason,
drops grouped by rule, the faults the test injected, and causes a caller adds (:attr:`DiffReport.causes`, e.g.
the delivery's failures); then the fields that differ most; then the records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "ABSENT",
    "CLASSES",
    "FAILING",
    "Cause",
    "Difference",
    "DiffReport",
    "FieldDiff",
    "format_path",
    "label",
    "sort_differences",
]

CLASSES = (
    "missing",
    "unexpected",
    "changed",
    "duplicated",
    "rejected",
    "dropped",
    "retry-duplicate",
    "order-dependent",
    "warning",
    "ignored",
)
FAILING = ("missing", "unexpected", "changed", "duplicated", "rejected", "dropped")
SUMMARY_KEYS = (
    "missing",
    "unexpected",
    "changed",
    "duplicated",
    "rejected",
    "dropped",
    "retry-duplicate",
    "order-dependent",
    "ignored",
    "warnings",
)
# shown in the text summary line always (the others when not zero, so a usual report keeps its one short line)
ALWAYS_SHOWN = ("missing", "unexpected", "changed", "duplicated", "rejected", "ignored", "warnings")
KIND_ORDER = {"visitor": 0, "account": 1, "parentAccount": 2, "track": 3, "request": 4, "event": 5}
CAUSE_GROUPS = 5  # reasons (rules) shown per kind of cause in the text; the JSON has them all


class _Absent:
    """A field that is not there (as opposed to one that is null)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_NUMBERS = re.compile(r"\d[\d,.:]*")  # the numbers, dates and times of a reason: not what groups it


def format_path(segments: Sequence[Any]) -> str:
    """``('metadata', 'plan')`` -> ``metadata.plan``; ``('properties', 'items', 0)`` -> ``properties.items[0]``;
    a key that is not an identifier is quoted: ``metadata['first name']``."""
    out = ""
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{json.dumps(seg, ensure_ascii=False)}]"
    return out or "(record)"


@dataclass(frozen=True)
class FieldDiff:
    """One field that differs: its path in the record, the expected and the actual value (``ABSENT`` if none)."""

    path: tuple[Any, ...]
    expected: Any
    actual: Any

    @property
    def where(self) -> str:
        return format_path(self.path)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.where}
        if self.expected is not ABSENT:
            out["expected"] = self.expected
        if self.actual is not ABSENT:
            out["actual"] = self.actual
        return out


def sort_differences(differences: list[Difference]) -> list[Difference]:
    """The report order: by class (missing first), then kind and record."""
    order = {c: i for i, c in enumerate(CLASSES)}
    return sorted(differences, key=lambda d: (order[d.cls], d.sort_key, d.label))


def _ts(ms: Any) -> str:
    if not isinstance(ms, int) or isinstance(ms, bool):
        return repr(ms)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return str(ms)


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def label(record: dict[str, Any]) -> str:
    """A record named as a reader looks for it: ``visitor "u1"``, ``track "Signed Up" (visitor "u1", ...)``."""
    kind = record.get("kind")
    if kind == "track":
        parts = [f"visitor {_q(record.get('visitorId'))}"]
        if record.get("accountId") is not None:
            parts.append(f"account {_q(record.get('accountId'))}")
        if record.get("timestamp") is not None:
            parts.append(f"at {_ts(record.get('timestamp'))}")
        return f"track {_q(record.get('event'))} ({', '.join(parts)})"
    if kind == "parentAccount":
        return f"parent account {_q(record.get('id'))}"
    return f"{kind} {_q(record.get('id'))}"


def _value(value: Any, width: int = 100) -> str:
    if value is ABSENT:
        return "(absent)"
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= width:
        return text
    if isinstance(value, str):  # keep it a quoted string: "tenant:us-east-1:b278...", not "tenant:us-east-1:b278...
        return text[: width - 4] + '..."'
    return text[: width - 3] + "..."


def writer_label(lane: str) -> str:
    """A delivery lane (``Expectation.writers``) as a reader says it: ``user "u3"``, ``anonymous user "a1"``."""
    name, sep, value = lane.partition(":")
    if not sep:
        return lane or "events without a user id"
    if name == "request":  # a write Pendo processed late (a slow fault)
        return f"request #{value}, processed late"
    return f"{'user' if name == 'userId' else 'anonymous user' if name == 'anonymousId' else name} {_q(value)}"


@dataclass
class Difference:
    """One classified difference. ``expected``/``observed`` are the records (None where there is none).

    ``cause`` explains where it came from when the report knows (``lost after Pendo answered 503 at request #4``,
    ``dropped by Pendo at request #9 (rule timestamp-too-old)``); callers may add to it (a check appends what the
    delivery saw). ``rule``, ``source`` and ``request`` are a drop's rule, the rule's source and the request;
    ``writers`` maps, for an order-dependent record, each field path to its writers and the value each wrote
    last: ``{"metadata.plan": [("userId:u3", "pro"), ("userId:u7", "free")]}``.
    """

    cls: str
    kind: str
    label: str
    expected: dict[str, Any] | None = None
    observed: dict[str, Any] | None = None
    fields: list[FieldDiff] = field(default_factory=list)
    reason: str | None = None
    count: int = 1
    sort_key: tuple[Any, ...] = ()
    cause: str | None = None
    rule: str | None = None
    source: str | None = None
    request: int | None = None
    writers: dict[str, list[tuple[str, Any]]] | None = None

    def lines(self, max_fields: int = 5) -> list[str]:
        """The difference as the failure message shows it."""
        if self.cls == "changed":
            out = [f"changed {self.label}:"]
            for f in self.fields[:max_fields]:
                out.append(f"    {f.where}: expected {_value(f.expected)}, got {_value(f.actual)}")
            if len(self.fields) > max_fields:
                out.append(f"    ... and {len(self.fields) - max_fields} more fields")
        elif self.cls == "missing":
            out = [f"missing {self.label}: expected {_value(_body(self.expected))}, not received"]
        elif self.cls == "unexpected":
            out = [f"unexpected {self.label}: received {_value(_body(self.observed))}, not expected"]
        elif self.cls == "duplicated":
            out = [f"duplicated {self.label}: received {_times(self.count)} than expected"]
        elif self.cls == "retry-duplicate":
            return [
                f"{self.cause or 'duplicated after a retry'}: {self.label} received {_times(self.count)} "
                "(not failing: Pendo had processed the request the client sent again)"
            ]
        elif self.cls == "dropped":
            where = f"request #{self.request}" if self.request is not None else "a request"
            src = f"; source: {self.source}" if self.source else ""
            return [f"dropped by Pendo {self.label}: {self.rule}: {self.reason} ({where}{src})"]
        elif self.cls == "order-dependent":
            out = [f"order-dependent {self.label} (not failing: Segment does not order events of different users):"]
            for f in self.fields[:max_fields]:
                out.append(f"    {f.where}: got {_value(f.actual, 60)}; {self._writers_text(f.where)}")
            return out
        else:
            return [f"{self.cls} {self.label}: {self.reason}"]
        if self.cause:
            out.append(f"    cause: {self.cause}")
        return out

    def _writers_text(self, where: str, most: int = 4) -> str:
        """``writers' last values: "pro" (user "u3"), "free" (2 writers, e.g. user "u7")``."""
        by_value: dict[str, list[str]] = {}
        for w, v in (self.writers or {}).get(where, []):
            by_value.setdefault(_value(v, 40), []).append(w)
        parts = []
        for text, lanes in list(by_value.items())[:most]:
            who = writer_label(lanes[0])
            parts.append(f"{text} ({who})" if len(lanes) == 1 else f"{text} ({len(lanes)} writers, e.g. {who})")
        more = f" and {len(by_value) - most} more values" if len(by_value) > most else ""
        return f"writers' last values: {', '.join(parts)}{more}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls, "kind": self.kind, "record": self.label}
        if self.fields:
            out["fields"] = [f.as_json() for f in self.fields]
        if self.expected is not None:
            out["expected"] = self.expected
        if self.observed is not None:
            out["observed"] = self.observed
        if self.reason is not None:
            out["reason"] = self.reason
        if self.count != 1:
            out["count"] = self.count
        for name in ("cause", "rule", "source", "request"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.writers:
            out["writers"] = {
                path: [{"writer": w, "value": v} for w, v in found] for path, found in self.writers.items()
            }
        return out


def _times(count: int) -> str:
    return f"{count} more time{'s' if count > 1 else ''}"


def _body(record: dict[str, Any] | None) -> Any:
    if record is None:
        return None
    if record.get("kind") == "track":
        return record.get("properties")
    return record.get("metadata")


@dataclass
class Cause:
    """One root cause, as the report opens with it: ``rejected x12: HTTP 400: timestamp: required (e.g. ...)``.

    ``what`` names the kind of cause (``rejected``, ``dropped by Pendo``, ``faults injected by the test``, or a
    caller's, e.g. ``delivery``), ``text`` says it, ``count`` how many times it happened, ``example`` where.
    """

    what: str
    text: str
    count: int = 1
    example: str | None = None

    def line(self) -> str:
        n = f" x{self.count:,}" if self.count != 1 else ""
        example = f" (e.g. {self.example})" if self.example else ""
        return f"{self.what}{n}: {self.text}{example}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"what": self.what, "text": self.text, "count": self.count}
        if self.example is not None:
            out["example"] = self.example
        return out


def _fault_name(item: dict[str, Any]) -> str:
    kind = item.get("kind")
    if kind == "slow":
        name = f"slow answer ({item.get('delay_ms', '?')} ms)"
    elif kind == "drop":
        name = "connection dropped"
    else:
        name = f"status {item.get('status', '?')}"
    if item.get("phase") == "after" and kind != "slow":
        name += " after processing"
    return name


@dataclass
class DiffReport:
    """What a conformance check found. ``conforms`` is true when no failing difference was found.

    ``differences`` holds every difference, in a deterministic order (class, kind, record); ``summary`` counts
    records per class (a changed record counts once however many fields differ); ``by_kind`` splits the counts
    per record kind. ``injected`` lists the faults the test injected into the fake; ``causes`` holds root causes
    a caller adds (a check adds the delivery's failures); :meth:`root_causes` is what the text opens with.
    """

    view: str
    expected_records: int
    observed_records: int
    matched: int
    differences: list[Difference] = field(default_factory=list)
    profile: str | None = None
    seed: int | None = None
    reproduce: str | None = None
    notes: list[str] = field(default_factory=list)
    limit: int = 20
    causes: list[Cause] = field(default_factory=list)
    injected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SUMMARY_KEYS, 0)
        for d in self.differences:
            key = "warnings" if d.cls == "warning" else d.cls
            counts[key] = counts.get(key, 0) + d.count
        return counts

    @property
    def by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for d in self.differences:
            per = out.setdefault("warnings" if d.cls == "warning" else d.cls, {})
            per[d.kind] = per.get(d.kind, 0) + d.count
        return out

    @property
    def conforms(self) -> bool:
        return not any(d.cls in FAILING for d in self.differences)

    def failing(self) -> list[Difference]:
        return [d for d in self.differences if d.cls in FAILING]

    def of(self, cls: str) -> list[Difference]:
        """The differences of one class (``missing``, ``changed``, ...)."""
        return [d for d in self.differences if d.cls == cls]

    def add_cause(self, what: str, text: str, count: int = 1, example: str | None = None) -> Cause:
        """Add a root cause the report cannot see itself (a check adds the delivery's failures)."""
        cause = Cause(what, text, count, example)
        self.causes.append(cause)
        return cause

    def __iter__(self) -> Iterator[Difference]:
        return iter(self.differences)

    def __len__(self) -> int:
        return len(self.differences)

    def __repr__(self) -> str:
        verdict = "conforms" if self.conforms else "differs"
        counts = ", ".join(f"{k} {v}" for k, v in self.summary.items() if v)
        return (
            f"<DiffReport {verdict}: {self.view} view, {self.expected_records} expected, {self.observed_records} "
            f"observed{'; ' + counts if counts else ''}>"
        )

    # -- root causes ----------------------------------------------------------------------------------------
    def root_causes(self) -> list[Cause]:
        """What explains the rest, in this order: refusals grouped by reason, drops grouped by rule, the faults
        injected, then the causes callers added (:attr:`causes`). Every group, most frequent first."""
        out: list[Cause] = []
        groups: dict[str, list[Difference]] = {}
        for d in self.of("rejected"):
            groups.setdefault(str(d.reason), []).append(d)
        for reason, found in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            out.append(Cause("rejected", reason, len(found), found[0].label))
        rules: dict[tuple[str, str, str], list[Difference]] = {}
        for d in self.of("dropped"):  # one group per rule and wording: the numbers in a reason (ages, ids) vary
            rules.setdefault((str(d.rule), _NUMBERS.sub("#", str(d.reason)), d.source or ""), []).append(d)
        for (rule, _shape, source), found in sorted(rules.items(), key=lambda kv: -len(kv[1])):
            first = found[0]
            where = f" at request #{first.request}" if first.request is not None else ""
            more = f" (and {len(found) - 1:,} more like it)" if len(found) > 1 else ""
            text = f"rule {rule}: {first.reason}{more}" + (f" (source: {source})" if source else "")
            out.append(Cause("dropped by Pendo", text, len(found), f"{first.label}{where}"))
        if self.injected:
            kinds: dict[str, int] = {}
            for item in self.injected:
                name = _fault_name(item)
                kinds[name] = kinds.get(name, 0) + 1
            text = ", ".join(f"{k} x{n:,}" if n > 1 else k for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
            fault = self.injected[0]
            example = f"request #{fault.get('request', '?')} ({fault.get('route', '?')})"
            out.append(Cause("faults injected by the test", text, len(self.injected), example))
        out.extend(self.causes)
        return out

    # -- renderings -----------------------------------------------------------------------------------------
    def headline(self) -> str:
        what = f"profile {self.profile}, " if self.profile else ""
        if self.conforms:
            return (
                f"segpendo: conforms ({what}{self.view} view): {self.matched:,} of {self.expected_records:,} "
                "expected records received as expected"
            )
        s = self.summary
        parts = [f"{s[k]:,} {k}" for k in FAILING if s[k]]
        return (
            f"segpendo: Pendo did not get what was expected ({what}{self.view} view): {', '.join(parts)}; "
            f"{self.matched:,} of {self.expected_records:,} expected records matched"
        )

    def summary_line(self) -> str:
        parts = []
        by_kind = self.by_kind
        for key, count in self.summary.items():
            if not count and key not in ALWAYS_SHOWN:
                continue
            kinds = by_kind.get(key, {})
            detail = ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items(), key=lambda kv: KIND_ORDER.get(kv[0], 9)))
            parts.append(f"{key} {count:,}" + (f" ({detail})" if count and detail else ""))
        return "summary: " + "; ".join(parts)

    def field_counts(self) -> list[tuple[str, int, FieldDiff]]:
        """Changed fields across records, most frequent first: ``("track accountId", 88, first example)``.
        List indexes are folded (``properties.items[*].sku``) so one bug counts as one line."""
        counts: dict[str, list[Any]] = {}
        for d in self.differences:
            if d.cls != "changed":
                continue
            for f in d.fields:
                key = f"{d.kind} " + format_path(tuple("*" if isinstance(p, int) else p for p in f.path)).replace(
                    '["*"]', "[*]"
                )
                entry = counts.setdefault(key, [0, f])
                entry[0] += 1
        return sorted(((k, n, f) for k, (n, f) in counts.items()), key=lambda item: (-item[1], item[0]))

    def format(self, limit: int | None = None) -> str:
        """The human report, what explains the rest first: headline, root causes (refusals, drops, faults,
        delivery), the fields that differ most, the first ``limit`` differing records, what does not fail
        (duplicates after a retry, order-dependent records, warnings, ignored events), notes, summary, reproduce.
        Every part is bounded, so a 10^5-record failure reads top-down in a few dozen lines."""
        limit = self.limit if limit is None else limit
        lines = [self.headline()]
        causes = self.root_causes()
        if causes:
            lines.append(
                "  root causes (what explains the rest):"
                if not self.conforms
                else "  on the way (faults and causes the system coped with):"
            )
            groups: dict[str, list[Cause]] = {}
            for cause in causes:
                groups.setdefault(cause.what, []).append(cause)
            for what, found in groups.items():
                lines.extend("    " + cause.line() for cause in found[:CAUSE_GROUPS])
                if len(found) > CAUSE_GROUPS:
                    n = sum(cause.count for cause in found[CAUSE_GROUPS:])
                    lines.append(f"    {what}: ... and {n:,} more, for other reasons (the JSON report lists them all)")
        top = self.field_counts()
        if len(top) > 1 or (top and top[0][1] > 1):
            lines.append("  fields that differ most:")
            for key, n, example in top[:5]:
                lines.append(
                    f"    {key}: {n:,} record{'s' if n > 1 else ''} (e.g. expected {_value(example.expected, 40)}, "
                    f"got {_value(example.actual, 40)})"
                )
            if len(top) > 5:
                lines.append(f"    ... and {len(top) - 5} more fields")
        records = [d for d in self.failing() if d.cls not in ("rejected", "dropped")]  # those are in the causes
        for d in records[:limit]:
            lines.extend("  " + line for line in d.lines())
        if len(records) > limit:
            lines.append(f"  ... and {len(records) - limit:,} more differences (the JSON report lists them all)")
        lines.extend(self._not_failing())
        lines.extend("  note: " + n for n in self.notes)
        lines.append(self.summary_line())
        if self.reproduce and not self.conforms:
            lines.append(f"reproduce: {self.reproduce}")
        return "\n".join(lines)

    def _not_failing(self, most: int = 3) -> list[str]:
        lines = []
        again = self.of("retry-duplicate")
        if again:
            n = sum(d.count for d in again)
            lines.append(
                f"  duplicated after a retry x{n:,} (not failing: Pendo had processed the request the client sent "
                f"again, as a fault injected by the test made it answer late, with an error or not at all), "
                f"first: {again[0].label}: {again[0].cause}"
            )
        ordered = self.of("order-dependent")
        if ordered:
            fields: dict[str, int] = {}
            for d in ordered:
                for f in d.fields:
                    fields[f.where] = fields.get(f.where, 0) + 1
            per = ", ".join(f"{k} {n:,}" for k, n in sorted(fields.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(
                f"  order-dependent x{len(ordered):,} ({per}; not failing: written by several users, whose events "
                "Segment does not deliver in order, and Pendo keeps the last write):"
            )
            for d in ordered[:most]:
                for f in d.fields[:1]:
                    lines.append(f"    {d.label} {f.where}: got {_value(f.actual, 40)}, {d._writers_text(f.where, 3)}")
            if len(ordered) > most:
                lines.append(f"    ... and {len(ordered) - most:,} more (the JSON report lists them all)")
        rules: dict[str, list[Difference]] = {}
        for d in self.of("warning"):
            rules.setdefault(d.kind, []).append(d)
        for rule, found in rules.items():
            lines.append(
                f"  warning {rule} x{len(found):,} (accepted; Pendo treats it specially), first in {found[0].label}: "
                f"{found[0].reason}"
            )
        ignored = self.of("ignored")
        if ignored:
            per_type: dict[str, int] = {}
            for d in ignored:
                kind = (d.expected or {}).get("type", "event")
                per_type[kind] = per_type.get(kind, 0) + 1
            lines.append(
                "  ignored (no Pendo record by design): " + ", ".join(f"{k} {n:,}" for k, n in sorted(per_type.items()))
            )
        return lines

    def __str__(self) -> str:
        return self.format()

    def as_json(self, limit: int | None = None) -> dict[str, Any]:
        """The JSON report (docs/verify.md): ``conforms``, ``summary``, root ``causes``, every difference
        (``limit`` keeps only the first ones, for a caller that asks), the faults injected and run details.
        An injected fault's would-be records are left out (the records they held are the missing ones)."""
        diffs = self.differences if limit is None else self.differences[:limit]
        return {
            "conforms": self.conforms,
            "summary": self.summary,
            "by_kind": self.by_kind,
            "view": self.view,
            "profile": self.profile,
            "seed": self.seed,
            "expected": self.expected_records,
            "observed": self.observed_records,
            "matched": self.matched,
            "reproduce": self.reproduce,
            "causes": [c.as_json() for c in self.root_causes()],
            "injected": [{k: v for k, v in item.items() if k != "records"} for item in self.injected],
            "notes": list(self.notes),
            "differences": [d.as_json() for d in diffs],
        }

    def junit_properties(self) -> list[tuple[str, str]]:
        """``segpendo_<class>`` counts and the verdict, for JUnit XML ``<properties>``."""
        props = [("segpendo_conforms", str(self.conforms).lower()), ("segpendo_view", self.view)]
        if self.profile:
            props.append(("segpendo_profile", self.profile))
        props += [(f"segpendo_{k.replace('-', '_')}", str(v)) for k, v in self.summary.items()]
        props.append(("segpendo_matched", str(self.matched)))
        return props
