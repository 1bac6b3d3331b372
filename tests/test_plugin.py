"""The pytest plugin as users meet it: loaded by entry point, options and ini, header, traffic fixtures."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest


def test_installed_package_registers_the_pytest11_entry_point() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert eps.get("segpendo") == "pytest_segpendo.plugin"


def test_help_of_a_plain_pytest_shows_the_option_group(tmp_path) -> None:
    # A directory with no conftest: only the installed entry point can add the group.
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "pytest-segpendo: Segment -> Pendo conformance:" in out.stdout
    for flag in (
        "--segpendo-seed",
        "--segpendo-scenario",
        "--segpendo-mix",
        "--segpendo-count",
        "--segpendo-locale",
        "--segpendo-profile",
        "--segpendo-view",
        "--segpendo-report",
        "--segpendo-limit",
        "--segpendo-timestamp-tolerance",
        "--segpendo-settle",
        "--segpendo-quiet",
        "--segpendo-max-age-days",
        "--segpendo-api-key",
        "--segpendo-integration-key",
        "--segpendo-track-secret",
        "--segpendo-write-key",
    ):
        assert flag in out.stdout
    assert "segpendo_seed (string):" in out.stdout


def test_header_shows_the_settings_that_reproduce_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--segpendo-seed", "77", "--segpendo-locale", "de_DE")
    result.stdout.fnmatch_lines(
        ["segpendo: seed=77 scenario=saas count=200 locale=de_DE profile=track-api+metadata faults=on"]
    )
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("--segpendo-faults", "off")
    result.stdout.fnmatch_lines(["segpendo: seed=0 * faults=off"])


def test_traffic_fixture_uses_the_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_segpendo import generate

        def test_defaults(segpendo_traffic, segpendo_seed):
            events = segpendo_traffic()
            assert segpendo_seed == 5
            assert len(events) == 40
            assert events == generate(40, seed=5, scenario="mobile")
            assert {e["channel"] for e in events} == {"mobile"}

        def test_override(segpendo_traffic):
            events = segpendo_traffic(10, scenario="edge", seed=1)
            assert events == generate(10, seed=1, scenario="edge")
        """
    )
    result = pytester.runpytest("--segpendo-seed=5", "--segpendo-scenario=mobile", "--segpendo-count=40")
    result.assert_outcomes(passed=2)


def test_ini_options_apply_and_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        segpendo_seed = 9
        segpendo_mix = saas=1, anonymous=1
        segpendo_count = 30
        """
    )
    pytester.makepyfile(
        """
        from pytest_segpendo import generate

        def test_it(segpendo_traffic, segpendo_config):
            assert segpendo_config.mix == {"saas": 1, "anonymous": 1}
            assert segpendo_traffic() == generate(30, seed=segpendo_config.seed, mix={"saas": 1, "anonymous": 1})
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        ["segpendo: seed=9 scenario=saas=1,anonymous=1 count=30 locale=en_US profile=track-api+metadata faults=on"]
    )
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("--segpendo-seed", "10")
    result.stdout.fnmatch_lines(["segpendo: seed=10 *"])
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--segpendo-scenario", "shop"],
            "",
            "*--segpendo-scenario: unknown scenario 'shop' (choose from saas, anonymous, mobile, edge)*",
        ),
        (["--segpendo-count", "-3"], "", "*--segpendo-count: must not be negative (got -3)*"),
        ([], "segpendo_seed = abc", "*ini option segpendo_seed: expected int, got 'abc'*"),
        ([], "segpendo_mix = saas=1,shop=2", "*ini option segpendo_mix: unknown scenario 'shop' in mix*"),
    ],
)
def test_bad_settings_stop_the_run_with_a_usage_error(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_seed_on_the_command_line_is_refused_by_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--segpendo-seed", "x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--segpendo-seed: invalid int value: 'x'*"])
