"""One report from several: the JSON reports of a check split over machines, each replaying a slice of the users
(:func:`pytest_segpendo.scale.user_slice`).

Two shapes merge: pytest run reports (``--segpendo-report``: ``conforms``, ``summary``, ``differences``, ``config``,
``tests``) and diff reports (``segpendo diff --report``, ``DiffReport.as_json()``: ``conforms``, ``summary``,
``by_kind``, ``expected``, ``observed``, ``matched``, ``causes``, ``differences`` ...). The merged one has the same
shape: counts added, differences and tests one after another (each tagged with its ``part``), conforming when every
part conforms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..verify.report import CLASSES

__all__ = ["merge_reports"]


def _load(report: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(report, Mapping):
        return report
    data = json.loads(Path(report).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{report}: not a JSON report (an object)")
    return data


def _add(into: dict[str, Any], counts: Mapping[str, Any]) -> None:
    for key, value in counts.items():
        if isinstance(value, Mapping):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value


def _same(values: list[Any]) -> Any:
    """The value every part has, or the list of the parts' values."""
    return values[0] if all(v == values[0] for v in values) else values


def merge_reports(reports: Iterable[Mapping[str, Any] | str | Path]) -> dict[str, Any]:
    """Merge JSON reports (objects, or paths of JSON files) of the parts of one check into one.

    >>> a = {"conforms": True, "summary": {"missing": 0}, "differences": [], "config": {"profile": "classic"},
    ...      "tests": [{"nodeid": "t::a", "outcome": "passed", "reports": []}]}
    >>> b = {"conforms": False, "summary": {"missing": 2}, "config": {"profile": "classic"},
    ...      "differences": [{"test": "t::b", "class": "missing"}],
    ...      "tests": [{"nodeid": "t::b", "outcome": "failed", "reports": []}]}
    >>> merged = merge_reports([a, b])
    >>> merged["conforms"], merged["summary"], [t["part"] for t in merged["tests"]]
    (False, {'missing': 2}, [0, 1])
    """
    parts = [_load(r) for r in reports]
    if not parts:
        raise ValueError("no reports to merge")
    runs = ["tests" in p for p in parts]
    if any(runs) and not all(runs):
        raise ValueError("cannot merge run reports (with tests) and diff reports together")
    return _merge_runs(parts) if all(runs) else _merge_diffs(parts)


def _merge_runs(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    differences: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    for n, part in enumerate(parts):
        _add(summary, part.get("summary") or {})
        differences.extend({**d, "part": n} for d in part.get("differences") or ())
        tests.extend({**t, "part": n} for t in part.get("tests") or ())
    config = _same([p.get("config") for p in parts])
    return {
        "conforms": all(bool(p.get("conforms")) for p in parts),
        "summary": summary,
        "differences": differences,
        "config": config,
        "settings": config,
        "tests": tests,
        "parts": [
            {"part": n, "conforms": bool(p.get("conforms")), "tests": len(p.get("tests") or ())}
            for n, p in enumerate(parts)
        ],
    }


def _merge_diffs(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    by_kind: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    causes: dict[tuple[str, str], dict[str, Any]] = {}
    differences: list[dict[str, Any]] = []
    notes: list[str] = []
    injected: list[Any] = []
    for n, part in enumerate(parts):
        _add(summary, part.get("summary") or {})
        _add(by_kind, part.get("by_kind") or {})
        _add(totals, {k: part.get(k, 0) for k in ("expected", "observed", "matched")})
        for cause in part.get("causes") or ():
            key = (str(cause.get("what")), str(cause.get("text")))
            if key in causes:
                causes[key]["count"] = causes[key].get("count", 0) + cause.get("count", 0)
            else:
                causes[key] = {**cause}
        differences.extend({**d, "part": n} for d in part.get("differences") or ())
        notes.extend(note for note in part.get("notes") or () if note not in notes)
        injected.extend(part.get("injected") or ())
    order = {c: i for i, c in enumerate(CLASSES)}
    differences.sort(key=lambda d: order.get(str(d.get("class")), len(order)))
    return {
        "conforms": all(bool(p.get("conforms")) for p in parts),
        "summary": summary,
        "by_kind": by_kind,
        "view": _same([p.get("view") for p in parts]),
        "profile": _same([p.get("profile") for p in parts]),
        "seed": _same([p.get("seed") for p in parts]),
        **totals,
        "reproduce": _same([p.get("reproduce") for p in parts]),
        "causes": sorted(causes.values(), key=lambda c: -int(c.get("count", 0))),
        "injected": injected,
        "notes": notes,
        "differences": differences,
        "parts": [{"part": n, "conforms": bool(p.get("conforms"))} for n, p in enumerate(parts)],
    }
