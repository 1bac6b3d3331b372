"""One shape for the plugin's API, run with ``pytester``: ``check`` and ``verify`` take the same arguments,
``observed() == expect()`` decides as ``check`` does (the conftest's hooks included), options given beside
``DiffOptions`` are kept, the run's configuration is ``segpendo_config`` (the old names warn), the session fakes
are configured by overridable fixtures, and the fakes require keys (random per session, or set by option, ini
or marker) that a test hands to its system."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

RELAY = """
import pytest
from pytest_segpendo.relay import Relay

@pytest.fixture
def relay(segpendo, request):
    bugs = getattr(request, "param", ())
    keys = segpendo.keys
    with Relay(segpendo.pendo.url, track_secret=keys.track_secret, integration_key=keys.integration_key,
               secret="s3cret", bugs=bugs) as r:
        yield r
"""


def test_check_and_verify_take_the_system_under_test_first_with_the_same_signature(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RELAY)
    pytester.makepyfile(
        """
        import inspect
        from pytest_segpendo.fixtures import Segpendo

        def test_same_signature():
            check, verify = inspect.signature(Segpendo.check), inspect.signature(Segpendo.verify)
            assert check.parameters == verify.parameters
            first = list(check.parameters.values())[1]
            assert first.name == "sut" and first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD

        def test_both_positional(segpendo, relay):
            assert segpendo.verify(relay.url, secret="s3cret").conforms
            segpendo.pendo.reset()  # what the first one sent is still there otherwise
            # other traffic: the relay remembers the messageIds it forwarded, as Segment's re-deliveries require
            assert segpendo.check(relay.url, secret="s3cret", events=segpendo.traffic(seed=1)).conforms
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


HOOKS = """
from pytest_segpendo.verify import Matcher

def pytest_segpendo_adjust_expected(records, profile, request):
    if "adjusted" in request.node.name:
        records.append({"kind": "visitor", "id": "added-by-hook", "metadata": {}})

def pytest_segpendo_normalise_observed(records, profile, request):
    if "normalised" in request.node.name:
        for r in records:
            if r["kind"] == "track":
                r["event"] = r["event"].title()

def pytest_segpendo_add_matchers(matchers, profile, request):
    if "matched" in request.node.name:
        matchers.append(Matcher("track.event", lambda e, a: e.lower() == a.lower(), "case-insensitive names"))
"""


def test_observed_equals_expect_gives_the_verdict_of_check_with_the_conftest_hooks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RELAY + HOOKS)
    pytester.makepyfile(
        """
        import pytest
        from pytest_segpendo.relay import Relay

        def both_ways(segpendo, url):
            report = segpendo.verify(url, secret="s3cret")   # sends, then compares as check() does
            by_assert = segpendo.observed() == segpendo.expect()  # compares what is there now, the same way
            return report.conforms, by_assert

        @pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
        def test_normalised(segpendo, relay):
            assert both_ways(segpendo, relay.url) == (True, True)

        @pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
        def test_matched(segpendo, relay):
            assert both_ways(segpendo, relay.url) == (True, True)

        def test_adjusted(segpendo, relay):
            assert both_ways(segpendo, relay.url) == (False, False)
            assert segpendo.expect().stream[-1]["id"] == "added-by-hook"

        @pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
        def test_no_hook_applies(segpendo, relay):
            assert both_ways(segpendo, relay.url) == (False, False)

        @pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
        def test_matched_assert_passes(segpendo, relay):
            segpendo.verify(relay.url, secret="s3cret")
            assert segpendo.observed() == segpendo.expect()

        def test_normalise_never_changes_the_fake(segpendo, relay):
            segpendo.verify(relay.url, secret="s3cret")
            before = segpendo.pendo.records()
            segpendo.observed()
            assert segpendo.pendo.records() == before
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_options_given_beside_diff_options_are_kept(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RELAY)
    pytester.makepyfile(
        """
        import pytest
        from pytest_segpendo.verify import DiffOptions

        @pytest.mark.parametrize("relay", [("properties-dropped",)], indirect=True)
        def test_beside_options(segpendo, relay):
            options = DiffOptions(view="stream", collapse_repeats=True, ignore_paths=("track.context",))
            plain = segpendo.verify(relay.url, secret="s3cret", options=options)
            assert not plain.conforms and plain.view == "stream"
            segpendo.pendo.reset()
            second = segpendo.traffic(seed=1)  # the relay does not forward the messageIds it forwarded again
            report = segpendo.verify(
                relay.url, secret="s3cret", options=options, ignore_paths=["track.properties"], limit=3,
                timestamp_tolerance_ms=5, view="state", events=second,
            )
            assert report.conforms, report.format()
            assert report.limit == 3 and report.view == "state"
            # the same through observed()
            same = segpendo.observed().compare(
                segpendo.expect(second), options, ignore_paths=["track.properties"], limit=3
            )
            assert same.conforms and same.limit == 3 and same.view == "stream"

        @pytest.mark.parametrize("relay", [("properties-dropped",)], indirect=True)
        def test_check_keeps_them_too(segpendo, relay):
            report = segpendo.check(
                relay.url, secret="s3cret", options=DiffOptions(), ignore_paths=["track.properties"], limit=2
            )
            assert report.limit == 2
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_run_configuration_is_segpendo_config_and_the_old_names_warn(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_segpendo import defaults
        from pytest_segpendo.options import SegpendoConfig

        def test_config(segpendo_config, segpendo):
            assert isinstance(segpendo_config, SegpendoConfig)
            assert segpendo_config.count == defaults.COUNT and segpendo_config.profile == defaults.PROFILE
            assert segpendo.config.seed == segpendo_config.seed

        def test_old_fixture_warns(segpendo_settings, segpendo_config):
            assert segpendo_settings is segpendo_config

        def test_old_attribute_and_class_warn(segpendo):
            with pytest.deprecated_call():
                assert segpendo.settings is segpendo.config
            with pytest.deprecated_call():
                from pytest_segpendo.plugin import SegpendoSettings
            with pytest.deprecated_call():
                from pytest_segpendo.options import SegpendoSettings as Old
            assert SegpendoSettings is Old is SegpendoConfig

        @pytest.mark.segpendo(settings={"anonymousTracks": "anonymousId"}, profile="track-api")
        def test_settings_are_the_destinations(segpendo):
            assert segpendo.expect().settings["anonymousTracks"] == "anonymousId"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "always::DeprecationWarning")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*DeprecationWarning: the segpendo_settings fixture is deprecated*segpendo_config*"])
    assert pytester.runpytest("-p", "no:cacheprovider", "-W", "error::DeprecationWarning").ret != 0


def test_conftest_overrides_the_session_fakes_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def segpendo_pendo_options(segpendo_pendo_options):
            fault = {"route": "track", "status": 503, "count": 1}
            return {**segpendo_pendo_options, "max_body": 2000, "faults": [fault]}

        @pytest.fixture(scope="session")
        def segpendo_segment_options(segpendo_segment_options):
            return {**segpendo_segment_options, "write_key": "my-write-key"}
        """
    )
    pytester.makepyfile(
        """
        import json, urllib.request, urllib.error
        import pytest

        def post(pendo, body):
            request = urllib.request.Request(pendo.url + "/data/track", body,
                                             {"x-pendo-integration-key": pendo.config.track_secret})
            try:
                return urllib.request.urlopen(request).status
            except urllib.error.HTTPError as exc:
                return exc.code

        @pytest.mark.parametrize("n", range(2))
        def test_each_test_gets_the_fault_and_the_limit(segpendo_pendo, n):
            assert segpendo_pendo.config.max_body == 2000
            assert post(segpendo_pendo, b"{}") == 503          # the session's fault, again in every test
            assert post(segpendo_pendo, b"x" * 3000) == 413

        def test_write_key(segpendo):
            assert segpendo.keys.write_key == "my-write-key" == segpendo.segment.app.config.write_key
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_a_bad_options_fixture_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def segpendo_pendo_options():
            return {"colour": "red"}
        """
    )
    pytester.makepyfile("def test_it(segpendo_pendo): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*segpendo_pendo_options: *colour*"])


# -- keys ---------------------------------------------------------------------------------------------------------


def test_keys_are_random_per_session_and_readable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json

        def test_keys(segpendo, segpendo_keys, segpendo_pendo):
            keys = segpendo.keys
            assert keys == segpendo_keys
            assert keys.track_secret == segpendo_pendo.config.track_secret
            assert keys.integration_key == segpendo_pendo.config.integration_key
            assert keys.api_key == segpendo_pendo.config.api_key
            assert keys.write_key == segpendo.segment.app.config.write_key
            values = list(keys.as_dict().values())
            assert all(len(v) == 32 for v in values) and len(set(values)) == 4
            with open("keys.json", "a") as f:
                f.write(json.dumps(values) + "\\n")
        """
    )
    for _ in range(2):
        pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    first, second = (json.loads(line) for line in (pytester.path / "keys.json").read_text().splitlines())
    assert not set(first) & set(second), "every session makes its own keys"


def test_keys_by_option_ini_and_marker_and_the_marker_is_restored(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsegpendo_integration_key = ini-integration\nsegpendo_write_key = ini-write\n")
    pytester.makepyfile(
        """
        import pytest

        def test_1_options(segpendo):
            assert segpendo.keys.track_secret == "cli-secret" == segpendo.pendo.config.track_secret
            assert segpendo.keys.integration_key == "ini-integration"
            assert segpendo.keys.write_key == "cli-write"      # the command line wins over the ini file

        @pytest.mark.segpendo(keys={"track_secret": "marked", "api_key": None, "write_key": "marked-write"})
        def test_2_marker(segpendo):
            assert segpendo.pendo.config.track_secret == "marked" == segpendo.keys.track_secret
            assert segpendo.pendo.config.api_key is None       # None: any non-empty key
            assert segpendo.segment.app.config.write_key == "marked-write" == segpendo.keys.write_key

        def test_3_restored(segpendo, segpendo_keys):
            assert segpendo.pendo.config.track_secret == "cli-secret"
            assert segpendo.pendo.config.api_key == segpendo_keys.api_key is not None
            assert segpendo.segment.app.config.write_key == "cli-write"

        @pytest.mark.segpendo(keys={"trak_secret": "x"})
        def test_4_typo(segpendo):
            pass
        """
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--segpendo-track-secret",
        "cli-secret",
        "--segpendo-write-key",
        "cli-write",
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.segpendo: unknown key 'trak_secret' (use api_key, *)"])


def test_a_system_with_swapped_or_no_keys_fails_as_against_pendo(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json, urllib.request, urllib.error
        import pytest
        from pytest_segpendo.relay import Relay

        def test_swapped(segpendo):
            keys = segpendo.keys
            with Relay(segpendo.pendo.url, track_secret=keys.integration_key, integration_key=keys.track_secret,
                       secret="s") as relay:
                segpendo.check(relay.url, secret="s")

        def test_none_sent(segpendo):
            def tiny_relay(event):   # posts track events to Pendo without the shared secret
                if event["type"] != "track":
                    return
                body = {"type": "track", "event": event["event"], "visitorId": event.get("userId") or "anon",
                        "timestamp": 1767603600000, "properties": {}, "context": {}}
                try:
                    urllib.request.urlopen(urllib.request.Request(segpendo.pendo.url + "/data/track",
                                                                  json.dumps(body).encode()))
                except urllib.error.HTTPError:
                    pass
            segpendo.check(tiny_relay, profile="track-api")

        def test_right_keys(segpendo):
            keys = segpendo.keys
            with Relay(segpendo.pendo.url, track_secret=keys.track_secret, integration_key=keys.integration_key,
                       secret="s") as relay:
                segpendo.check(relay.url, secret="s")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*rejected x*: HTTP 403: x-pendo-integration-key (the Track Event shared secret): not the configured key*",
            "*rejected x*: HTTP 401: x-pendo-integration-key*required*",
        ]
    )


def test_check_sends_the_test_keys_where_the_wire_format_needs_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.segpendo(profile="classic", count=40)
        def test_segmentio(segpendo):
            # the classic destination posts to /data/segmentio/<api key>: the fake Pendo server is the system here
            report = segpendo.check(segpendo.pendo.url, via="segmentio")
            assert segpendo.delivery.acknowledged == 40 and report.conforms

        @pytest.mark.segpendo(count=30)
        def test_tracking_api(segpendo):
            segpendo.verify(segpendo.segment.url, via="tracking-api")
            assert segpendo.delivery.ok and len(segpendo.segment.events()) == 30
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_stored_reports_hold_every_difference(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RELAY)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("relay", [("properties-dropped",)], indirect=True)
        def test_bad(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--segpendo-limit", "2", "--segpendo-report", "r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  ... and * more differences (the JSON report lists them all)"])
    data = json.loads((pytester.path / "r.json").read_text())
    [report] = data["tests"][0]["reports"]
    changed = report["summary"]["changed"]
    assert changed > 2 and len([d for d in report["differences"] if d["class"] == "changed"]) == changed
    assert len([d for d in data["differences"] if d["class"] == "changed"]) == changed
    assert data["config"]["limit"] == 2 and data["settings"] == data["config"]
    assert "track_secret" not in data["config"], "the report does not hold the keys"
