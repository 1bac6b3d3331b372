"""The sharded expect and diff on a Dask cluster (a LocalCluster of two worker processes on 127.0.0.1) give what
the local path gives on the same input."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.jsonl import dumps_bytes
from pytest_segpendo.profiles import get_profile
from pytest_segpendo.scale import diff_files, diff_sharded, expect_to_file
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, Matcher

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Any:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def test_dask_and_local_give_the_same_expectation_and_report(client: Any, tmp_path: Path) -> None:
    events = generate(500, seed=21, mix={"saas": 2, "edge": 1})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(dumps_bytes(e) + b"\n" for e in events) + b"{bad line\n")
    outputs = {}
    for name, scheduler in (("local", None), ("dask", client)):
        out = tmp_path / f"{name}.jsonl"
        summary = expect_to_file(
            path, "web-actions", out, view="stream", scheduler=scheduler, shards=3, workers=2, validate=False
        )
        assert summary.events == len(events) and [b.line for b in summary.bad] == [len(events) + 1]
        outputs[name] = out.read_bytes()
    assert outputs["dask"] == outputs["local"]

    expected = tmp_path / "local.jsonl"
    records = [r for r in get_profile("web-actions").expect(events).stream]
    observed = copy.deepcopy(records[3:])
    observed[0]["visitorId" if observed[0]["kind"] == "track" else "id"] = "someone-else"
    observed_path = tmp_path / "observed.jsonl"
    observed_path.write_bytes(b"".join(dumps_bytes(r) + b"\n" for r in observed))
    options = DiffOptions.from_hints(get_profile("web-actions").hints)
    local = diff_files(expected, observed_path, options, shards=3, workers=2)
    remote = diff_files(expected, observed_path, options, shards=3, scheduler=client)
    assert remote.as_json() == local.as_json() and not local.conforms


def test_matchers_travel_to_the_workers(client: Any) -> None:
    track = {
        "kind": "track",
        "event": "E",
        "visitorId": "u1",
        "accountId": None,
        "timestamp": 1,
        "properties": {"n": 1},
        "context": {},
    }
    options = DiffOptions(view="stream", matchers=(Matcher("track.properties.n", lambda e, a: a == e + 1),))
    report = diff_sharded([track], [{**track, "properties": {"n": 2}}], options, shards=2, scheduler=client)
    assert report.conforms and report.matched == 1
