"""The fake Pendo server past its memory bound: lists spill to a SQLite file, the state that answers reads moves
there too, memory holds at most the bound, and every way of reading gives back everything, in arrival order.
The bound is set low (``memory_records``) so that a few hundred requests cross it."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from pytest_segpendo.fakes import RemotePendo
from pytest_segpendo.fakes.pendo import FakePendo, encode_jzb
from pytest_segpendo.fakes.pendo.state import MemoryState, SqliteState

BOUND = 50
KEY = {"x-pendo-integration-key": "k"}


def track(i: int, visitor: str = "u") -> dict[str, Any]:
    return {
        "type": "track",
        "event": f"E{i % 7}",
        "visitorId": visitor,
        "accountId": "acct-1",
        "timestamp": int(time.time() * 1000),
        "properties": {"i": i},
        "context": {},
    }


def send_tracks(pendo: FakePendo, n: int, start: int = 0) -> None:
    with requests.Session() as session:
        for i in range(start, start + n):
            r = session.post(pendo.url + "/data/track", json=track(i, f"u{i}"), headers=KEY, timeout=10)
            assert r.status_code == 200, r.text


def test_records_beyond_the_bound_are_on_disk_and_read_back_in_order(tmp_path: Any) -> None:
    with FakePendo(memory_records=BOUND, spill_dir=tmp_path) as pendo:
        send_tracks(pendo, 4 * BOUND + 3)
        with requests.Session() as session:  # refusals spill too
            for _ in range(2 * BOUND):
                assert session.post(pendo.url + "/data/track", json={}, headers=KEY, timeout=10).status_code == 400
        store = pendo.app.store
        assert store.records.spilled >= 3 * BOUND, "most records are on disk"
        assert store.records.in_memory <= BOUND
        assert store.journal.in_memory <= BOUND + 1 and store.rejected.in_memory <= BOUND
        assert list(tmp_path.glob("segpendo-spill-*/store.sqlite")), "the spill file is inside spill_dir"

        expected = [i for i in range(4 * BOUND + 3)]
        assert [r["properties"]["i"] for r in pendo.records()] == expected
        assert [r["properties"]["i"] for r in pendo.iter_records()] == expected
        assert [r["source"]["request"] for r in pendo.records(with_source=True)] == [i + 1 for i in expected]
        assert len(pendo.rejected) == 2 * BOUND and len(pendo.requests()) == 6 * BOUND + 3
        assert [e["id"] for e in pendo.requests()] == list(range(1, 6 * BOUND + 4))

        inspection = requests.get(pendo.url + "/__segpendo/records", timeout=30).json()
        assert [r["properties"]["i"] for r in inspection["records"]] == expected
        assert len(inspection["rejected"]) == 2 * BOUND

        remote = RemotePendo(pendo.url)
        streamed = list(remote.iter_records())
        assert [r["properties"]["i"] for r in streamed] == expected
        assert all("source" not in r for r in streamed)
        whole = remote.inspection(stream=True)
        assert whole["records"] == inspection["records"] and whole["rejected"] == inspection["rejected"]
        pendo.raise_errors()


def test_the_jsonl_inspection_lists_every_item_then_the_counts(tmp_path: Any) -> None:
    with FakePendo(memory_records=BOUND, spill_dir=tmp_path) as pendo:
        send_tracks(pendo, 2 * BOUND)
        requests.post(pendo.url + "/data/track", json={}, headers=KEY, timeout=10)
        answer = requests.get(pendo.url + "/__segpendo/records.jsonl", timeout=30)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in answer.text.splitlines()]
        assert [next(iter(line)) for line in lines] == ["records"] * (2 * BOUND) + ["rejected", "end"]
        assert lines[-1]["end"]["counts"] == {
            "records": 2 * BOUND,
            "rejected": 1,
            "warnings": 0,
            "ignored": 0,
            "dropped": 0,
            "injected": 0,
        }
        only = requests.get(pendo.url + "/__segpendo/records?format=jsonl&lists=rejected", timeout=30).text
        assert [next(iter(json.loads(line))) for line in only.splitlines()] == ["rejected", "end"]
        bad = requests.get(pendo.url + "/__segpendo/records.jsonl?lists=nope", timeout=30)
        assert bad.status_code == 400 and "unknown list 'nope'" in bad.json()["error"]


def test_a_long_inspection_is_streamed_chunked_not_held_whole(tmp_path: Any) -> None:
    with FakePendo(memory_records=BOUND, spill_dir=tmp_path) as pendo:
        padding = "x" * 4000
        with requests.Session() as session:
            for i in range(400):  # ~1.6 MB of records: over the 1 MiB a runner buffers
                body = {**track(i), "properties": {"i": i, "pad": padding}}
                assert session.post(pendo.url + "/data/track", json=body, headers=KEY, timeout=10).status_code == 200
        answer = requests.get(pendo.url + "/__segpendo/records.jsonl?lists=records", timeout=30)
        assert answer.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in answer.headers
        lines = answer.text.splitlines()
        assert len(lines) == 401 and json.loads(lines[-1])["end"]["counts"]["records"] == 400
        assert requests.get(pendo.url + "/__segpendo/activity", timeout=10).status_code == 200, "keeps serving"


def test_the_state_that_answers_reads_moves_to_disk_and_still_answers(tmp_path: Any) -> None:
    with FakePendo(memory_records=BOUND, spill_dir=tmp_path, integration_key="k", api_key="a") as pendo:
        assert isinstance(pendo.app.store.state, MemoryState)
        send_tracks(pendo, 2 * BOUND)  # 2 x BOUND visitors: the state outgrows memory
        assert isinstance(pendo.app.store.state, SqliteState)
        # a metadata write to a visitor known only from a track, without ?create: applied (it exists)
        url = pendo.url + "/api/v1/metadata/visitor/custom/value"
        answer = requests.post(url, json=[{"visitorId": "u3", "values": {"plan": "pro"}}], headers=KEY, timeout=10)
        assert answer.json()["updated"] == 1, answer.text
        missing = requests.post(url, json=[{"visitorId": "nobody", "values": {"a": 1}}], headers=KEY, timeout=10)
        assert missing.json()["missing"] == ["nobody"] and pendo.dropped[0]["rule"] == "metadata-unknown-id"
        requests.post(url, json=[{"visitorId": "u3", "values": {"seats": 4}}], headers=KEY, timeout=10)
        read = requests.get(pendo.url + "/api/v1/visitor/u3", headers=KEY, timeout=10).json()
        assert read == {"visitorId": "u3", "metadata": {"custom": {"plan": "pro", "seats": 4}}}
        schema = requests.get(pendo.url + "/api/v1/metadata/schema/visitor", headers=KEY, timeout=10).json()
        assert set(schema["custom"]) == {"plan", "seats"} and schema["custom"]["seats"]["Type"] == "integer"
        # an agent batch sent again is counted once, from the state on disk
        events = [
            {"type": "track", "track_event_name": "Click", "visitor_id": "u3", "tabId": "t", "sequence": 1}
            | {"browser_time": int(time.time() * 1000), "props": {}}
        ]
        for _ in range(2):
            assert requests.get(f"{pendo.url}/data/ptm.gif/a?jzb={encode_jzb(events)}", timeout=10).status_code == 200
        assert pendo.duplicates == 1


def test_a_reset_forgets_what_is_on_disk_too(tmp_path: Any) -> None:
    with FakePendo(memory_records=BOUND, spill_dir=tmp_path) as pendo:
        send_tracks(pendo, 3 * BOUND)
        pendo.reset()
        assert pendo.records() == [] and pendo.requests() == [] and list(pendo.iter_records()) == []
        send_tracks(pendo, 2, start=1000)
        assert [r["properties"]["i"] for r in pendo.records()] == [1000, 1001]
        assert pendo.activity()[0] == 3 * BOUND + 2, "activity is never reset"


def test_nothing_spills_below_the_default_bound() -> None:
    with FakePendo() as pendo:
        send_tracks(pendo, 200)
        assert not pendo.app.store.spilled and pendo.app.store.records.in_memory == 200


def test_the_journal_limit_still_keeps_only_the_last_requests(tmp_path: Any) -> None:
    with FakePendo(journal_limit=5, memory_records=3, spill_dir=tmp_path) as pendo:
        send_tracks(pendo, 12)
        journal = requests.get(pendo.url + "/__segpendo/requests", timeout=10).json()
        assert [e["id"] for e in journal["requests"]] == [8, 9, 10, 11, 12] and journal["dropped"] == 7
        assert len(pendo.records()) == 12
