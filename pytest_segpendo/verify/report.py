"""The verdict of a diff: classified differences, counts, and their renderings (text, JSON, JUnit properties).

Classes of difference (``Difference.cls``), in report order:

- ``missing``: an expected record Pendo did not get;
- ``unexpected``: a record Pendo got that nothing expected;
- ``changed``: a record Pendo got with the right identity but different fields (each field named);
- ``duplicated``: a record Pendo got more times than expected;
- ``rejected``: a request the fake refused (with the fake's reason) — data the system sent that Pendo drops;
- ``warning``: data the fake accepted but Pendo would treat specially (does not fail the check);
- ``ignored``: a Segment event the profile turns into nothing (page, screen, alias...; does not fail the check).
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
    "Difference",
    "DiffReport",
    "FieldDiff",
    "format_path",
    "label",
    "sort_differences",
]

CLASSES = ("missing", "unexpected", "changed", "duplicated", "rejected", "warning", "ignored")
FAILING = ("missing", "unexpected", "changed", "duplicated", "rejected")
SUMMARY_KEYS = ("missing", "unexpected", "changed", "duplicated", "rejected", "ignored", "warnings")
KIND_ORDER = {"visitor": 0, "account": 1, "parentAccount": 2, "track": 3, "request": 4, "event": 5}


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
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class Difference:
    """One classified difference. ``expected``/``observed`` are the records (None where there is none)."""

    cls: str
    kind: str
    label: str
    expected: dict[str, Any] | None = None
    observed: dict[str, Any] | None = None
    fields: list[FieldDiff] = field(default_factory=list)
    reason: str | None = None
    count: int = 1
    sort_key: tuple[Any, ...] = ()

    def lines(self, max_fields: int = 5) -> list[str]:
        """The difference as the failure message shows it."""
        if self.cls == "changed":
            out = [f"changed {self.label}:"]
            for f in self.fields[:max_fields]:
                out.append(f"    {f.where}: expected {_value(f.expected)}, got {_value(f.actual)}")
            if len(self.fields) > max_fields:
                out.append(f"    ... and {len(self.fields) - max_fields} more fields")
            return out
        if self.cls == "missing":
            return [f"missing {self.label}: expected {_value(_body(self.expected))}, not received"]
        if self.cls == "unexpected":
            return [f"unexpected {self.label}: received {_value(_body(self.observed))}, not expected"]
        if self.cls == "duplicated":
            return [
                f"duplicated {self.label}: received {self.count} more time{'s' if self.count > 1 else ''} than expected"
            ]
        return [f"{self.cls} {self.label}: {self.reason}"]

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
        return out


def _body(record: dict[str, Any] | None) -> Any:
    if record is None:
        return None
    if record.get("kind") == "track":
        return record.get("properties")
    return record.get("metadata")


@dataclass
class DiffReport:
    """What a conformance check found. ``conforms`` is true when no failing difference was found.

    ``differences`` holds every difference, in a deterministic order (class, kind, record); ``summary`` counts
    records per class (a changed record counts once however many fields differ); ``by_kind`` splits the counts
    per record kind.
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

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SUMMARY_KEYS, 0)
        for d in self.differences:
            counts["warnings" if d.cls == "warning" else d.cls] += d.count
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
        """The human report: headline, the fields that differ most, the first ``limit`` failing differences,
        warnings, ignored events, summary, reproduce."""
        limit = self.limit if limit is None else limit
        lines = [self.headline()]
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
        failing = self.failing()
        for d in failing[:limit]:
            lines.extend("  " + line for line in d.lines())
        if len(failing) > limit:
            lines.append(f"  ... and {len(failing) - limit:,} more differences (the JSON report lists them all)")
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
            per: dict[str, int] = {}
            for d in ignored:
                kind = (d.expected or {}).get("type", "event")
                per[kind] = per.get(kind, 0) + 1
            lines.append(
                "  ignored (no Pendo record by design): " + ", ".join(f"{k} {n:,}" for k, n in sorted(per.items()))
            )
        lines.extend("  note: " + n for n in self.notes)
        lines.append(self.summary_line())
        if self.reproduce and not self.conforms:
            lines.append(f"reproduce: {self.reproduce}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def as_json(self, limit: int | None = None) -> dict[str, Any]:
        """The JSON report (docs/index.md): ``conforms``, ``summary``, ``differences`` and run details."""
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
            "differences": [d.as_json() for d in diffs],
        }

    def junit_properties(self) -> list[tuple[str, str]]:
        """``segpendo_<class>`` counts and the verdict, for JUnit XML ``<properties>``."""
        props = [("segpendo_conforms", str(self.conforms).lower()), ("segpendo_view", self.view)]
        if self.profile:
            props.append(("segpendo_profile", self.profile))
        props += [(f"segpendo_{k}", str(v)) for k, v in self.summary.items()]
        props.append(("segpendo_matched", str(self.matched)))
        return props
