"""The fast paths of the sharded expect and diff give what the in-memory functions give.

- Workers read byte ranges of plain files themselves: records, bad lines and their numbers are those
  :class:`~pytest_segpendo.archive.EventSource` reads (ranges cut small here, so lines and files cross them).
- Record lines in the form the toolkit writes are routed unparsed and checked in their shard: lines in that form
  that are not records (bad JSON, wrong types, a key written twice or escaped) are reported as the partition reports
  them, in file order, and every other line goes through the full parse.
- A track event's line read once per shard (the same line on both sides): the report is the in-memory one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_segpendo import events as events_module
from pytest_segpendo.archive import EventSource, parse_line
from pytest_segpendo.jsonl import dumps_bytes
from pytest_segpendo.profiles import get_profile
from pytest_segpendo.records import record_errors
from pytest_segpendo.scale import diff_files, expect_to_file, pipeline
from pytest_segpendo.traffic import generate
from pytest_segpendo.verify import DiffOptions, diff

VISITORS = ["u1", "u2", "_PENDO_T_x9", "_PENDO_T_*", "é-ü", "a\u2028b"]
EVENTS = ["Signed Up", "Clicked", 'Say "hi"']


def track(rng: random.Random) -> dict[str, Any]:
    return {
        "kind": "track",
        "event": rng.choice(EVENTS),
        "visitorId": rng.choice(VISITORS),
        "accountId": rng.choice(["a1", None]),
        "timestamp": rng.choice([None, 1000, 1001, 1005]),
        "properties": rng.choice([{}, {"n": 1}, {"n": 2, "kind": "x"}, {"note": "back\\slash"}]),
        "context": rng.choice([{}, {"ip": "1.2.3.4"}]),
    }


def entity(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["visitor", "account", "parentAccount"])
    record: dict[str, Any] = {"kind": kind, "id": rng.choice(VISITORS), "metadata": {"plan": rng.choice(["a", "b"])}}
    if rng.random() < 0.3:
        record["metadata"]["company"] = {"id": "c1"}  # a nested "id"
    if kind == "account":
        record["parentAccountId"] = rng.choice([None, "p1"])
    return record


def written(record: dict[str, Any], rng: random.Random) -> bytes:
    """A record as some writer writes it: the toolkit's form mostly; keys reordered, spaces, a source."""
    form = rng.random()
    if form < 0.6:
        return dumps_bytes(record)
    if form < 0.75:
        keys = list(record)
        rng.shuffle(keys)
        return json.dumps({k: record[k] for k in keys}).encode()
    if form < 0.85:
        return json.dumps(record, indent=None, separators=(", ", ": ")).encode()
    if form < 0.95:
        return dumps_bytes({**record, "source": {"request": rng.randint(1, 3)}})
    return json.dumps(record, ensure_ascii=True).encode()  # \u escapes


def broken(rng: random.Random) -> bytes:
    """Lines that are not records, many of them starting as the toolkit's records start."""
    head = b'{"kind":"track","event":"E","visitorId":"u1"'
    return rng.choice(
        [
            head + b',"accountId":null,"timestamp":"soon","properties":{},"context":{}}',  # wrong type
            head + b',"accountId":null,',  # cut short
            head + b"}",  # fields missing
            b'{"kind":"visitor","id":"u1","metadata":[]}',
            b'{"kind":"visitor","id":"u1"}',
            b"not json",
            b"[1, 2]",
            b"",
            b"   ",
            b'{"kind":"parentAccount","id":"\xff\xfe","metadata":{}}',  # not UTF-8
        ]
    )


def twice(rng: random.Random) -> bytes:
    """Valid records whose identity could be read wrong off their start: a key written twice, or escaped."""
    base = b'{"kind":"track","event":"E","visitorId":"u1","accountId":null,"timestamp":1000,"properties":{},'
    return rng.choice(
        [
            base + b'"context":{},"visitorId":"u2"}',
            base + b'"context":{},"visitor\\u0049d":"u2"}',
            base + b'"context":{},"kind":"track"}',
            b'{"kind":"visitor","id":"u1","metadata":{},"id":"u2"}',
            b'{"kind":"visitor","id":"u1","metadata":{},"\\u0069d":"u2"}',
        ]
    )


def lines_of(rng: random.Random, records: list[dict[str, Any]], noise: float) -> list[bytes]:
    out = []
    for record in records:
        if rng.random() < noise:
            out.append(broken(rng) if rng.random() < 0.6 else twice(rng))
        out.append(written(record, rng))
    return out


def read_back(path: Path) -> tuple[list[Any], list[tuple[int, str]]]:
    """What the partition reads of a records file: its records and its bad lines (number, error)."""
    good, bad = [], []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        line = raw.strip()
        if not line:
            continue
        value, error = parse_line(line)
        if error is None:
            errors = record_errors(value)
            if errors:
                error = f"not a Pendo record: {errors[0]}"
        if error is None:
            good.append(value)
        else:
            bad.append((number, error))
    return good, bad


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "RANGE_BYTES", 700)  # a few lines per range: lines and files cross them


options_strategy = st.builds(
    DiffOptions,
    view=st.sampled_from(["state", "stream"]),
    timestamp_tolerance_ms=st.sampled_from([None, 0, 2]),
    ignore_paths=st.sampled_from([(), ("track.context",), ("*.metadata.plan",)]),
    agent_fields=st.sampled_from([(), ("visitor.metadata.plan",), ("track.properties.n",)]),
    anonymous_ids=st.booleans(),
    collapse_repeats=st.booleans(),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), shards=st.integers(1, 5), options=options_strategy)
def test_diff_files_from_lines_of_every_form_is_the_diff(
    tmp_path_factory: pytest.TempPathFactory, small_ranges: None, seed: int, shards: int, options: DiffOptions
) -> None:
    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("files")
    expected = [track(rng) if rng.random() < 0.7 else entity(rng) for _ in range(rng.randint(0, 40))]
    observed = [dict(r) for r in expected if rng.random() > 0.1]
    observed += [dict(r) for r in expected if rng.random() < 0.1]  # duplicates
    observed += [track(rng) for _ in range(rng.randint(0, 3))]
    for r in observed:
        if rng.random() < 0.1:
            r["timestamp" if r["kind"] == "track" else "metadata"] = 1002 if r["kind"] == "track" else {"plan": "z"}
        elif rng.random() < 0.05 and r["kind"] in ("track", "visitor"):
            r["visitorId" if r["kind"] == "track" else "id"] = "_PENDO_T_made-up"  # an id the agent made up
        elif rng.random() < 0.05 and r["kind"] == "track":
            r["properties"] = {**r["properties"], "n": 7}  # an agent field, when the options say so
    rng.shuffle(observed)
    exp_path, obs_path = folder / "expected.jsonl", folder / "observed.jsonl"
    exp_path.write_bytes(b"\n".join(lines_of(rng, expected, 0.15)) + b"\n")
    obs_path.write_bytes(b"\n".join(lines_of(rng, observed, 0.15)))  # no line end at the end
    exp_good, exp_bad = read_back(exp_path)
    obs_good, obs_bad = read_back(obs_path)
    whole = diff(exp_good, obs_good, options)
    sharded = diff_files(exp_path, obs_path, options, shards=shards, workers=1)
    for side, path, bad in (("expected", exp_path, exp_bad), ("observed", obs_path, obs_bad)):
        notes = [n for n in sharded.notes if f"skipped in {path}" in n]
        if bad:
            first = f"{path}:{bad[0][0]}: {bad[0][1]}"
            assert notes == [
                f"{len(bad):,} bad line(s) skipped in {path} (first: {first}); the JSON report's causes count them"
            ], side
        else:
            assert notes == [], side
    got = sharded.as_json()
    got["notes"] = [n for n in got.get("notes", []) if "bad line(s) skipped" not in n]
    got["causes"] = [c for c in got.get("causes", []) if c.get("what") != "unreadable lines"]
    want = whole.as_json()
    assert got == want


def test_diff_files_on_worker_processes_with_bad_lines_in_their_shards(tmp_path: Path) -> None:
    events = generate(1500, seed=21)
    expectation = get_profile("track-api+metadata").expect(events)
    rng = random.Random(5)
    exp_lines = [dumps_bytes(r) for r in expectation.state]
    obs_lines = [line for line in exp_lines if rng.random() > 0.02]
    obs_lines.insert(7, b'{"kind":"track","event":"E","visitorId":"u1","accountId":null}')
    obs_lines.insert(300, b"{oops")
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(exp_lines) + b"\n")
    (tmp_path / "o.jsonl").write_bytes(b"\n".join(obs_lines) + b"\n")
    options = DiffOptions.from_hints(expectation.hints)
    whole = diff(read_back(tmp_path / "e.jsonl")[0], read_back(tmp_path / "o.jsonl")[0], options)
    sharded = diff_files(tmp_path / "e.jsonl", tmp_path / "o.jsonl", options, shards=7, workers=2)
    assert sharded.summary == whole.summary and sharded.matched == whole.matched
    cause = next(c for c in sharded.root_causes() if c.what == "unreadable lines")
    assert (
        cause.count == 2
        and cause.example is not None
        and cause.example.endswith("o.jsonl:8: not a Pendo record: track.timestamp: required")
    )


@pytest.mark.parametrize("profile", ["track-api+metadata", "classic", "web-actions"])
@pytest.mark.parametrize("view", ["state", "stream"])
def test_expect_to_file_over_small_ranges_and_two_files(
    profile: str, view: str, tmp_path: Path, small_ranges: None
) -> None:
    events = generate(500, seed=8, mix={"saas": 2, "edge": 1, "mobile": 1})
    folder = tmp_path / "in"
    folder.mkdir()
    rng = random.Random(2)
    body = [dumps_bytes(e) for e in events]
    for at in sorted(rng.sample(range(len(body)), 12), reverse=True):
        body.insert(at, rng.choice([b"{nope", b"", b"[]", b'"text"', b"  "]))
    half = len(body) // 2
    (folder / "a.jsonl").write_bytes(b"\n".join(body[:half]) + b"\n")
    (folder / "b.jsonl").write_bytes(b"\n".join(body[half:]))
    source = EventSource(folder)
    good = list(source)
    want_bad = [(b.source, b.line, b.error) for b in source.bad]
    expectation = get_profile(profile).expect(good)
    out = tmp_path / "out.jsonl"
    summary = expect_to_file(folder, profile, out, view=view, workers=2, validate=False)
    assert out.read_bytes() == b"".join(dumps_bytes(r) + b"\n" for r in expectation.view(view))
    assert [(b.source, b.line, b.error) for b in summary.bad] == want_bad
    assert summary.events == len(good) and summary.records == len(expectation.view(view))
    assert list(summary.ignored.items()) == list(expectation.ignored_summary().items())


def test_expect_to_file_validates_as_segpendo_expect(tmp_path: Path, small_ranges: None) -> None:
    events = generate(300, seed=4)
    events[5] = {k: v for k, v in events[5].items() if k != "type"}
    events[250]["timestamp"] = "yesterday"
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(dumps_bytes(e) + b"\n" for e in events))
    source = EventSource(path, validate=True)
    good = list(source)
    summary = expect_to_file(path, "track-api+metadata", tmp_path / "out.jsonl", workers=1)
    assert [(b.line, b.error) for b in summary.bad] == [(b.line, b.error) for b in source.bad]
    assert len(summary.bad) == 2 and summary.events == len(good)


def test_a_timestamp_read_from_a_known_minute_is_the_one_read_afresh() -> None:
    rng = random.Random(3)
    digits = "0123456789٠٥٩"
    values = [
        f"{rng.choice(['2026', '2024', '1999', '٢٠٢٦'])}-{rng.choice(['01', '02', '13'])}-"
        f"{rng.choice(['05', '29', '30'])}"
        f"T{rng.choice(['00', '09', '23', '24'])}:{rng.choice(['00', '59', '60'])}:"
        f"{rng.choice(['00', '59', '60', '61', '5٩'])}{rng.choice(['.', ','])}"
        f"{''.join(rng.choice(digits) for _ in range(3))}{rng.choice(['Z', 'Z', 'z'])}"
        for _ in range(5000)
    ]
    warm = [events_module.timestamp_ms(v) for v in values]
    fresh = []
    for v in values:
        events_module._MINUTE_CACHE.clear()
        fresh.append(events_module.timestamp_ms(v))
    assert warm == fresh and any(w is not None for w in warm) and any(w is None for w in warm)


def _lines_file(path: Path, records: list[dict[str, Any]], extra: list[bytes] = ()) -> None:  # type: ignore[assignment]
    path.write_bytes(b"".join(dumps_bytes(r) + b"\n" for r in records) + b"".join(line + b"\n" for line in extra))


@pytest.mark.parametrize("shards", [1, 4])
def test_a_line_read_wrong_off_its_start_makes_the_diff_run_again_parsed(
    tmp_path: Path, shards: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record line that writes its identity twice starts with one identity and is another: the shard finds it
    out (wrong shard, or a fact the partition did not learn: here the anonymous-id pattern) and the diff is made
    again with every line parsed: the report is the in-memory one."""
    tail = b',"accountId":null,"timestamp":5,"properties":{},"context":{},"visitorId":"_PENDO_T_*"}'
    twice = b'{"kind":"track","event":"E","visitorId":"u1"' + tail
    others = [{**track(random.Random(n)), "visitorId": f"v{n}"} for n in range(30)]
    _lines_file(tmp_path / "e.jsonl", others, [twice])
    observed = [dict(r) for r in others] + [
        {
            "kind": "track",
            "event": "E",
            "visitorId": "_PENDO_T_abc",
            "accountId": None,
            "timestamp": 5,
            "properties": {},
            "context": {},
        }
    ]
    _lines_file(tmp_path / "o.jsonl", observed)
    runs: list[bool] = []
    real = pipeline._run_diff

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        runs.append(found is None)
        return found

    monkeypatch.setattr(pipeline, "_run_diff", counting)
    options = DiffOptions(view="state", anonymous_ids=True)
    whole = diff(read_back(tmp_path / "e.jsonl")[0], read_back(tmp_path / "o.jsonl")[0], options)
    sharded = diff_files(tmp_path / "e.jsonl", tmp_path / "o.jsonl", options, shards=shards, workers=1)
    assert runs == [True, False]  # the first run found the line out, the second made the report
    assert sharded.as_json() == whole.as_json()
    assert whole.conforms  # the made-up anonymous id matches the pattern the line names last
