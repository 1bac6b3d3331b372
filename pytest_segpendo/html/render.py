"""Write the HTML conformance report: one self-contained file (CSS, JavaScript, charts and data inlined).

The page is built with Jinja2 from ``templates/report.html.jinja``; the charts are SVG drawn in Python
(:mod:`.charts`); each run's differences are embedded once, as gzip-compressed JSON in base64, and the page's
script decodes them (the browser's ``DecompressionStream``) and renders rows in chunks of
:data:`CHUNK` as the reader scrolls or filters, and a record's side-by-side view only when it is opened.
A Content-Security-Policy forbids every request: the file opens offline, from disk, and fetches nothing.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from .. import __version__
from ..verify.report import CLASSES as REPORT_CLASSES
from ..verify.report import FAILING as REPORT_FAILING
from .charts import Bar, bar_chart, pattern_defs, series_name, timeline_chart
from .schema import validate_runs

__all__ = ["CHUNK", "TOP", "render_html", "write_html"]

CHUNK = 100
"""Difference rows the page renders at a time (more as the reader scrolls)."""
TOP = 12
"""Bars in the field, event type and account charts (the most frequent first)."""

# Classes in report order (the diff engine's, then any this module knows of), with their label, icon and whether
# they fail a check. A class no list here names (a newer report's) is shown after these under its own name.
CLASS_ORDER: tuple[str, ...] = tuple(dict.fromkeys((*REPORT_CLASSES, "dropped", "warning", "ignored")))
QUIET = frozenset(c for c in CLASS_ORDER if c not in REPORT_FAILING and c != "dropped")  # reported, never failing
LABELS = {
    "dropped": "dropped by Pendo",
    "warning": "warnings",
    "retry-duplicate": "duplicate after a retry",
    "order-dependent": "order-dependent",
}
ICONS = {
    "missing": "−",
    "unexpected": "+",
    "changed": "≠",
    "duplicated": "×2",
    "rejected": "⊘",
    "dropped": "↓",
    "retry-duplicate": "↻",
    "order-dependent": "⇅",
    "warning": "!",
    "ignored": "·",
}
KIND_ORDER = {"visitor": 0, "account": 1, "parentAccount": 2, "track": 3, "request": 4, "event": 5}
_INDEX = re.compile(r"\[\d+\]")


def summary_key(cls: str) -> str:
    """A class's key in ``summary`` / ``by_kind`` (``warning`` is counted under ``warnings``)."""
    return "warnings" if cls == "warning" else cls


def _class_of_key(key: str) -> str:
    return "warning" if key == "warnings" else key


def _class_rank(cls: str) -> tuple[int, str]:
    return (CLASS_ORDER.index(cls) if cls in CLASS_ORDER else len(CLASS_ORDER), cls)


def fold(path: str) -> str:
    """``properties.items[3].sku`` -> ``properties.items[*].sku``: one bug, one line."""
    return _INDEX.sub("[*]", path)


def _record_of(d: Mapping[str, Any]) -> Mapping[str, Any]:
    rec = d.get("expected") or d.get("observed")
    return rec if isinstance(rec, Mapping) else {}


def _weight(d: Mapping[str, Any]) -> int:
    count = d.get("count")
    return count if isinstance(count, int) and count > 0 else 1


def _account(d: Mapping[str, Any]) -> str | None:
    rec = _record_of(d)
    kind = d.get("kind") or rec.get("kind")
    value = rec.get("accountId") if kind == "track" else rec.get("id") if kind in ("account", "parentAccount") else None
    return value if isinstance(value, str) and value else None


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS)


def _pretty(value: Any) -> str:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_INDENT_2).decode()


def _blob(differences: Sequence[Any]) -> str:
    return base64.b64encode(gzip.compress(_json(differences), compresslevel=6, mtime=0)).decode("ascii")


def _headline(doc: Mapping[str, Any]) -> str:
    what = ", ".join(
        p
        for p in (
            f"profile {doc['profile']}" if doc.get("profile") else "",
            f"{doc['view']} view" if doc.get("view") else "",
        )
        if p
    )
    what = f" ({what})" if what else ""
    matched, expected = doc.get("matched"), doc.get("expected")
    ratio = f"{matched:,} of {expected:,} expected records" if matched is not None and expected is not None else ""
    if doc["conforms"]:
        return f"Conforms{what}: " + (f"{ratio} received as expected" if ratio else "no failing difference")
    s = doc["summary"]
    parts = [f"{n:,} {LABELS.get(_class_of_key(k), k)}" for k, n in s.items() if n and _class_of_key(k) not in QUIET]
    return f"Pendo did not get what was expected{what}: {', '.join(parts) or 'see the differences'}" + (
        f"; {ratio} matched" if ratio else ""
    )


def _classes(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per class: the count of the JSON report (``summary``), its split per kind, and rows shown."""
    summary: Mapping[str, int] = doc["summary"]
    by_kind: Mapping[str, Mapping[str, int]] = doc["by_kind"]
    rows_per_class = Counter(str(d["class"]) for d in doc["differences"])
    classes = set(CLASS_ORDER) | {_class_of_key(k) for k in summary} | set(rows_per_class)
    out = []
    for cls in sorted(classes, key=_class_rank):
        key = summary_key(cls)
        if key in summary:
            count = summary[key]
        else:  # a class the summary does not count (yet): count its differences
            count = sum(_weight(d) for d in doc["differences"] if d["class"] == cls)
        if cls not in CLASS_ORDER and not count:
            continue
        kinds = by_kind.get(key) or dict(
            Counter(str(d.get("kind", "?")) for d in doc["differences"] if d["class"] == cls for _ in range(_weight(d)))
        )
        out.append(
            {
                "cls": cls,
                "key": key,
                "label": LABELS.get(cls, cls),
                "icon": ICONS.get(cls, "?"),
                "count": count,
                "rows": rows_per_class.get(cls, 0),
                "failing": cls not in QUIET,
                "kinds": sorted(kinds.items(), key=lambda kv: (KIND_ORDER.get(kv[0], 9), kv[0])),
            }
        )
    return out


def _kind_chart(doc: Mapping[str, Any], rid: str) -> dict[str, Any] | None:
    by_kind: Mapping[str, Mapping[str, int]] = doc["by_kind"]
    per: dict[str, dict[str, int]] = {}
    for key, kinds in by_kind.items():
        cls = _class_of_key(key)
        if cls in QUIET:
            continue
        for kind, n in kinds.items():
            if n:
                per.setdefault(kind, {})[cls] = n
    if not by_kind:
        for d in doc["differences"]:
            if d["class"] not in QUIET:
                kind = str(d.get("kind", "?"))
                per.setdefault(kind, {})
                per[kind][d["class"]] = per[kind].get(d["class"], 0) + _weight(d)
    for kind, counts in (doc.get("records_by_kind") or {}).items():
        if "matched" in counts:
            per.setdefault(kind, {})["matched"] = counts["matched"]
    if not per or not any(v for counts in per.values() for k, v in counts.items() if k != "matched"):
        return None
    series = ["matched", *sorted({c for counts in per.values() for c in counts if c != "matched"}, key=_class_rank)]
    bars = [
        Bar(kind, counts, {"kind": kind})
        for kind, counts in sorted(per.items(), key=lambda kv: (KIND_ORDER.get(kv[0], 9), kv[0]))
    ]
    title = "Records per kind: " + ("matched and " if "records_by_kind" in doc else "") + "differences"
    return _chart(f"{rid}-kinds", title, bars, series)


def _chart(cid: str, title: str, bars: list[Bar], series: list[str]) -> dict[str, Any]:
    used = [s for s in series if any(b.values.get(s) for b in bars)]
    return {
        "id": cid,
        "title": title,
        "svg": bar_chart(cid, title, bars, series),
        "head": [series_name(s) for s in used],
        "rows": [(b.label, [b.values.get(s, 0) for s in used], b.total) for b in bars],
    }


def _top_chart(
    doc: Mapping[str, Any], cid: str, title: str, key_of: Any, filter_name: str, limit: int = TOP
) -> dict[str, Any] | None:
    per: dict[str, Counter[str]] = {}
    for d in doc["differences"]:
        if d["class"] in QUIET:
            continue
        key = key_of(d)
        if key is None:
            continue
        per.setdefault(key, Counter())[d["class"]] += _weight(d)
    if not per:
        return None
    ranked = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    shown = ranked[:limit]
    series = sorted({c for _, counts in shown for c in counts}, key=_class_rank)
    bars = [Bar(k, dict(c), {filter_name: k}) for k, c in shown]
    more = f" (top {limit} of {len(ranked):,})" if len(ranked) > limit else ""
    return _chart(cid, title + more, bars, series)


def _field_chart(doc: Mapping[str, Any], rid: str) -> tuple[dict[str, Any] | None, list[tuple[str, int]]]:
    counts: Counter[str] = Counter()
    for d in doc["differences"]:
        for f in d.get("fields") or ():
            counts[fold(f["path"])] += 1
    if not counts:
        return None, []
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    bars = [Bar(path, {"changed": n}, {"field": path}) for path, n in ranked[:TOP]]
    more = f" (top {TOP} of {len(ranked):,})" if len(ranked) > TOP else ""
    return _chart(f"{rid}-fields", "Changed records by field" + more, bars, ["changed"]), ranked


def _groups(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Refusals, drops and warnings grouped by reason (or rule), each with its first occurrence shown."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for i, d in enumerate(doc["differences"]):
        cls = d["class"]
        if cls not in ("rejected", "dropped", "warning") and cls in CLASS_ORDER:
            continue
        if cls not in CLASS_ORDER and not (d.get("reason") or d.get("rule")):
            continue
        if cls == "warning":
            key = str(d.get("rule") or d.get("kind") or "warning")
        else:
            key = str(d.get("rule") or d.get("reason") or "(no reason given)")
        g = groups.get((cls, key))
        if g is None:
            g = groups[(cls, key)] = {
                "cls": cls,
                "label": LABELS.get(cls, cls),
                "icon": ICONS.get(cls, "?"),
                "key": key,
                "count": 0,
                "index": i,
                "example": d,
                "pretty": _pretty(d),
            }
        g["count"] += _weight(d)
    return sorted(groups.values(), key=lambda g: (_class_rank(g["cls"]), -g["count"], g["key"]))


def _delivery_line(delivery: Mapping[str, Any] | None) -> str | None:
    if not delivery:
        return None
    parts = [
        f"{delivery.get('events', 0):,} events to {delivery.get('target') or 'the system under test'}"
        + (f" via {delivery['via']}" if delivery.get("via") else ""),
        f"{delivery.get('requests', 0):,} requests",
        f"{delivery.get('acknowledged', 0):,} acknowledged",
        f"{delivery.get('retried', 0):,} retries",
        f"{delivery.get('failed', 0):,} failed",
    ]
    if isinstance(delivery.get("seconds"), (int, float)):
        parts.append(f"{delivery['seconds']:.2f} s")
    return ", ".join(parts)


def _causes(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Root causes as the report gives them (``{what, text, count, example}``), or any other shape generically."""
    out: list[dict[str, Any]] = []
    for c in doc.get("causes") or ():
        if isinstance(c, str):
            out.append({"what": None, "text": c, "count": None, "example": None, "details": []})
            continue
        text = c.get("text") or c.get("cause") or c.get("title") or c.get("reason") or ""
        count = c.get("count") if isinstance(c.get("count"), int) else None
        known = {"what", "text", "count", "example"}
        rest = [(k, v if isinstance(v, str) else _pretty(v)) for k, v in c.items() if k not in known and v != text]
        what = c.get("what")
        out.append(
            {
                "what": str(what) if what is not None else None,
                "text": str(text),
                "count": count,
                "example": str(c["example"]) if c.get("example") is not None else None,
                "details": rest,
            }
        )
    return out


def _table(items: Any) -> dict[str, Any] | None:
    """A list of objects (``injected``...) as a table: the union of their keys, in first-seen order."""
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        return None
    head = list(dict.fromkeys(k for i in items for k in i if k != "records"))
    rows = [
        [("" if i.get(k) is None else i[k] if isinstance(i.get(k), str) else _json(i[k]).decode()) for k in head]
        for i in items
    ]
    return {"head": head, "rows": rows}


def _run_context(doc: dict[str, Any], index: int) -> dict[str, Any]:
    rid = f"run-{index}"
    for key in ("view", "profile", "seed", "expected", "observed", "matched", "reproduce", "timeline"):
        doc.setdefault(key, None)
    diffs = doc["differences"]
    fields_chart, fields = _field_chart(doc, rid)
    charts = [
        c
        for c in (
            _kind_chart(doc, rid),
            fields_chart,
            _top_chart(doc, f"{rid}-events", "Differing track events by event type", lambda d: _event(d), "event"),
            _top_chart(doc, f"{rid}-accounts", "Differing records by account", _account, "id", limit=10),
        )
        if c is not None
    ]
    timeline = None
    if doc.get("timeline"):
        svg, bins = timeline_chart(f"{rid}-timeline", doc["timeline"])
        timeline = {
            "id": f"{rid}-timeline",
            "svg": svg,
            "bins": bins,
            "marks": doc["timeline"].get("marks", []),
            "axis": doc["timeline"].get("axis") or "time",
        }
    kinds = Counter(str(d.get("kind", "?")) for d in diffs)
    events = Counter(e for e in (_event(d) for d in diffs) if e is not None)
    title = doc.get("title") or doc.get("nodeid") or "Conformance check"
    extra = {
        k: (v if isinstance(v, str) else _pretty(v)) for k, v in doc.items() if k not in _KNOWN_KEYS and v is not None
    }
    return {
        "id": rid,
        "index": index,
        "title": title,
        "nodeid": doc.get("nodeid") if doc.get("nodeid") != title else None,
        "conforms": doc["conforms"],
        "outcome": doc.get("outcome"),
        "headline": _headline(doc),
        "doc": doc,
        "classes": _classes(doc),
        "charts": charts,
        "timeline": timeline,
        "groups": _groups(doc),
        "delivery": _delivery_line(doc.get("delivery")),
        "failures": (doc.get("delivery") or {}).get("failures") or [],
        "notes": doc.get("notes") or [],
        "causes": _causes(doc),
        "injected": _table(doc.get("injected")),
        "extra": extra,
        "filter_kinds": sorted(kinds.items(), key=lambda kv: (KIND_ORDER.get(kv[0], 9), kv[0])),
        "filter_fields": fields,
        "filter_events": sorted(events.items(), key=lambda kv: (-kv[1], kv[0])),
        "rows": len(diffs),
        "blob": _blob(diffs) if diffs else "",
    }


def _event(d: Mapping[str, Any]) -> str | None:
    rec = _record_of(d)
    if (d.get("kind") or rec.get("kind")) != "track":
        return None
    name = rec.get("event")
    return name if isinstance(name, str) else None


_KNOWN_KEYS = {
    "conforms",
    "summary",
    "by_kind",
    "records_by_kind",
    "view",
    "profile",
    "seed",
    "expected",
    "observed",
    "matched",
    "reproduce",
    "differences",
    "delivery",
    "timeline",
    "title",
    "nodeid",
    "outcome",
    "notes",
    "causes",
    "injected",
}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pytest_segpendo.html", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = lambda value: f"{value:,}" if isinstance(value, int) else value
    return env


@lru_cache(maxsize=4)
def _static(name: str) -> Markup:
    return Markup(resources.files("pytest_segpendo.html").joinpath("static", name).read_text(encoding="utf-8"))


def render_html(
    runs: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, title: str | None = None, written: datetime | None = None
) -> str:
    """The report as one HTML document (a string).

    ``runs`` is one run document (what ``segpendo check --report`` writes: ``DiffReport.as_json()`` plus the
    keys of docs/report.md) or a list of them (a pytest session: one per check, with a table of the checks).
    ``title`` heads the page (default: the run's title, or how many checks); ``written`` is the time the page
    says it was written (default: now). Raises :class:`~pytest_segpendo.html.ReportDocumentError` when a
    document is malformed.
    """
    docs = validate_runs(runs)
    contexts = [_run_context(doc, i) for i, doc in enumerate(docs)]
    if title is None:
        title = contexts[0]["title"] if len(contexts) == 1 else f"segpendo: {len(contexts):,} conformance checks"
    failing = sum(1 for c in contexts if not c["conforms"])
    return (
        _environment()
        .get_template("report.html.jinja")
        .render(
            title=title,
            runs=contexts,
            failing=failing,
            version=__version__,
            generated=(written or datetime.now(timezone.utc))
            .astimezone(timezone.utc)
            .strftime("%Y-%m-%d %H:%M:%S UTC"),
            css=_static("report.css"),
            js=_static("report.js"),
            patterns=pattern_defs(),
            chunk=CHUNK,
            names=_json({c: [LABELS.get(c, c), ICONS.get(c, "?")] for c in {*CLASS_ORDER, *ICONS}}).decode(),
            overview_keys=[
                ("missing", "missing"),
                ("unexpected", "unexpected"),
                ("changed", "changed"),
                ("duplicated", "duplicated"),
                ("rejected", "rejected"),
                ("dropped", "dropped by Pendo"),
                ("warnings", "warnings"),
                ("ignored", "ignored"),
            ],
        )
    )


def write_html(
    path: str | os.PathLike[str],
    runs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    written: datetime | None = None,
) -> Path:
    """Write :func:`render_html`'s page to ``path`` (UTF-8; parent folders are made) and return the path.

    The document is validated before anything is written: a malformed one raises
    :class:`~pytest_segpendo.html.ReportDocumentError` and leaves no file behind."""
    text = render_html(runs, title=title, written=written)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target
