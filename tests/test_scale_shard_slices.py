"""A check split over CI machines: each replays a slice of the users (its own fakes, its own copy of a stateless
system), and the parts' JSON reports merge into one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_segpendo.profiles import get_profile
from pytest_segpendo.profiles.base import lane_key
from pytest_segpendo.scale import in_slice, merge_reports, user_slice
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, diff


def test_every_user_is_in_one_slice_with_all_its_events_in_order() -> None:
    events = generate(800, seed=2)
    slices = [list(user_slice(events, i, 3)) for i in range(3)]
    assert sum(len(s) for s in slices) == len(events)
    owners: dict[str, int] = {}
    for n, part in enumerate(slices):
        for e in part:
            assert owners.setdefault(lane_key(e), n) == n
            assert in_slice(e, n, 3)
    for part in slices:
        assert part == [e for e in events if e in part]  # order kept
    assert all(slices)  # and each machine has work
    with pytest.raises(ValueError):
        list(user_slice(events, 3, 3))


def test_the_parts_reports_merge_into_the_whole_runs_counts() -> None:
    # a stateless system (here: one that drops a user's "Order Completed" events), checked slice by slice
    events = generate(900, seed=8)
    profile = get_profile("track-api")
    options = DiffOptions.from_hints(profile.hints)

    def system(records: list[dict]) -> list[dict]:
        return [r for r in records if r.get("event") != "Order Completed"]

    whole_expected = profile.expect(events)
    whole = diff(whole_expected.stream, system(whole_expected.stream), options)
    parts = []
    for i in range(3):
        expected = profile.expect(list(user_slice(events, i, 3)))
        parts.append(diff(expected.stream, system(expected.stream), options).as_json())
    merged = merge_reports(parts)
    assert not whole.conforms and merged["conforms"] is False
    for key in ("missing", "unexpected", "changed", "duplicated"):
        assert merged["summary"][key] == whole.summary[key]
    assert (merged["expected"], merged["matched"]) == (whole.expected_records, whole.matched)
    assert sorted(d["record"] for d in merged["differences"]) == sorted(
        d.label for d in whole.differences if d.cls != "ignored"
    )
    assert [p["conforms"] for p in merged["parts"]] == [p["conforms"] for p in parts]


def test_run_reports_merge_from_files(tmp_path: Path) -> None:
    def run(n: int, conforms: bool) -> Path:
        path = tmp_path / f"part-{n}.json"
        test = {"nodeid": f"test_x.py::test_slice[{n}]", "outcome": "passed" if conforms else "failed", "reports": []}
        summary = {"missing": 0 if conforms else 3, "ignored": 5}
        diffs = [] if conforms else [{"test": test["nodeid"], "class": "missing", "kind": "track", "record": "r"}] * 3
        path.write_text(
            json.dumps(
                {
                    "conforms": conforms,
                    "summary": summary,
                    "differences": diffs,
                    "config": {"profile": "track-api"},
                    "tests": [test],
                }
            )
        )
        return path

    merged = merge_reports([run(0, True), run(1, False), run(2, True)])
    assert merged["conforms"] is False and merged["summary"] == {"missing": 3, "ignored": 15}
    assert [t["part"] for t in merged["tests"]] == [0, 1, 2] and len(merged["differences"]) == 3
    assert merged["config"] == {"profile": "track-api"}
    with pytest.raises(ValueError):
        merge_reports([run(0, True), {"conforms": True, "summary": {}, "differences": []}])
