"""The checked-in traffic corpus is exactly what its recorded recipe generates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_segpendo.events import validate_event

ROOT = Path(__file__).resolve().parents[1]
TRAFFIC = ROOT / "fixtures" / "traffic"
MANIFEST = json.loads((TRAFFIC / "MANIFEST.json").read_text())["files"]

sys.path.insert(0, str(ROOT / "fixtures"))
from regenerate import traffic_lines  # noqa: E402
from test_traffic import ANONYMOUS_HAZARDS, IDENTIFIED_HAZARDS, hazards_in  # noqa: E402


def test_every_scenario_has_a_corpus_file() -> None:
    from pytest_segpendo.traffic import SCENARIOS

    assert {e.get("scenario") for e in MANIFEST} >= set(SCENARIOS)
    assert sorted(p.name for p in TRAFFIC.glob("*.jsonl")) == sorted(e["file"] for e in MANIFEST)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_regenerating_with_the_recorded_seed_gives_the_same_bytes(entry: dict) -> None:
    on_disk = (TRAFFIC / entry["file"]).read_bytes()
    assert traffic_lines(entry).encode("utf-8") == on_disk
    lines = on_disk.decode("utf-8").splitlines()
    assert len(lines) == entry["count"]
    assert all(validate_event(json.loads(line)) == [] for line in lines)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_every_corpus_file_carries_the_hazards_of_its_scenario(entry: dict) -> None:
    """The corpus is short (60 to 200 events) and still holds every hazard of docs/traffic.md ("Hazards")."""
    events = [json.loads(line) for line in (TRAFFIC / entry["file"]).read_text(encoding="utf-8").splitlines()]
    anonymous = entry.get("scenario") == "anonymous"
    expected = ANONYMOUS_HAZARDS if anonymous else IDENTIFIED_HAZARDS
    assert sorted(expected - hazards_in(events, identified=not anonymous)) == []


def test_the_cli_reproduces_a_corpus_file_from_its_recipe() -> None:
    entry = next(e for e in MANIFEST if e["file"] == "edge.jsonl")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_segpendo",
            "generate",
            "--seed",
            str(entry["seed"]),
            "--count",
            str(entry["count"]),
            "--scenario",
            entry["scenario"],
            "--locale",
            entry["locale"],
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == (TRAFFIC / entry["file"]).read_bytes()
