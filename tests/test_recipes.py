"""The recipes of docs/recipes.md, run: the GitHub Actions workflow's pytest step on the quickstart's tests, and
the docker-compose services' commands as local processes (no Docker here: hosts become 127.0.0.1, fixed ports
become free ones, the relay's volume becomes examples/node-relay)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def yaml_block(page: str, first_line: str) -> dict[str, Any]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    for code in re.findall(r"```yaml\n(.*?)```", text, re.S):
        if code.splitlines()[0].strip() == first_line:
            found: dict[str, Any] = yaml.safe_load(code)
            return found
    raise AssertionError(f"no yaml block starting {first_line!r} in docs/{page}")


def python_blocks(page: str) -> dict[str, str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return {
        m.group(1): m.group(0)[len("```python\n") : -3]
        for m in re.finditer(r"```python\n# (\w+\.py)\n.*?```", text, re.S)
    }


def env_with_bin() -> dict[str, str]:
    return {**os.environ, "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", "")}


def test_the_github_actions_workflow_runs_the_quickstart_tests(tmp_path: Path) -> None:
    workflow = yaml_block("recipes.md", "# .github/workflows/pendo-conformance.yml")
    steps = workflow["jobs"]["segpendo"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[0].split()[:3] == ["pip", "install", "pytest-segpendo"], "the workflow installs the package"
    for name, code in python_blocks("quickstart.md").items():
        if name in ("conftest.py", "test_pendo_integration.py"):
            (tmp_path / name).write_text(code, encoding="utf-8")
    [pytest_step] = [r for r in runs if r.startswith("pytest ")]
    done = subprocess.run(
        [sys.executable, "-m", *shlex.split(pytest_step), "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env_with_bin(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "segpendo-report.json").read_text())
    assert report["conforms"] is True and len(report["tests"]) == 1
    assert "segpendo_conforms" in (tmp_path / "junit.xml").read_text()
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert set(artifact["with"]["path"].split()) == {"segpendo-report.json", "junit.xml"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_command(service: dict[str, Any], ports: dict[str, int], hosts: dict[str, str]) -> list[str]:
    """A compose service's command, as a local process: the package is installed, hosts and ports mapped."""
    command = service["command"]
    if command.startswith("sh -c "):
        command = shlex.split(command)[2]
    command = re.sub(r"^pip install -q pytest-segpendo && ", "", command)
    for name, port in ports.items():
        command = command.replace(f"{hosts[name]}:{name}", f"127.0.0.1:{port}")
    return shlex.split(command)


def wait_until_listening(port: int, proc: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port} within 20 s")


def test_the_docker_compose_recipe_passes_with_its_commands_run_locally(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.fail("Node.js is required (scripts/test-setup installs it)")
    compose = yaml_block("recipes.md", "# docker-compose.yml")["services"]
    assert set(compose) == {"pendo", "relay", "check"}
    pendo_port, segment_port, relay_port = free_port(), free_port(), free_port()
    pendo_cmd = compose["pendo"]["command"]
    assert "--host 0.0.0.0 --pendo-port 8080 --segment-port 8081" in pendo_cmd, (
        "the fakes listen for the other containers"
    )
    pendo_args = local_command(compose["pendo"], {}, {})
    pendo_args = [
        a.replace("0.0.0.0", "127.0.0.1").replace("8080", str(pendo_port)).replace("8081", str(segment_port))
        for a in pendo_args
    ]
    relay_env = {k: str(v) for k, v in compose["relay"]["environment"].items()}
    assert relay_env["PENDO_URL"] == "http://pendo:8080"
    relay_env.update(HOST="127.0.0.1", PORT=str(relay_port), PENDO_URL=f"http://127.0.0.1:{pendo_port}")
    relay_args = [
        a.replace("/app/", str(ROOT / "examples" / "node-relay") + "/")
        for a in shlex.split(compose["relay"]["command"])
    ]
    check_args = local_command(
        compose["check"], {"8080": pendo_port, "3000": relay_port}, {"8080": "pendo", "3000": "relay"}
    )
    check_args = [a.replace("/out/", str(tmp_path) + "/") for a in check_args]
    procs = []
    try:
        procs.append(
            subprocess.Popen(pendo_args, env=env_with_bin(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )
        wait_until_listening(pendo_port, procs[-1], "segpendo serve")
        procs.append(
            subprocess.Popen(
                relay_args, env={**env_with_bin(), **relay_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        )
        wait_until_listening(relay_port, procs[-1], "the relay")
        done = subprocess.run(check_args, env=env_with_bin(), capture_output=True, text=True, timeout=300)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert done.stdout.splitlines()[1].startswith("segpendo: conforms (profile track-api+metadata, state view)")
    report = json.loads((tmp_path / "segpendo-report.json").read_text())
    assert report["conforms"] is True and report["delivery"]["acknowledged"] == 1000
