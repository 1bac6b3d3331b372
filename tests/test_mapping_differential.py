"""Differential tests: the Python mapping-kit against Segment's real engine, byte for byte.

The corpus (``fixtures/mapping-kit/``) is every mapping of ``mappings.jsonl`` applied to every event of
``events.jsonl`` (generated traffic of every scenario, edge cases included), plus the hand-written
``pairs.jsonl``. ``recorded.jsonl.gz`` holds the real engine's answers, so the comparison runs on any machine;
``test_live_engine_agrees`` runs ``@segment/actions-core`` under Node.js now, and must run in CI.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from pytest_segpendo.mapping import (
    UNDEFINED,
    CompiledMapping,
    MappingError,
    MappingValidationError,
    UnsupportedDirective,
    js_dumps,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fixtures" / "mapping-kit"
NODE_DIR = ROOT / "tests" / "node"


def read_jsonl(path: Path) -> list[Any]:
    with open(path, encoding="utf-8", newline="\n") as f:
        return [json.loads(line) for line in f if line.strip()]


MAPPINGS = read_jsonl(CORPUS / "mappings.jsonl")
EVENTS = read_jsonl(CORPUS / "events.jsonl")
PAIRS = read_jsonl(CORPUS / "pairs.jsonl")


def uses_liquid(mapping: Any) -> bool:
    return "@liquid" in json.dumps(mapping)


def answer(compiled: CompiledMapping | MappingError, event: Any, has_event: bool = True) -> str:
    """Our answer in the oracle's format (see tests/node/mapping_oracle.js)."""
    try:
        if isinstance(compiled, MappingError):
            if has_event and type(event) is not dict:
                raise MappingError([f"data must be an object, got {_type(event)}"])
            raise compiled
        result = compiled(event) if has_event else compiled()
    except MappingError as exc:
        kind = "validation" if isinstance(exc, MappingValidationError) else "runtime"
        return js_dumps({"kind": kind, "errors": exc.messages}) or ""
    if result is UNDEFINED:
        return '{"undefined":true}'
    return '{"ok":' + (js_dumps(result) or "") + "}"


def _type(value: Any) -> str:
    from pytest_segpendo.mapping.js import real_type

    return real_type(value)


def compile_or_error(mapping: Any) -> CompiledMapping | MappingError:
    try:
        return CompiledMapping(mapping)
    except MappingError as exc:
        return exc


@lru_cache(maxsize=1)
def our_product() -> list[str]:
    out = []
    for item in MAPPINGS:
        compiled = compile_or_error(item["mapping"])
        out.extend(answer(compiled, event) for event in EVENTS)
    return out


@lru_cache(maxsize=1)
def our_pairs() -> list[str]:
    return [answer(compile_or_error(p["mapping"]), p.get("event"), "event" in p) for p in PAIRS]


@lru_cache(maxsize=1)
def recorded() -> tuple[dict[str, Any], list[str], list[str]]:
    with gzip.open(CORPUS / "recorded.jsonl.gz", "rt", encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")[:-1]
    header = json.loads(lines[0])
    product = lines[1 : 1 + header["product"]]
    pairs = lines[1 + header["product"] :]
    return header, product, pairs


def mismatches(ours: list[str], theirs: list[str], label) -> list[str]:
    assert len(ours) == len(theirs)
    out = []
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            out.append(f"{label(i)}\n  python: {a[:300]}\n  engine: {b[:300]}")
    return out


def product_label(i: int) -> str:
    m, e = divmod(i, len(EVENTS))
    event = EVENTS[e]
    return f"mapping {MAPPINGS[m]['name']!r} x event {e} ({event.get('type')} {event.get('messageId')})"


def comparable_pairs(answers: list[str]) -> list[str]:
    return [a for a, p in zip(answers, PAIRS) if not uses_liquid(p["mapping"])]


def test_corpus_is_thousands_of_pairs_over_every_directive_and_scenario() -> None:
    header, product, pairs = recorded()
    assert header["engine"]["@segment/actions-core"] == "3.170.0"
    assert len(product) == len(MAPPINGS) * len(EVENTS) >= 10_000
    assert len(pairs) == len(PAIRS)
    text = json.dumps([m["mapping"] for m in MAPPINGS])
    for directive in (
        "@path",
        "@template",
        "@literal",
        "@if",
        "@case",
        "@replace",
        "@arrayPath",
        "@json",
        "@flatten",
        "@merge",
        "@transform",
        "@excludeWhenNull",
    ):
        assert f'"{directive}"' in text, directive
    assert '"blank"' in text and '"exists"' in text
    channels = {e.get("channel") for e in EVENTS}
    assert channels == {"browser", "mobile"}
    assert {e["type"] for e in EVENTS} == {"identify", "group", "track", "page", "screen", "alias"}
    outcomes = {json.loads(a).keys().__iter__().__next__() for a in product}
    assert outcomes == {"ok", "undefined", "kind"}, "results, undefined and errors are all exercised"


def test_recorded_engine_answers_match_byte_for_byte() -> None:
    _, product, _ = recorded()
    bad = mismatches(our_product(), product, product_label)
    assert not bad, f"{len(bad)} of {len(product)} pairs differ:\n" + "\n".join(bad[:10])


def test_recorded_hand_written_pairs_match() -> None:
    _, _, pairs = recorded()
    ours = comparable_pairs(our_pairs())
    theirs = comparable_pairs(pairs)
    names = [p["name"] for p in PAIRS if not uses_liquid(p["mapping"])]
    bad = mismatches(ours, theirs, lambda i: names[i])
    assert not bad, "\n".join(bad[:10])
    assert len(ours) >= 130


def test_liquid_is_refused_up_front_naming_the_field() -> None:
    liquid = [p for p in PAIRS if uses_liquid(p["mapping"])]
    assert liquid
    for pair in liquid:
        with pytest.raises(UnsupportedDirective) as info:
            CompiledMapping(pair["mapping"])
        assert "@liquid is not supported" in str(info.value)
        assert info.value.messages[0].startswith("/")
    with pytest.raises(UnsupportedDirective, match=r"^/visitor/name/@liquid @liquid is not supported"):
        CompiledMapping({"visitor": {"name": {"@liquid": "{{ traits.name | upcase }}"}}})


def _node_ready() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "@segment" / "actions-core").is_dir()


@pytest.fixture(scope="module")
def live_engine() -> None:
    if not _node_ready():
        message = "Node.js with tests/node/node_modules is needed: run ./scripts/test-setup"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it; a missing engine there is a broken set-up, not a skip
        pytest.skip(message)


def run_oracle(*args: str) -> list[str]:
    env = dict(os.environ, TZ="UTC")
    done = subprocess.run(
        ["node", str(NODE_DIR / "mapping_oracle.js"), *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:-1]


def test_live_engine_agrees(live_engine: None) -> None:
    product = run_oracle("product", str(CORPUS / "mappings.jsonl"), str(CORPUS / "events.jsonl"))
    bad = mismatches(our_product(), product, product_label)
    assert not bad, f"{len(bad)} of {len(product)} pairs differ:\n" + "\n".join(bad[:10])
    pairs = run_oracle("pairs", str(CORPUS / "pairs.jsonl"))
    names = [p["name"] for p in PAIRS if not uses_liquid(p["mapping"])]
    bad = mismatches(comparable_pairs(our_pairs()), comparable_pairs(pairs), lambda i: names[i])
    assert not bad, "\n".join(bad[:10])
    # and the installed engine is the one the recording came from
    _, rec_product, rec_pairs = recorded()
    assert product == rec_product and pairs == rec_pairs


def test_live_engine_agrees_on_fresh_traffic(live_engine: None, tmp_path: Path) -> None:
    """Events the corpus never saw: a new seed and mix, through the profile mappings and a sample of the rest."""
    from pytest_segpendo.traffic import generate

    events = [
        e
        for e in generate(300, seed=987, mix={"saas": 2, "mobile": 1, "anonymous": 1, "edge": 1})
        if len(json.dumps(e)) < 4000
    ]
    chosen = [
        m for m in MAPPINGS if m["name"].startswith(("profile/", "if/", "template/", "merge/", "flatten/", "replace/"))
    ]
    (tmp_path / "m.jsonl").write_text(
        "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in chosen), encoding="utf-8"
    )
    (tmp_path / "e.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8"
    )
    theirs = run_oracle("product", str(tmp_path / "m.jsonl"), str(tmp_path / "e.jsonl"))
    ours = [answer(compile_or_error(m["mapping"]), e) for m in chosen for e in events]
    assert len(ours) > 10_000
    bad = [
        f"{chosen[i // len(events)]['name']} x event {i % len(events)}\n  python: {a[:200]}\n  engine: {b[:200]}"
        for i, (a, b) in enumerate(zip(ours, theirs))
        if a != b
    ]
    assert not bad, f"{len(bad)} differ:\n" + "\n".join(bad[:10])
