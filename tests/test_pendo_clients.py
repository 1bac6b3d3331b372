"""Server-side calls made the way the public Pendo clients docs/pendo.md cites make them, against the fake."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from pytest_segpendo.fakes import FakePendo

TRACK_SECRET = "track-shared-secret"
INTEGRATION_KEY = "integration-key-with-write"


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo(track_secret=TRACK_SECRET, integration_key=INTEGRATION_KEY) as fake:
        yield fake
        fake.raise_errors()


def test_a_requests_session_client_posting_track_events(pendo: FakePendo) -> None:
    """Like rungalileo/pendo: a session with the key header, ``post("data/track", json=...)``, raise_for_status."""
    session = requests.Session()
    session.headers.update({"x-pendo-integration-key": TRACK_SECRET, "content-type": "application/json"})
    base = pendo.url + "/"
    stamp = int(time.time() * 1000)
    for i in range(3):
        body = {
            "type": "track",
            "event": "Experiment Run",
            "visitorId": "user-123",
            "accountId": "acct-9",
            "timestamp": stamp + i,
            "properties": {"run": i},
            "context": {"ip": "76.253.187.23", "userAgent": "python-requests", "url": "https://app/x", "title": "X"},
        }
        session.post(base + "data/track", json=body).raise_for_status()
    records = pendo.records()
    assert [(r["event"], r["visitorId"], r["accountId"], r["timestamp"], r["properties"]) for r in records] == [
        ("Experiment Run", "user-123", "acct-9", stamp + i, {"run": i}) for i in range(3)
    ]


def test_a_bulk_metadata_syncer_in_chunks(pendo: FakePendo) -> None:
    """Like the RedHat inventory pendo syncher: chunked POSTs to /metadata/account/custom/value, reading
    total/updated/failed/missing from each answer."""
    accounts = [{"accountId": f"acct-{i}", "values": {"hostCount": i}} for i in range(25)]
    totals = {"total": 0, "updated": 0, "failed": 0, "missing": []}
    for start in range(0, len(accounts), 10):
        chunk = accounts[start : start + 10]
        response = requests.post(
            pendo.url + "/api/v1/metadata/account/custom/value?create=true",
            data=json.dumps(chunk),
            headers={"x-pendo-integration-key": INTEGRATION_KEY, "content-type": "application/json"},
            timeout=10,
        )
        response.raise_for_status()
        data = response.json()
        for key in ("total", "updated", "failed"):
            totals[key] += data[key]
        totals["missing"] += data.get("missing", [])
    assert totals == {"total": 25, "updated": 25, "failed": 0, "missing": []}
    state = pendo.records("state")
    assert len(state) == 25 and state[7] == {
        "kind": "account",
        "id": "acct-7",
        "metadata": {"hostCount": 7},
        "parentAccountId": None,
    }


def test_a_client_that_expects_missing_visitors_reported(pendo: FakePendo) -> None:
    """Like podengo idmsvc (Go): POST /api/v1/metadata/visitor/custom/value without create, expect Missing."""
    request = urllib.request.Request(
        pendo.url + "/api/v1/metadata/visitor/custom/value",
        data=json.dumps([{"visitorId": "thisVisitorDoesNotExist", "values": {"domainType": "ipa"}}]).encode(),
        headers={"x-pendo-integration-key": INTEGRATION_KEY, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        answer = json.loads(response.read())
    assert answer == {"total": 1, "updated": 0, "failed": 1, "missing": ["thisVisitorDoesNotExist"], "errors": []}
    assert pendo.records() == [] and pendo.warnings == []
    assert pendo.dropped[0]["rule"] == "metadata-unknown-id" and "create=true" in pendo.dropped[0]["reason"]


def test_single_value_writes_with_encoded_path_segments(pendo: FakePendo) -> None:
    """Like a Deno client (``encodeURIComponent`` on each segment) and curl ``--data-raw '"YES"'`` examples."""
    visitor = "acme/user@example.com"
    url = f"{pendo.url}/api/v1/metadata/visitor/custom/value/{quote(visitor, safe='')}/{quote('plan', safe='')}"
    assert (
        requests.put(
            url, data='"pro"', headers={"x-pendo-integration-key": INTEGRATION_KEY, "content-type": "application/json"}
        ).status_code
        == 200
    )
    curl_like = f"{pendo.url}/api/v1/metadata/visitor/custom/value/uuuu/APPID_targetingcookies"
    assert (
        requests.put(curl_like, data='"YES"', headers={"x-pendo-integration-key": INTEGRATION_KEY}).status_code == 200
    )
    assert pendo.records() == [
        {"kind": "visitor", "id": visitor, "metadata": {"plan": "pro"}},
        {"kind": "visitor", "id": "uuuu", "metadata": {"APPID_targetingcookies": "YES"}},
    ]
    read = requests.get(
        f"{pendo.url}/api/v1/visitor/{quote(visitor, safe='')}", headers={"x-pendo-integration-key": INTEGRATION_KEY}
    )
    assert read.json() == {"visitorId": visitor, "metadata": {"custom": {"plan": "pro"}}}


def test_keys_are_checked_per_api(pendo: FakePendo) -> None:
    track = {"type": "track", "event": "E", "visitorId": "u", "timestamp": int(time.time() * 1000), "context": {}}
    assert (
        requests.post(
            pendo.url + "/data/track", json=track, headers={"x-pendo-integration-key": INTEGRATION_KEY}
        ).status_code
        == 403
    )
    assert (
        requests.post(
            pendo.url + "/data/track", json=track, headers={"X-Pendo-Integration-Key": TRACK_SECRET}
        ).status_code
        == 200
    )
    meta = requests.post(
        pendo.url + "/api/v1/metadata/visitor/custom/value?create=true",
        json=[{"visitorId": "u", "values": {}}],
        headers={"x-pendo-integration-key": TRACK_SECRET},
    )
    assert (
        meta.status_code == 403
        and meta.json()["error"] == "x-pendo-integration-key (an integration key): not the configured key"
    )


AGENT_GROUP_WRITERS = [
    # (client, path, body): public integrations that post to the agent group of the bulk endpoint
    (
        "Flagsmith api/integrations/pendo/pendo.py, one version (PENDO_API_URL + /api/v1/metadata/visitor/agent/value)",
        "visitor/agent/value",
        [{"visitorId": "u1", "values": {"flag_x": "on"}}],
    ),
    (
        "segment-services-eng/usertesting pendoDestinationFunction.js (identify traits)",
        "visitor/agent/value",
        [{"visitorId": "u1", "values": {"plan": "pro"}}],
    ),
    (
        "Syncari PendoService (editableMetadataGroups pendo, custom, agent; ?create=true to create)",
        "account/agent/value?create=true",
        [{"accountId": "a1", "values": {"arr": 5}}],
    ),
]


@pytest.mark.parametrize(
    ("client", "path", "body"), AGENT_GROUP_WRITERS, ids=["flagsmith", "segment-function", "syncari"]
)
def test_clients_that_write_the_agent_group(client: str, path: str, body: list[dict[str, Any]]) -> None:
    """Pendo's support article says agent metadata "cannot be modified manually or through the API"
    (support.pendo.io 360031832072, older revision): the fake refuses by default, with a 400 naming the rule
    and the setting; yet public clients such as these write ``agent`` (docs/pendo.md, "Agent metadata"), and
    ``agent_writes="accept"`` takes them. The visitor and account exist first (the web agent saw them)."""
    from pytest_segpendo.fakes.pendo import encode_jzb

    kind = path.split("/")[0]
    ident = body[0]["visitorId" if kind == "visitor" else "accountId"]
    headers = {"x-pendo-integration-key": INTEGRATION_KEY, "content-type": "application/json"}
    seen = [{"type": "meta", "props": {"visitor": {"id": "u1"}, "account": {"id": "a1"}}}]
    with FakePendo(integration_key=INTEGRATION_KEY) as strict:
        refused = requests.post(f"{strict.url}/api/v1/metadata/{path}", data=json.dumps(body), headers=headers)
        assert refused.status_code == 400, client
        assert "cannot be modified manually or through the API" in refused.json()["error"]
        assert 'agent_writes="accept"' in refused.json()["error"]
        assert strict.records() == [] and strict.rejected[0]["reason"] == refused.json()["error"]
    with FakePendo(integration_key=INTEGRATION_KEY, agent_writes="accept") as lenient:
        requests.get(f"{lenient.url}/data/ptm.gif/key", params={"jzb": encode_jzb(seen)}).raise_for_status()
        taken = requests.post(f"{lenient.url}/api/v1/metadata/{path}", data=json.dumps(body), headers=headers)
        assert taken.status_code == 200, client
        assert taken.json() == {"total": 1, "updated": 1, "failed": 0, "missing": [], "errors": []}
        read = requests.get(f"{lenient.url}/api/v1/{kind}/{ident}", headers=headers).json()
        assert read["metadata"]["agent"] == body[0]["values"]
