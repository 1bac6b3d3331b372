"""The package's public surface: ``import pytest_segpendo`` and the plugin stay cheap (nothing heavy imported until
used), every public name is importable from the package, old names warn for one release, one set of defaults,
and "check" means one thing."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import warnings

import pytest

import pytest_segpendo
from pytest_segpendo import defaults

HEAVY = ("deepdiff", "werkzeug", "faker", "pytest_segpendo.verify.engine", "pytest_segpendo.fakes", "requests")


def modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("code", ["import pytest_segpendo.plugin", "import pytest_segpendo"])
def test_importing_the_plugin_or_the_package_imports_nothing_heavy(code: str) -> None:
    loaded = modules_after(code)
    assert not [m for m in HEAVY if m in loaded], sorted(m for m in loaded if m.startswith(HEAVY))


def test_a_public_name_imports_its_module_on_first_use() -> None:
    loaded = modules_after("from pytest_segpendo import generate")
    assert "pytest_segpendo.traffic" in loaded and "pytest_segpendo.verify" not in loaded


def test_every_public_name_resolves_and_is_listed() -> None:
    expected = {
        "FakePendo",
        "FakeSegment",
        "deliver",
        "expect",
        "diff",
        "compare",
        "run_check",
        "generate",
        "DiffOptions",
        "DiffReport",
        "Observed",
        "Expectation",
        "SegpendoConfig",
        "SegpendoKeys",
    }
    assert expected <= set(pytest_segpendo.__all__)
    for name in pytest_segpendo.__all__:
        assert getattr(pytest_segpendo, name) is not None, name
    from pytest_segpendo.fakes import FakePendo
    from pytest_segpendo.verify import compare

    assert pytest_segpendo.FakePendo is FakePendo and pytest_segpendo.compare is compare
    assert set(pytest_segpendo.__all__) <= set(dir(pytest_segpendo))
    with pytest.raises(AttributeError):
        pytest_segpendo.nothing_like_this  # noqa: B018


@pytest.mark.parametrize(
    ("old", "new"),
    [("check_event", "require_valid_event"), ("SegpendoSettings", "SegpendoConfig")],
)
def test_old_names_warn_and_keep_working(old: str, new: str) -> None:
    with pytest.deprecated_call(match=new):
        value = getattr(pytest_segpendo, old)
    assert value is getattr(pytest_segpendo, new)


def test_one_default_profile_and_count_everywhere() -> None:
    from pytest_segpendo.conformance import run_check
    from pytest_segpendo.fixtures import Segpendo
    from pytest_segpendo.options import SegpendoConfig
    from pytest_segpendo.profiles import expect

    assert inspect.signature(expect).parameters["profile"].default == defaults.PROFILE == "track-api+metadata"
    assert inspect.signature(run_check).parameters["profile"].default == defaults.PROFILE
    from pytest_segpendo.fakes import FakeSegment

    assert inspect.signature(FakeSegment.expected).parameters["profile"].default == defaults.PROFILE
    assert SegpendoConfig().profile == defaults.PROFILE and SegpendoConfig().count == defaults.COUNT
    assert inspect.signature(Segpendo.check).parameters["via"].default == defaults.VIA
    from pytest_segpendo.cli import build_parser

    check = build_parser().parse_args(["check", "--sut", "http://x", "--pendo-port", "0"])
    assert check.profile == defaults.PROFILE and check.settle == defaults.SETTLE and check.quiet == defaults.QUIET


def test_no_public_name_of_the_api_means_check_but_the_check() -> None:
    """'check' is the conformance check (Segpendo.check, run_check, ``segpendo check``); validating is
    'validate', raising a server's errors is 'raise_errors'."""
    from pytest_segpendo import cli, conformance, fixtures, options, plugin

    allowed = {"check", "run_check", "CheckResult", "cmd_check"}
    names = set(pytest_segpendo.__all__)
    for module in (conformance, fixtures, options, plugin, cli):
        names |= {n for n in getattr(module, "__all__", dir(module)) if not n.startswith("_")}
    names |= {n for n in dir(fixtures.Segpendo) if not n.startswith("_")}
    assert {n for n in names if "check" in n.lower()} <= allowed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the CLI's own options: --no-check is --no-validate now
        options_of = {
            action.dest
            for p in cli.build_parser()._subparsers._group_actions[0].choices.values()
            for action in p._actions
        }
    assert not [d for d in options_of if "check" in d]
