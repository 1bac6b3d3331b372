"""Progress on long runs: on a terminal (stderr a pty), generate, expect, send, check, diff and demo show what
they do; piped, or with ``--quiet``, their output is exactly what it was without progress."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from pytest_segpendo.fakes.pendo import FakePendo
from pytest_segpendo.relay import Relay

CLI = [sys.executable, "-m", "pytest_segpendo"]
BAR = ("\r", "\x1b[")  # what a progress bar writes: carriage returns, cursor moves


def piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=240, cwd=cwd)


def on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal: (exit code, stdout, what the terminal showed)."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal of 120 columns
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side closed
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=side, cwd=cwd)
    os.close(side)
    out, _ = proc.communicate(timeout=240)
    reader.join(timeout=10)
    os.close(main)
    return proc.returncode, out.decode("utf-8"), b"".join(shown).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("progress")
    assert piped("generate", "--seed", "1", "--count", "3000", "-o", "events.jsonl", cwd=here).returncode == 0
    assert piped("expect", "events.jsonl", "-o", "expected.jsonl", cwd=here).returncode == 0
    return here


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--seed", "1", "--count", "3000"],
        ["expect", "events.jsonl"],
        ["diff", "expected.jsonl", "expected.jsonl"],
        ["expect", "events.jsonl", "--sharded-above", "0"],
        ["diff", "expected.jsonl", "expected.jsonl", "--sharded-above", "0"],
    ],
    ids=["generate", "expect", "diff", "expect-sharded", "diff-sharded"],
)
def test_piped_output_is_unchanged_and_quiet_on_a_terminal_shows_nothing(files: Path, args: list[str]) -> None:
    plain = piped(*args, cwd=files)
    quiet = piped(*args, "--quiet", cwd=files)
    assert plain.returncode == quiet.returncode == 0
    assert plain.stdout == quiet.stdout and plain.stderr == quiet.stderr
    assert not any(mark in plain.stderr for mark in BAR)
    code, out, shown = on_a_terminal(*args, "-q", cwd=files)
    assert code == 0 and out == plain.stdout
    assert shown.replace("\r\n", "\n") == plain.stderr.replace("\r\n", "\n"), "nothing but what a pipe gets"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["generate", "--seed", "1", "--count", "60000", "-o", "big.jsonl"], "generating"),
        (["expect", "events.jsonl", "-o", "x.jsonl"], "reading events"),
        (["diff", "expected.jsonl", "expected.jsonl"], "reading expected.jsonl"),
        (["expect", "events.jsonl", "-o", "x.jsonl", "--sharded-above", "0"], "expect batches"),
        (["diff", "expected.jsonl", "expected.jsonl", "--sharded-above", "0"], "diff shards"),
    ],
    ids=["generate", "expect", "diff", "expect-sharded", "diff-sharded"],
)
def test_a_terminal_shows_progress(files: Path, args: list[str], words: str) -> None:
    code, _out, shown = on_a_terminal(*args, cwd=files)
    assert code == 0
    assert words in shown and "\r" in shown, shown[-500:]


def test_send_check_and_demo_show_the_delivery_on_a_terminal_and_nothing_piped(files: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = {"track_secret": "t", "integration_key": "k"}
    with Relay(f"http://127.0.0.1:{port}", **keys) as relay:
        check = ["check", "--sut", relay.url, "--pendo-port", str(port), "--track-secret", "t", "--integration-key"]
        code, out, shown = on_a_terminal(*check, "k", "--count", "400", cwd=files)
        assert code == 0, out
        assert "acknowledged" in shown and "Pendo requests" in shown and "\r" in shown, shown[-800:]
        piped_check = piped(*check, "k", "--count", "400", "--seed", "5", cwd=files)
        assert piped_check.returncode == 0 and piped_check.stderr == ""
        send = ["send", "--sut", relay.url, "--max-attempts", "1", "events.jsonl"]
        with FakePendo(port=port, **keys):  # where the relay forwards to
            code, out, shown = on_a_terminal(*send, cwd=files)
            assert code == 0 and "delivering" in shown and "acknowledged" in shown, shown[-800:]
            assert out.startswith("3000 events to ")
            assert piped(*send, cwd=files).stderr == ""
    code, out, shown = on_a_terminal("demo", "--count", "300", cwd=files)
    assert code == 0 and "delivering" in shown and "settling" in shown, shown[-800:]
    demo = piped("demo", "--count", "300", cwd=files)
    assert demo.returncode == 0 and demo.stderr == ""
