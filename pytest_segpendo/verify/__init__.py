"""Verify: compare what Pendo should receive with what it did, and say precisely what differs (docs/verify.md).

>>> from pytest_segpendo.verify import diff, DiffOptions
>>> expected = [{"kind": "visitor", "id": "u1", "metadata": {"plan": "pro"}}]
>>> observed = [{"kind": "visitor", "id": "u1", "metadata": {"plan": "free"}}]
>>> report = diff(expected, observed, DiffOptions(view="state"))
>>> report.conforms, report.summary["changed"]
(False, 1)
>>> print(report.differences[0].lines()[1])
    metadata.plan: expected "pro", got "free"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..profiles import Expectation
from .engine import VIEWS, DiffOptions, Matcher, diff
from .report import ABSENT, CLASSES, FAILING, Difference, DiffReport, FieldDiff, format_path, label

__all__ = [
    "ABSENT",
    "CLASSES",
    "FAILING",
    "VIEWS",
    "Difference",
    "DiffOptions",
    "DiffReport",
    "FieldDiff",
    "Matcher",
    "Observed",
    "compare",
    "diff",
    "format_path",
    "label",
    "observed_from",
]


class Observed:
    """What a fake Pendo server received: records (stream), refused requests, warnings, agent re-sends.

    ``observed == expectation`` compares them under the expectation's profile hints; in a pytest ``assert``
    a failure shows the diff report (the plugin's ``pytest_assertrepr_compare``).
    """

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        rejected: Sequence[Mapping[str, Any]] = (),
        warnings: Sequence[Mapping[str, Any]] = (),
        duplicates: int = 0,
    ):
        self.records = list(records)
        self.rejected = list(rejected)
        self.warnings = list(warnings)
        self.duplicates = duplicates
        self.last_report: DiffReport | None = None

    def compare(
        self, expected: Expectation | Sequence[dict[str, Any]], options: DiffOptions | None = None, **kw: Any
    ) -> DiffReport:
        self.last_report = compare(expected, self, options, **kw)
        return self.last_report

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Expectation, list, tuple)):
            return self.compare(other if isinstance(other, Expectation) else list(other)).conforms
        if isinstance(other, Observed):
            return self.compare(other.records).conforms
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Observed: {len(self.records)} records, {len(self.rejected)} rejected, {len(self.warnings)} warnings>"


def observed_from(source: Any) -> Observed:
    """An :class:`Observed` from a ``FakePendo`` (or a ``RemotePendo``), the JSON of ``GET /__segpendo/records``,
    or a list of records."""
    if isinstance(source, Observed):
        return source
    inspection = getattr(source, "inspection", None)
    if callable(inspection):  # a fake in another process (pytest_segpendo.fakes.RemotePendo)
        return observed_from(inspection())
    if isinstance(source, Mapping):
        return Observed(
            source.get("records", []),
            source.get("rejected", []),
            source.get("warnings", []),
            int(source.get("duplicates", 0) or 0),
        )
    if hasattr(source, "records") and hasattr(source, "rejected"):
        return Observed(
            source.records(), source.rejected, getattr(source, "warnings", []), getattr(source, "duplicates", 0)
        )
    if isinstance(source, Iterable):
        return Observed(list(source))
    raise TypeError(f"cannot read observed records from {type(source).__name__}")


def compare(
    expected: Expectation | Sequence[dict[str, Any]],
    observed: Any,
    options: DiffOptions | None = None,
    *,
    seed: int | None = None,
    reproduce: str | None = None,
    **overrides: Any,
) -> DiffReport:
    """Compare an :class:`~pytest_segpendo.profiles.Expectation` (or expected records) with what a fake Pendo
    server received (a ``FakePendo``, its records JSON, or a list of records).

    Without ``options`` the profile's hints decide (view, tolerances, agent fields, anonymous ids); keyword
    ``overrides`` change single options (``view="stream"``, ``timestamp_tolerance_ms=1000``, ...). The fake's
    refusals fail the check, its warnings are reported, the expectation's ignored events are listed.
    """
    seen = observed_from(observed)
    if isinstance(expected, Expectation):
        opts = options or DiffOptions.from_hints(expected.hints, **overrides)
        records: Sequence[dict[str, Any]] = expected.stream
        ignored: Sequence[Any] = expected.ignored
        profile: str | None = expected.profile
    else:
        opts = options or DiffOptions(**overrides)
        records, ignored, profile = expected, (), None
    report = diff(
        records,
        seen.records,
        opts,
        rejected=seen.rejected,
        warnings=seen.warnings,
        ignored=ignored,
        profile=profile,
        seed=seed,
        reproduce=reproduce,
    )
    if seen.duplicates:
        report.notes.append(
            f"{seen.duplicates} agent event(s) arrived again in re-sent batches (rt=N) and were counted once; "
            "a correct server never makes the agent re-send (see docs/pendo.md)"
        )
    return report
