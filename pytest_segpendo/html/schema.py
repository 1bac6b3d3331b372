"""The input of the HTML report: one or more *runs*, each a conformance check's JSON report, validated.

A run is what ``DiffReport.as_json()`` returns (``conforms``, ``summary``, ``differences`` and run details) plus
optional keys a check adds (``delivery``, ``title``, ``nodeid``, ``timeline``, ``records_by_kind``, ``notes``,
``causes``). docs/report.md describes every key. Missing optional keys are fine and unknown keys are kept (a
newer report may carry more); a key that is there with the wrong shape raises :class:`ReportDocumentError`
naming where it is (``runs[1].differences[4].fields[0].path: must be a string``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ReportDocumentError", "validate_run", "validate_runs"]

_Doc = dict[str, Any]


class ReportDocumentError(ValueError):
    """A run document that cannot be rendered; the message names the key and what it must be."""


def _fail(where: str, what: str, value: Any) -> ReportDocumentError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ReportDocumentError(f"{where}: must be {what} (got {shown})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any, where: str) -> int:
    if not _is_int(value) or value < 0:
        raise _fail(where, "a whole number >= 0", value)
    return int(value)


def _opt_str(doc: Mapping[str, Any], key: str, where: str) -> None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{where}.{key}", "a string or null", value)


def _opt_count(doc: Mapping[str, Any], key: str, where: str) -> None:
    value = doc.get(key)
    if value is not None:
        _count(value, f"{where}.{key}")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "an object", value)
    for key in value:
        if not isinstance(key, str):
            raise _fail(where, "an object with string keys", key)
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _fail(where, "a list", value)
    return value


def _counts(value: Any, where: str) -> dict[str, int]:
    return {k: _count(v, f"{where}.{k}") for k, v in _object(value, where).items()}


def _difference(value: Any, where: str) -> _Doc:
    d = dict(_object(value, where))
    cls = d.get("class")
    if not isinstance(cls, str) or not cls:
        raise _fail(f"{where}.class", "a non-empty string", cls)
    for key in ("kind", "record", "reason", "rule", "source"):
        _opt_str(d, key, where)
    if d.get("count") is not None and (not _is_int(d["count"]) or d["count"] < 1):
        raise _fail(f"{where}.count", "a whole number >= 1", d["count"])
    for key in ("expected", "observed"):
        if d.get(key) is not None:
            _object(d[key], f"{where}.{key}")
    if d.get("fields") is not None:
        fields = _list(d["fields"], f"{where}.fields")
        for j, f in enumerate(fields):
            fw = f"{where}.fields[{j}]"
            if not isinstance(_object(f, fw).get("path"), str):
                raise _fail(f"{fw}.path", "a string", f.get("path"))
    return d


def _delivery(value: Any, where: str) -> _Doc:
    d = dict(_object(value, where))
    for key in ("via", "target"):
        _opt_str(d, key, where)
    for key in ("events", "requests", "acknowledged", "retried", "failed"):
        _opt_count(d, key, where)
    if d.get("seconds") is not None and not _is_number(d["seconds"]):
        raise _fail(f"{where}.seconds", "a number", d["seconds"])
    for key in ("failures", "retries"):
        if d.get(key) is None:
            continue
        for j, f in enumerate(_list(d[key], f"{where}.{key}")):
            fw = f"{where}.{key}[{j}]"
            item = _object(f, fw)
            if item.get("indexes") is not None:
                for n, i in enumerate(_list(item["indexes"], f"{fw}.indexes")):
                    _count(i, f"{fw}.indexes[{n}]")
            if item.get("status") is not None and not _is_int(item["status"]):
                raise _fail(f"{fw}.status", "an HTTP status or null", item["status"])
            _opt_str(item, "reason", fw)
            _opt_count(item, "attempts", fw)
    return d


def _timeline(value: Any, where: str) -> _Doc:
    d = dict(_object(value, where))
    _opt_str(d, "axis", where)
    for key in ("expected", "received"):
        if d.get(key) is None:
            d[key] = []
            continue
        for j, t in enumerate(_list(d[key], f"{where}.{key}")):
            if not _is_number(t):
                raise _fail(f"{where}.{key}[{j}]", "a time in milliseconds (a number)", t)
    marks = d.get("marks")
    if marks is None:
        d["marks"] = []
    else:
        for j, m in enumerate(_list(marks, f"{where}.marks")):
            mw = f"{where}.marks[{j}]"
            mark = _object(m, mw)
            if not _is_number(mark.get("time")):
                raise _fail(f"{mw}.time", "a time in milliseconds (a number)", mark.get("time"))
            if not isinstance(mark.get("type"), str) or not mark.get("type"):
                raise _fail(f"{mw}.type", "a non-empty string", mark.get("type"))
            _opt_str(mark, "label", mw)
            _opt_count(mark, "count", mw)
    return d


def validate_run(document: Any, where: str = "run") -> _Doc:
    """Check one run document and return a shallow copy ready to render; raise :class:`ReportDocumentError`."""
    doc = dict(_object(document, where))
    if not isinstance(doc.get("conforms"), bool):
        raise _fail(f"{where}.conforms", "true or false", doc.get("conforms"))
    if "summary" not in doc:
        raise ReportDocumentError(f"{where}.summary: required (an object of counts per class)")
    doc["summary"] = _counts(doc["summary"], f"{where}.summary")
    if "differences" not in doc:
        raise ReportDocumentError(f"{where}.differences: required (a list, empty when nothing differs)")
    doc["differences"] = [
        _difference(d, f"{where}.differences[{i}]")
        for i, d in enumerate(_list(doc["differences"], where + ".differences"))
    ]
    if doc.get("by_kind") is not None:
        doc["by_kind"] = {
            k: _counts(v, f"{where}.by_kind.{k}") for k, v in _object(doc["by_kind"], f"{where}.by_kind").items()
        }
    else:
        doc["by_kind"] = {}
    if doc.get("records_by_kind") is not None:
        doc["records_by_kind"] = {
            k: _counts(v, f"{where}.records_by_kind.{k}")
            for k, v in _object(doc["records_by_kind"], f"{where}.records_by_kind").items()
        }
    for key in ("view", "profile", "reproduce", "title", "nodeid", "outcome"):
        _opt_str(doc, key, where)
    for key in ("expected", "observed", "matched"):
        _opt_count(doc, key, where)
    if doc.get("seed") is not None and not _is_int(doc["seed"]):
        raise _fail(f"{where}.seed", "a whole number or null", doc["seed"])
    if doc.get("notes") is not None:
        for i, note in enumerate(_list(doc["notes"], f"{where}.notes")):
            if not isinstance(note, str):
                raise _fail(f"{where}.notes[{i}]", "a string", note)
    if doc.get("causes") is not None:
        for i, cause in enumerate(_list(doc["causes"], f"{where}.causes")):
            if not isinstance(cause, str):
                _object(cause, f"{where}.causes[{i}]")
    if doc.get("delivery") is not None:
        doc["delivery"] = _delivery(doc["delivery"], f"{where}.delivery")
    if doc.get("timeline") is not None:
        doc["timeline"] = _timeline(doc["timeline"], f"{where}.timeline")
    return doc


def validate_runs(runs: Any) -> list[_Doc]:
    """One run document (an object) or a list of them -> validated copies."""
    if isinstance(runs, Mapping):
        return [validate_run(runs)]
    items = _list(runs, "runs")
    if not items:
        raise ReportDocumentError("runs: must hold at least one run document")
    return [validate_run(r, f"runs[{i}]") for i, r in enumerate(items)]
