import os

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The inner pytest runs keep their files' order: what they print is asserted line by line. (The outer
    suite itself may run in any order: pytest-randomly.)"""
    monkeypatch.setenv("PYTEST_ADDOPTS", (os.environ.get("PYTEST_ADDOPTS", "") + " -p no:randomly").strip())
    return pytester
