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
from .report import ABSENT, CLASSES, FAILING, Cause, Difference, DiffReport, FieldDiff, format_path, label

__all__ = [
    "ABSENT",
    "CLASSES",
    "FAILING",
    "VIEWS",
    "Cause",
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
    """What a fake Pendo server received: records (stream), refused requests, warnings, agent re-sends, records
    Pendo accepted and never processes (``dropped``), and the faults the test injected (``injected``).

    ``observed == expectation`` compares them under the expectation's profile hints; in a pytest ``assert``
    a failure shows the diff report (the plugin's ``pytest_assertrepr_compare``).
    """

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        rejected: Sequence[Mapping[str, Any]] = (),
        warnings: Sequence[Mapping[str, Any]] = (),
        duplicates: int = 0,
        dropped: Sequence[Mapping[str, Any]] = (),
        injected: Sequence[Mapping[str, Any]] = (),
    ):
        self.records = list(records)
        self.rejected = list(rejected)
        self.warnings = list(warnings)
        self.duplicates = duplicates
        self.dropped = list(dropped)
        self.injected = list(injected)
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
        extra = "".join(
            f", {len(items)} {name}"
            for name, items in (("dropped", self.dropped), ("injected", self.injected))
            if items
        )
        return (
            f"<Observed: {len(self.records)} records, {len(self.rejected)} rejected, {len(self.warnings)} warnings"
            f"{extra}>"
        )


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def observed_from(source: Any) -> Observed:
    """An :class:`Observed` from a ``FakePendo`` (or a ``RemotePendo``), the JSON of ``GET /__segpendo/records``,
    or a list of records. Records are read with the request that brought them (``source``) where the fake
    says it; a fake without silent drops or injected faults has none."""
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
            _list(source.get("dropped")),
            _list(source.get("injected")),
        )
    if hasattr(source, "records") and hasattr(source, "rejected"):
        try:
            records = source.records(with_source=True)
        except TypeError:  # a fake that cannot say where a record came from
            records = source.records()
        return Observed(
            records,
            source.rejected,
            getattr(source, "warnings", []),
            getattr(source, "duplicates", 0),
            _list(getattr(source, "dropped", [])),
            _list(getattr(source, "injected", [])),
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
    ``overrides`` change single options on top of ``options`` or the hints (``view="stream"``,
    ``timestamp_tolerance_ms=1000``; ``ignore_paths``, ``agent_fields`` and ``matchers`` extend them). The
    fake's refusals and silent drops fail the check, its warnings are reported, the expectation's ignored events
    are listed; an expectation's ``writers`` let the state view accept what another delivery order gives.
    """
    seen = observed_from(observed)
    writers: Sequence[str] | None = None
    if isinstance(expected, Expectation):
        if options is None:
            opts = DiffOptions.from_hints(expected.hints, **overrides)
        else:
            opts = options.with_overrides(**overrides)
        records: Sequence[dict[str, Any]] = expected.stream
        ignored: Sequence[Any] = expected.ignored
        profile: str | None = expected.profile
        if len(expected.writers) == len(expected.stream):
            writers = expected.writers
    else:
        opts = options.with_overrides(**overrides) if options is not None else DiffOptions(**overrides)
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
        writers=writers,
        dropped=seen.dropped,
        injected=seen.injected,
    )
    if seen.duplicates:
        report.notes.append(
            f"{seen.duplicates} agent event(s) arrived again in re-sent batches (rt=N) and were counted once; "
            "a correct server never makes the agent re-send (see docs/pendo.md)"
        )
    return report
