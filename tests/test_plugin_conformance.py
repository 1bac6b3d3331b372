"""The plugin's conformance side, run with ``pytester``: the fakes' fixtures, ``segpendo.check``, the marker,
every option, the hooks, the assertion message, the reports (terminal, JSON, JUnit) and pytest-xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

RELAY_FIXTURE = """
import pytest
from pytest_segpendo.relay import Relay

@pytest.fixture
def relay(segpendo, request):
    bugs = getattr(request, "param", ())
    keys = segpendo.keys  # the keys the session's fake Pendo server requires (random unless configured)
    with Relay(
        segpendo.pendo.url,
        track_secret=keys.track_secret,
        integration_key=keys.integration_key,
        secret="s3cret",
        bugs=bugs,
    ) as r:
        yield r
"""


@pytest.fixture
def relay_conftest(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(RELAY_FIXTURE)
    return pytester


def test_a_correct_relay_passes_and_the_summary_shows_its_counts(relay_conftest: pytest.Pytester) -> None:
    relay_conftest.makepyfile(
        """
        def test_relay(segpendo, relay):
            report = segpendo.check(relay.url, secret="s3cret")
            assert report.conforms and report.matched == report.expected_records > 20
            assert segpendo.delivery.acknowledged == len(segpendo.events) == 200
        """
    )
    result = relay_conftest.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- segpendo conformance -*",
            "conforms test_a_correct_relay_passes_and_the_summary_shows_its_counts.py::test_relay  "
            "profile=track-api+metadata view=state  matched *",
        ]
    )


def test_a_broken_relay_fails_with_the_report_and_how_to_reproduce(relay_conftest: pytest.Pytester) -> None:
    relay_conftest.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("relay", [("account-lost",)], indirect=True)
        def test_relay(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")
        """
    )
    result = relay_conftest.runpytest("-p", "no:cacheprovider", "--segpendo-seed", "4", "--segpendo-limit", "2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "segpendo: Pendo did not get what was expected (profile track-api+metadata, state view): * changed; * "
            "expected records matched",
            "  root causes (what explains the rest):",
            "    faults injected by the test x*",
            "  fields that differ most:",
            '    track accountId: * records (e.g. expected "*", got null)',
            '  changed track "*" (visitor "*", account "*"*):',
            '      accountId: expected "*", got null',
            "  ... and * more differences (the JSON report lists them all)",
            "summary: missing 0; unexpected 0; changed * (track *); duplicated 0; rejected 0; *",
            "reproduce: pytest "
            "'test_a_broken_relay_fails_with_the_report_and_how_to_reproduce.py::test_relay[[]relay0[]]' "
            "--segpendo-seed 4 --segpendo-count 200 --segpendo-scenario saas --segpendo-profile track-api+metadata",
        ]
    )
    result.stdout.fnmatch_lines(
        ["DIFFERS  *::test_relay[[]relay0]  profile=track-api+metadata view=state  matched *; changed *; ignored *"]
    )
    assert "Traceback" not in result.stdout.str(), "the failure is the report, not a traceback into the plugin"


def test_the_marker_chooses_profile_traffic_and_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_segpendo import generate

        @pytest.mark.segpendo(profile="track-api", scenario="edge", seed=9, count=40, settings={"anonymousTracks": "anonymousId"}, view="stream")
        def test_marked(segpendo, segpendo_traffic):
            assert segpendo.profile == "track-api"
            assert segpendo.events == generate(40, seed=9, scenario="edge") == segpendo_traffic()
            expectation = segpendo.expect()
            assert expectation.profile == "track-api" and expectation.settings["anonymousTracks"] == "anonymousId"
            report = segpendo.verify()   # nothing sent: every expected track is missing
            assert report.view == "stream" and report.summary["missing"] == len(expectation.stream) > 0

        @pytest.mark.segpendo(seed=1)
        class TestClass:
            @pytest.mark.segpendo(seed=2)
            def test_closest_marker_wins(self, segpendo):
                again = segpendo.reproduce()
                assert segpendo.seed == 2 and "test_closest_marker_wins' --segpendo-count 200 " in again
                assert "--segpendo-seed" not in again  # the marker sets it

            def test_class_marker(self, segpendo):
                assert segpendo.seed == 1

        @pytest.mark.segpendo(colour="red")
        def test_unknown_argument(segpendo):
            pass

        @pytest.mark.segpendo(profile="webactions")
        def test_unknown_profile(segpendo):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.segpendo: unknown argument 'colour' (use profile, scenario, seed, count, settings, mix, "
            "locale, view, mapping, keys, faults)",
            "*@pytest.mark.segpendo: unknown profile 'webactions' (choose from web-actions, classic, track-api, "
            "track-api+metadata)",
        ]
    )


def test_options_and_ini_reach_the_check(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        segpendo_profile = track-api
        segpendo_count = 30
        segpendo_settle = 2.5
        segpendo_max_age_days = 0
        """
    )
    pytester.makepyfile(
        """
        def test_config(segpendo, segpendo_config):
            s = segpendo_config
            assert (s.profile, s.count, s.settle, s.max_age_days, s.view, s.limit, s.timestamp_tolerance) == (
                "track-api", 30, 2.5, 0, "stream", 3, 250)
            assert segpendo.pendo.config.max_age_days is None
            report = segpendo.verify()
            assert report.view == "stream" and report.limit == 3 and report.profile == "track-api"
        """
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--segpendo-view",
        "stream",
        "--segpendo-limit",
        "3",
        "--segpendo-timestamp-tolerance",
        "250",
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--segpendo-profile", "webactions"],
            "*--segpendo-profile: unknown profile 'webactions' (choose from web-actions, classic, track-api, "
            "track-api+metadata)*",
        ),
        (["--segpendo-view", "merged"], "*--segpendo-view: unknown view 'merged' (choose from state, stream)*"),
        (["--segpendo-limit", "-1"], "*--segpendo-limit: must not be negative (got -1)*"),
        (["--segpendo-settle", "-2"], "*--segpendo-settle: must not be negative (got -2.0)*"),
    ],
)
def test_bad_option_values_stop_the_run(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_tolerance_tolerates_and_timestamp_differences_show_without_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json, urllib.request
        import pytest

        def send(pendo, records, shift):
            for r in records:
                body = {"type": "track", **{k: r[k] for k in ("event", "visitorId", "accountId", "properties", "context")}, "timestamp": r["timestamp"] + shift}
                req = urllib.request.Request(pendo.url + "/data/track", json.dumps(body).encode(), {"x-pendo-integration-key": pendo.config.track_secret, "content-type": "application/json"})
                urllib.request.urlopen(req).read()

        @pytest.mark.segpendo(profile="track-api", count=60)
        def test_shifted(segpendo):
            expected = segpendo.expect()
            send(segpendo.pendo, expected.stream, 400)
            segpendo.check()
        """
    )
    assert pytester.runpytest("-p", "no:cacheprovider", "--segpendo-timestamp-tolerance", "500").ret == 0
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["    track timestamp: * records (e.g. expected *, got *)"])


def test_each_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        RELAY_FIXTURE
        + """
from pytest_segpendo.verify import Matcher

REPORTS = []

def pytest_segpendo_adjust_expected(records, profile, request):
    if request.node.originalname == "test_adjusted":
        records.append({"kind": "visitor", "id": "added-by-hook", "metadata": {}})

def pytest_segpendo_normalise_observed(records, profile, request):
    if request.node.originalname == "test_normalised":
        for r in records:
            if r["kind"] == "track":
                r["event"] = r["event"].title()

def pytest_segpendo_add_matchers(matchers, profile, request):
    if request.node.originalname == "test_matched":
        matchers.append(Matcher("track.event", lambda e, a: e.lower() == a.lower(), "case-insensitive names"))

def pytest_segpendo_report(report, nodeid, config):
    REPORTS.append((nodeid.split("::")[-1], report.conforms, report.summary["missing"]))
    with open("reports.json", "w") as f:
        import json
        json.dump(REPORTS, f)
"""
    )
    pytester.makepyfile(
        """
        import pytest

        def test_adjusted(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")

        @pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
        def test_normalised(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")

        @pytest.mark.parametrize("relay", [("event-name-case",)], indirect=True)
        def test_matched(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(
        ['  missing visitor "added-by-hook": expected {}, not received', "FAILED *::test_adjusted*"]
    )
    reports = json.loads((pytester.path / "reports.json").read_text())
    assert sorted(reports) == [  # in any order: the suite may run in a random order (pytest-randomly)
        ["test_adjusted", False, 1],
        ["test_matched[relay0]", True, 0],
        ["test_normalised[relay0]", True, 0],
    ]


def test_the_assertion_message_of_observed_equals_expected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.segpendo(profile="track-api", count=30)
        def test_nothing_sent(segpendo):
            assert segpendo.observed() == segpendo.expect()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       assert observed Pendo records == expected: Pendo did not get what was expected (profile "
            "track-api, stream view): * missing; 0 of * expected records matched",
            'E           missing track "*" (visitor "*"*): expected *, not received',
        ]
    )


def test_an_error_inside_a_fake_fails_the_test_that_caused_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request, urllib.error

        def test_causes_it(segpendo_pendo):
            def boom(request, args, entry):
                raise RuntimeError("handler exploded")
            segpendo_pendo.app.handlers["track"] = boom
            try:
                urllib.request.urlopen(urllib.request.Request(segpendo_pendo.url + "/data/track", b"{}", {"x-pendo-integration-key": segpendo_pendo.config.track_secret}))
            except urllib.error.HTTPError as exc:
                assert exc.code == 500

        def test_next_one_is_clean(segpendo_pendo):
            assert segpendo_pendo.records() == [] and segpendo_pendo.requests() == []
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*HandlerError: the fake server failed while handling a request:*",
            "*RuntimeError: handler exploded*",
            "FAILED *::test_causes_it*",
        ]
    )


def test_fakes_are_shared_by_the_session_and_reset_for_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json, time, urllib.request
        URLS = set()

        def post_track(pendo):
            body = {"type": "track", "event": "E", "visitorId": "u", "timestamp": int(time.time() * 1000), "context": {}}
            urllib.request.urlopen(urllib.request.Request(pendo.url + "/data/track", json.dumps(body).encode(), {"x-pendo-integration-key": pendo.config.track_secret})).read()

        def test_one(segpendo_pendo, segpendo_segment):
            URLS.add((segpendo_pendo.url, segpendo_segment.url))
            post_track(segpendo_pendo)
            assert len(segpendo_pendo.records()) == 1

        def test_two(segpendo_pendo, segpendo_segment):
            URLS.add((segpendo_pendo.url, segpendo_segment.url))
            assert segpendo_pendo.records() == [] and segpendo_segment.events() == []
            assert len(URLS) == 1
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_real_segment_client_through_the_fake_segment_api(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from segment.analytics import Client
        import pytest

        @pytest.mark.segpendo(profile="track-api+metadata")
        def test_app(segpendo):
            client = Client(segpendo.keys.write_key, host=segpendo.segment.url, sync_mode=True)
            client.identify("u1", {"plan": "pro"})
            client.track("u1", "Report Created", {"widgets": 3})
            expectation = segpendo.expect(segpendo.segment.events())
            assert [r["kind"] for r in expectation.stream] == ["visitor", "track"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_json_report_file_and_junit_properties(relay_conftest: pytest.Pytester) -> None:
    relay_conftest.makepyfile(
        """
        import pytest

        def test_good(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")

        @pytest.mark.parametrize("relay", [("properties-dropped",)], indirect=True)
        def test_bad(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")
        """
    )
    result = relay_conftest.runpytest(
        "-p",
        "no:cacheprovider",
        "--segpendo-report",
        "out/segpendo.json",
        "--junitxml",
        "junit.xml",
        "--segpendo-limit",
        "5",
    )
    result.assert_outcomes(passed=1, failed=1)
    data = json.loads((relay_conftest.path / "out" / "segpendo.json").read_text())
    assert data["conforms"] is False
    assert data["summary"]["changed"] > 0 and data["summary"]["missing"] == 0
    assert [t["nodeid"].split("::")[-1] for t in data["tests"]] == ["test_good", "test_bad[relay0]"]
    assert [t["outcome"] for t in data["tests"]] == ["passed", "failed"]
    assert all(d["test"].endswith("test_bad[relay0]") for d in data["differences"] if d["class"] == "changed")
    bad = data["tests"][1]["reports"][0]
    failing = sum(bad["summary"][k] for k in ("missing", "unexpected", "changed", "duplicated", "rejected"))
    assert bad["seed"] == 0 and len(bad["differences"]) >= failing > 5, "every difference, not the first K"
    paths = {f["path"] for d in bad["differences"] if d["class"] == "changed" for f in d["fields"]}
    assert paths and all(p == "properties" or p.startswith("properties.") for p in paths), paths
    tree = ET.parse(relay_conftest.path / "junit.xml")
    props = {
        (case.get("name"), p.get("name")): p.get("value")
        for case in tree.iter("testcase")
        for p in case.iter("property")
    }
    assert props[("test_good", "segpendo_conforms")] == "true"
    assert props[("test_bad[relay0]", "segpendo_conforms")] == "false"
    assert int(props[("test_bad[relay0]", "segpendo_changed")]) == bad["summary"]["changed"]


def test_under_xdist_each_worker_has_its_own_fakes_and_the_controller_reports(relay_conftest: pytest.Pytester) -> None:
    relay_conftest.makepyfile(
        """
        import os, pytest

        @pytest.mark.parametrize("n", range(6))
        def test_relay(segpendo, relay, n):
            with open(f"url-{n}.txt", "w") as f:
                f.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + " " + segpendo.pendo.url)
            segpendo.check(relay.url, secret="s3cret")
        """
    )
    result = relay_conftest.runpytest("-p", "no:cacheprovider", "-n", "2", "--segpendo-report", "r.json")
    result.assert_outcomes(passed=6)
    seen = dict(p.read_text().split() for p in relay_conftest.path.glob("url-*.txt"))
    assert set(seen) == {"gw0", "gw1"} and len(set(seen.values())) == 2, seen
    result.stdout.fnmatch_lines(["*- segpendo conformance -*"])
    assert result.stdout.str().count("conforms test_under_xdist") == 6
    data = json.loads((relay_conftest.path / "r.json").read_text())
    assert len(data["tests"]) == 6 and data["conforms"] is True


def test_a_report_a_passing_test_only_looked_at_does_not_fail_the_run(relay_conftest: pytest.Pytester) -> None:
    relay_conftest.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("relay", [("double-send",)], indirect=True)
        def test_the_bug_is_caught(segpendo, relay):
            report = segpendo.verify(sut=relay.url, secret="s3cret")
            assert report.summary["duplicated"] > 0     # the test judges the report itself

        def test_good(segpendo, relay):
            segpendo.check(relay.url, secret="s3cret")
        """
    )
    result = relay_conftest.runpytest("-p", "no:cacheprovider", "--segpendo-report", "r.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "differs  *::test_the_bug_is_caught[[]relay0]  *duplicated *  (verify(): the test judged this report "
            "itself)",
            "conforms *::test_good  *",
        ]
    )
    data = json.loads((relay_conftest.path / "r.json").read_text())
    assert data["conforms"] is True and data["summary"]["duplicated"] == 0
    assert [r["asserted"] for t in data["tests"] for r in t["reports"]] == [False, True]
