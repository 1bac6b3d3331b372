"""The real Pendo agent (npm @pendo/agent 2.291.4) in headless Chromium against the fake Pendo server.

The fake must accept what the agent sends, answer so that the agent re-sends nothing, and decode it into the
records the agent model (``pytest_segpendo.profiles.agent``) predicts for the same calls: proof that the fake
and the model agree with the real thing.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from agent_browser import API_KEY, run_agent

from pytest_segpendo.fakes import FakePendo
from pytest_segpendo.profiles.agent import Agent
from pytest_segpendo.records import record_errors

ANONYMOUS = re.compile(r"_PENDO_T_[A-Za-z0-9_-]{8,16}")
_rng = random.Random(3)
BIG = "".join(_rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6000))  # incompressible enough

SCENARIOS: dict[str, dict[str, Any]] = {
    "identified visitor, account change, track": {
        "guides": False,
        "calls": [
            [
                "initialize",
                {
                    "visitor": {"id": "u1", "email": "u1@example.com", "plan": "pro", "seats": 5},
                    "account": {"id": "acct1", "name": "Acme"},
                },
            ],
            ["track", "Signed Up", {"plan": "pro", "n": 3}],
            ["identify", {"visitor": {"id": "u1", "role": "admin"}, "account": {"id": "acct2", "tier": "gold"}}],
            ["track", "Report Created", {"widgets": [1, 2], "nested": {"a": {"b": None}}}],
        ],
    },
    "anonymous, then identified with nested metadata and a parent account (guides on)": {
        "guides": True,
        "calls": [
            ["initialize", {"visitor": {}}],
            ["track", "CTA Clicked", {"label": "hero"}],
            [
                "identify",
                {
                    "visitor": {
                        "id": "u9",
                        "address": {"city": "Berlin", "zip": "10115"},
                        "tags": ["a", "b"],
                        "nothing": None,
                        "ok": True,
                        "created": "2024-01-02T03:04:05Z",
                    },
                    "account": {"id": "child1", "plan": "gold"},
                    "parentAccount": {"id": "parent1", "region": "EU"},
                },
            ],
            ["track", "After Login", {"x": [1, 2]}],
            ["identify", {"visitor": {"id": "u9"}, "account": {"id": "child1"}}],
            ["track", "Back To Plain Account", {}],
        ],
    },
    "numeric id, joined account id, unicode, undefined visitor id, a large POST beacon": {
        "guides": False,
        "calls": [
            ["initialize", {"visitor": {"id": 42, "n": 1}, "account": {"id": "p7::c7"}}],
            ["track", "Réservé ✓", {"ключ": "значение", "emoji": "🚀", "prix €": 12.5}],
            ["identify", {"visitor": {"bio": BIG}}],
            ["identify", {"visitor": {"id": 42, "more": "x"}, "account": {"id": "p7::c7"}}],
            ["identify", {"visitor": {"id": 42, "more": "x"}, "account": {"id": "p7::c7"}}],
            ["track", "Done", "not an object"],
        ],
    },
}


def predicted(calls: list[list[Any]]) -> list[dict[str, Any]]:
    agent = Agent()
    out: list[dict[str, Any]] = []
    for fn, *args in calls:
        if fn in ("initialize", "identify"):
            out.extend(agent.update_options(args[0]))
        elif fn == "track":
            record = agent.track(args[0], args[1] if len(args) > 1 else None, None)
            if record is not None:
                out.append(record)
    return out


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """What the model predicts of a record: not the agent's `language`, the browser's clock or the page URL."""
    out = {k: v for k, v in record.items() if k not in ("source", "timestamp", "context")}
    if out["kind"] == "visitor":
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "language"}
    for key in ("id", "visitorId"):
        if isinstance(out.get(key), str) and ANONYMOUS.fullmatch(out[key]):
            out[key] = "_PENDO_T_*"
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_real_agent_against_the_fake(name: str) -> None:
    scenario = SCENARIOS[name]
    with FakePendo(api_key=API_KEY) as pendo:
        done = run_agent(scenario["calls"], pendo.url, guides=scenario["guides"])
        pendo.raise_errors()
        observed = pendo.records()
        journal = pendo.requests()
        assert pendo.rejected == [], pendo.rejected
        assert pendo.duplicates == 0
    assert not [e for e in journal if "rt" in e["query"]], "the agent re-sent a batch: it did not accept an answer"
    assert all(record_errors(r) == [] for r in observed)
    assert [comparable(r) for r in observed] == [comparable(r) for r in predicted(scenario["calls"])]
    # what reached the fake is what the page passed
    visitors = [r for r in observed if r["kind"] == "visitor" and r["metadata"]]
    assert all(v["metadata"].get("language") for v in visitors), "the agent adds language to every visitor write"
    tracks = [r for r in observed if r["kind"] == "track"]
    assert all(isinstance(t["timestamp"], int) and t["context"]["url"].endswith("/page") for t in tracks)
    assert done["visitorId"] == observed[-1].get("visitorId", done["visitorId"])
    routes = {e["route"] for e in journal}
    if scenario["guides"]:
        assert {"guide.json", "guide.gif"} <= routes
        assert all(e["status"] == 200 for e in journal if e["route"].startswith("guide"))
    else:
        assert not any(r.startswith("guide") for r in routes)


def test_the_large_beacon_went_by_post() -> None:
    calls = SCENARIOS["numeric id, joined account id, unicode, undefined visitor id, a large POST beacon"]["calls"]
    with FakePendo(api_key=API_KEY) as pendo:
        run_agent(calls, pendo.url)
        posts = [e for e in pendo.requests() if e["method"] == "POST" and e["route"] == "ptm.gif"]
        assert posts and all(e["status"] == 200 for e in posts)
        big = [r for r in pendo.records() if r["kind"] == "visitor" and r["metadata"].get("bio") == BIG]
        assert len(big) == 1 and big[0]["id"] == "42"
