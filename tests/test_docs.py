"""Every code block in docs/ runs: the docs cannot drift from the code.

- ```python blocks run in order, one namespace per page; a block whose first line is ``# test_NAME.py`` is a
  pytest file instead, run with pytester, and all its tests must pass; one whose first line is
  ``# conftest.py`` is the ``conftest.py`` of the page's test files that follow;
- ```console blocks: each ``$ command`` runs in bash in a scratch directory (shared by the page's blocks; an
  example's README runs in the example's directory); it
  must exit 0, or N when the line ends in ``# exit N``; the lines under it are expected output, each of which
  must appear in the actual output in order (``...`` matches any lines);
- ```json blocks must be JSON (docs/profiles.md's mapping file example also runs in tests/test_profiles.py);
- ```yaml blocks must be YAML (tests/test_recipes.py runs the recipes' commands);
- a ``# test_NAME.py: ARGS`` first line runs that file with ``pytest ARGS``;
- ```text blocks are prose (synopses, sample output) and are not run; README's ```sh blocks are its two
  set-up commands, which .ci/run runs.
"""

from __future__ import annotations

import asyncio  # noqa: F401  (imported once, as below: Dask's event loop runs on it)
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# pytester restores sys.modules after each test; a client library first imported inside one page's blocks
# would then be half-forgotten (requests' CookieJar class no longer the one its session holds). Import the
# libraries the pages use once, here, so every page sees the same modules.
# The same for Dask (docs/scale.md runs a LocalCluster): a second copy of its modules made a later page's cluster
# hang on close and broke werkzeug's lookup of its own version.
import requests  # noqa: F401
import segment.analytics  # noqa: F401
import werkzeug.serving  # noqa: F401

try:
    import distributed  # noqa: F401  (the dev extra has it; docs/scale.md's Dask block needs it)
except ImportError:  # pragma: no cover
    pass

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)
RUNNABLE = {"python", "console"}


@dataclass
class Block:
    lang: str
    code: str
    line: int


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def test_every_block_has_a_known_language() -> None:
    for path in DOCS:
        for block in blocks(path):
            known = RUNNABLE | {"text", "json", "yaml"} | ({"sh"} if path.name == "README.md" else set())
            assert block.lang in known, f"{_name(path)}:{block.line}: say what the block is"


@pytest.mark.parametrize("path", [p for p in DOCS if any(b.lang == "json" for b in blocks(p))], ids=_name)
def test_json_blocks_are_json(path: Path) -> None:
    for block in blocks(path):
        if block.lang == "json":
            try:
                json.loads(block.code)
            except ValueError as exc:
                pytest.fail(f"{path.name}:{block.line}: not JSON: {exc}")


@pytest.mark.parametrize("path", [p for p in DOCS if any(b.lang == "yaml" for b in blocks(p))], ids=_name)
def test_yaml_blocks_are_yaml(path: Path) -> None:
    import yaml  # a dev dependency

    for block in blocks(path):
        if block.lang == "yaml":
            assert isinstance(yaml.safe_load(block.code), dict), f"{path.name}:{block.line}: not a YAML mapping"


@pytest.mark.parametrize("path", [p for p in DOCS if any(b.lang == "python" for b in blocks(p))], ids=_name)
def test_python_blocks_run(path: Path, pytester: pytest.Pytester) -> None:
    # pytester has made its directory the working directory: files the blocks write land there.
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for block in blocks(path):
        if block.lang != "python":
            continue
        first = block.code.splitlines()[0].strip()
        if re.fullmatch(r"#\s*conftest\.py", first):
            pytester.makeconftest(block.code)  # for the page's test files that follow
            continue
        name = re.fullmatch(r"#\s*(test_\w+\.py)(?::\s*(.*))?", first)
        if name:
            pytester.makepyfile(**{name.group(1)[:-3]: block.code})
            result = pytester.runpytest_subprocess(
                name.group(1), "-p", "no:cacheprovider", *(name.group(2) or "").split()
            )
            outcomes = result.parseoutcomes()
            assert outcomes.get("passed", 0) >= 1 and set(outcomes) <= {"passed", "seconds", "second"}, (
                f"{path.name}:{block.line}: {result.stdout.str()}"
            )
            continue
        try:
            exec(compile(block.code, f"{path.name}:{block.line}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name}:{block.line}: {type(exc).__name__}: {exc}")


def _commands(code: str) -> list[tuple[str, int, list[str]]]:
    out: list[tuple[str, int, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            command = line[2:]
            m = re.search(r"#\s*exit (\d+)\s*$", command)
            out.append((command, int(m.group(1)) if m else 0, []))
        elif out:
            out[-1][2].append(line)
    return out


def _in_order(expected: list[str], actual: list[str]) -> bool:
    i = 0
    for want in expected:
        if want.strip() in ("", "..."):
            continue
        while i < len(actual) and actual[i].rstrip() != want.rstrip():
            i += 1
        if i == len(actual):
            return False
        i += 1
    return True


@pytest.mark.parametrize("path", [p for p in DOCS if any(b.lang == "console" for b in blocks(p))], ids=_name)
def test_console_blocks_run(path: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for block in blocks(path):
        if block.lang != "console":
            continue
        for command, code, expected in _commands(block.code):
            # an example's README runs in the example's directory (its scripts are there), the docs in scratch
            cwd = path.parent if path.parent.parent.name == "examples" else tmp_path
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
            )
            actual = (done.stdout + done.stderr).splitlines()
            where = f"{path.name}:{block.line}: $ {command}"
            assert done.returncode == code, f"{where}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
            assert _in_order(expected, actual), (
                f"{where}\nexpected lines:\n" + "\n".join(expected) + "\nactual:\n" + "\n".join(actual)
            )
