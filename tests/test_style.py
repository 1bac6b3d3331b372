"""The code keeps the project's style: ruff's lint rules and its formatter (configured in pyproject.toml), so a
contributor's change is held to them by the test command, as CI runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("ruff is not installed: it is in the dev extra (pip install -e '.[dev]')")
    return [found]


def test_ruff_finds_nothing_to_fix() -> None:
    done = subprocess.run([*_ruff(), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"ruff check found problems (fix with `ruff check --fix .`):\n{done.stdout}{done.stderr}"
    )


def test_the_code_is_formatted() -> None:
    done = subprocess.run([*_ruff(), "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"files to reformat (run `ruff format .`):\n{done.stdout}{done.stderr}"
