"""``check.sh`` as CI runs it: segpendo serve + the Node.js relay + segpendo check, from a shell, no Python in
the system under test. Node.js is required (CI installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.fail("Node.js is required for the node-relay example (scripts/test-setup installs it)")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        ["bash", str(HERE / "check.sh"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_node_relay_conforms(tmp_path: Path) -> None:
    done = run("--count", "400", "--seed", "7", "--report", "report.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # the check's bad days: Pendo faults make Segment retry, and one event is delivered again (same messageId)
    first = done.stdout.splitlines()[0]
    assert "400 acknowledged," in first and " 0 failed" in first and "re-delivered" in first
    assert done.stdout.splitlines()[1].startswith("segpendo: conforms (profile track-api+metadata, state view): ")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["conforms"] is True and report["matched"] == report["expected"] > 100


def test_a_wrong_webhook_secret_is_a_red_run_that_says_so(tmp_path: Path) -> None:
    # the script signs with the relay's secret; sending as another sender (a second --secret wins) is refused
    done = run("--count", "20", "--max-attempts", "1", "--secret", "not-the-relays-secret", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "20 failed" in done.stdout
    assert "rejected" in done.stdout and "the system under test did not acknowledge it: HTTP 401" in done.stdout
