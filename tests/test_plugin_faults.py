"""The plugin on production's bad days, run with ``pytester``: ``segpendo.check`` runs under seeded Pendo faults and
Segment re-deliveries by default; the marker (``faults=``), the option and ini (``--segpendo-faults``), the call
(``faults=``) and the fakes' options fixture set them; losses and duplicates are caught; a check that cannot pass
stops early and says so first; the fake's clock is the traffic's (conservatively, for traffic a test sends itself);
reproduce lines hold what reruns the test."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import json
import pytest
from werkzeug.wrappers import Response
from pytest_segpendo.relay import Relay


class AcksThenLoses(Relay):
    def _forward(self, events):
        answer = super()._forward(events)
        if answer.status_code >= 500:
            return Response(json.dumps({"ok": True}), status=200, content_type="application/json")
        return answer


class Forgetful(Relay):
    def _seen(self, event):
        return False


class StrictOnRefusal(Forgetful):
    def _forward(self, events):
        answer = super()._forward(events)
        if json.loads(answer.get_data()).get("refused"):
            return Response("{}", status=503, content_type="application/json")
        return answer


class EightDaysBack(Relay):
    def calls(self, event):
        out = super().calls(event)
        for _path, _key, body in out:
            if isinstance(body, dict) and isinstance(body.get("timestamp"), int):
                body["timestamp"] -= 8 * 86_400_000
        return out


KINDS = {
    "correct": Relay,
    "acks-then-loses": AcksThenLoses,
    "forgetful": Forgetful,
    "strict": StrictOnRefusal,
    "eight-days-back": EightDaysBack,
}


@pytest.fixture
def relay(segpendo, request):
    kind, *bugs = getattr(request, "param", ("correct",))
    keys = segpendo.keys
    track, integration = keys.track_secret, keys.integration_key
    if kind == "strict":
        track, integration = integration, track  # swapped
    with KINDS[kind](segpendo.pendo.url, track_secret=track, integration_key=integration, bugs=bugs) as r:
        yield r
"""


@pytest.fixture
def relays(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    return pytester


def test_checks_run_on_a_bad_day_and_the_correct_relay_passes(relays: pytest.Pytester) -> None:
    relays.makepyfile(
        """
        import pytest

        def test_default(segpendo, relay):
            segpendo.check(relay.url)
            assert {"track", "metadata"} <= {i["route"] for i in segpendo.result.report.injected}
            assert segpendo.delivery.redelivered >= 1 and segpendo.result.faults
            assert segpendo.pendo.faults.as_json() == []  # the check's rules are gone

        @pytest.mark.segpendo(faults=False)
        def test_marker_off(segpendo, relay):
            segpendo.check(relay.url)
            assert segpendo.result.report.injected == [] and segpendo.delivery.redelivered == 0

        @pytest.mark.segpendo(faults=[{"route": "track", "status": 503, "nth": 1, "count": 3}])
        def test_marker_rules(segpendo, relay):
            segpendo.check(relay.url)
            assert [(i["route"], i["status"]) for i in segpendo.result.report.injected] == [("track", 503)] * 3

        def test_call_wins(segpendo, relay):
            segpendo.check(relay.url, faults=False)
            assert segpendo.result.report.injected == []

        def test_a_function_is_not_faulted_by_default(segpendo):
            segpendo.check(lambda event: None, events=[])
            assert segpendo.result.faults == []
        """
    )
    relays.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


@pytest.mark.parametrize("given", ["option", "ini"])
def test_the_option_and_ini_turn_them_off_or_set_the_rules(relays: pytest.Pytester, given: str) -> None:
    relays.makepyfile(
        """
        def test_it(segpendo, relay, segpendo_config):
            segpendo.check(relay.url)
            injected = segpendo.result.report.injected
            if segpendo_config.faults is False:
                assert injected == [] and segpendo.delivery.redelivered == 0
            else:
                assert [(i["route"], i["status"]) for i in injected] == [("metadata", 500)]
        """
    )
    rules = '[{"route": "metadata", "status": 500, "nth": 2, "count": 1}]'
    (relays.path / "rules.json").write_text(rules)
    for value in ("off", "rules.json", rules):
        if given == "ini":
            relays.makeini(f"[pytest]\nsegpendo_faults = {value}\n")
            result = relays.runpytest("-p", "no:cacheprovider")
        else:
            result = relays.runpytest("-p", "no:cacheprovider", f"--segpendo-faults={value}")
        result.assert_outcomes(passed=1)
    bad = relays.runpytest("-p", "no:cacheprovider", '--segpendo-faults=[{"route": "nowhere"}]')
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--segpendo-faults: faults[[]0[]].route: unknown route 'nowhere'*"])


def test_the_options_fixtures_rules_apply_beside_the_checks(relays: pytest.Pytester) -> None:
    relays.makeconftest(
        CONFTEST
        + """
@pytest.fixture(scope="session")
def segpendo_pendo_options(segpendo_pendo_options):
    return {**segpendo_pendo_options, "faults": [{"route": "track", "status": 429, "retry_after": 1, "nth": 1}]}
"""
    )
    relays.makepyfile(
        """
        import pytest

        @pytest.mark.segpendo(faults=False)
        def test_it(segpendo, relay):
            segpendo.check(relay.url)
            assert [(i["route"], i["status"]) for i in segpendo.result.report.injected] == [("track", 429)]
            assert len(segpendo.pendo.faults.as_json()) == 1
        """
    )
    relays.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_bad_marker_value_is_named(relays: pytest.Pytester) -> None:
    relays.makepyfile(
        """
        import pytest

        @pytest.mark.segpendo(faults="sometimes")
        def test_word(segpendo):
            pass

        @pytest.mark.segpendo(faults=[{"route": "track", "status": 200}])
        def test_status(segpendo):
            pass
        """
    )
    result = relays.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.segpendo: faults= takes True, False or a list of fault rules (got str)",
            "*@pytest.mark.segpendo: faults: faults[[]0[]].status: must be an HTTP error status, 400-599 (got 200)",
        ]
    )


@pytest.mark.parametrize(
    ("kind", "first_lines"),
    [
        ("acks-then-loses", ["*acknowledged to Segment, then lost*", "*cause: acknowledged to Segment, lost after*"]),
        ("forgetful", ["*duplicated track *received 1 more time than expected"]),
    ],
)
def test_losses_and_duplicates_are_caught_by_the_default_check(
    relays: pytest.Pytester, kind: str, first_lines: list[str]
) -> None:
    relays.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("relay", [("{kind}",)], indirect=True)
        def test_relay(segpendo, relay):
            segpendo.check(relay.url)
        """
    )
    result = relays.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(first_lines)


def test_a_check_that_cannot_pass_stops_early_and_says_so_first(relays: pytest.Pytester) -> None:
    relays.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("relay", [("strict",)], indirect=True)
        def test_swapped(segpendo, relay):
            segpendo.check(relay.url)
        """
    )
    result = relays.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_swapped[[]relay0[]] _*",
            "segpendo: stopped early: every Pendo request refused (the last 20): 403 * on /data/track*",
            "segpendo: Pendo did not get what was expected *",
        ],
        consecutive=True,
    )


def test_traffic_a_test_sends_itself_is_judged_by_its_earliest_event(relays: pytest.Pytester) -> None:
    relays.makepyfile(
        """
        import pytest
        from pytest_segpendo.delivery import deliver
        from pytest_segpendo.events import timestamp_ms

        DAY = 86_400_000

        @pytest.mark.segpendo(count=2000, seed=3)
        def test_more_than_a_week_of_traffic(segpendo, relay):
            events = segpendo.events  # generated: the fake's clock is now its first event's time
            stamps = [timestamp_ms(e["timestamp"]) for e in events]
            assert max(stamps) - min(stamps) > 7 * DAY
            assert segpendo.clock.now_ms() == min(stamps) and segpendo.pendo.clock is segpendo.clock
            deliver(events, relay.url, concurrency=4)  # the test sends it itself, in one go
            segpendo.check()  # sut=None: judge what arrived
            assert segpendo.pendo.dropped == []

        @pytest.mark.segpendo(count=300, seed=3)
        @pytest.mark.parametrize("relay", [("correct", "seconds-timestamps"), ("eight-days-back",)], indirect=True)
        def test_wrong_timestamps_are_dropped_by_pendo(segpendo, relay):
            report = segpendo.verify(relay.url)
            assert report.of("dropped") and {d.rule for d in report.of("dropped")} == {"timestamp-too-old"}
            assert "dropped by Pendo" in "\\n".join(report.format().splitlines()[:4])

        @pytest.mark.parametrize("start", ["2019-03-01T00:00:00Z", "2035-07-01T00:00:00Z"])
        def test_traffic_of_any_date_passes(segpendo, relay, start):
            from pytest_segpendo.traffic import generate

            segpendo.check(relay.url, events=generate(200, seed=1, start=start))
            assert segpendo.pendo.dropped == []
        """
    )
    relays.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_reproduce_names_the_traffic_profile_view_faults_and_keys(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_it(segpendo):
            again = segpendo.reproduce()
            name = "test_reproduce_names_the_traffic_profile_view_faults_and_keys.py::test_it"
            assert again.startswith(f"pytest '{name}' ")
            assert " --segpendo-seed 7 --segpendo-count 50 --segpendo-mix saas=1,edge=1 " in again
            assert " --segpendo-profile track-api --segpendo-view stream --segpendo-faults off " in again
            assert again.endswith('--segpendo-track-secret "$SEGPENDO_TRACK_SECRET"')
            assert "not-printed" not in again
        """
    )
    pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--segpendo-seed=7",
        "--segpendo-count=50",
        "--segpendo-mix=saas=1,edge=1",
        "--segpendo-profile=track-api",
        "--segpendo-view=stream",
        "--segpendo-faults=off",
        "--segpendo-track-secret=not-printed",
    ).assert_outcomes(passed=1)


def test_keys_come_from_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGPENDO_INTEGRATION_KEY", "from-the-environment")
    pytester.makepyfile(
        """
        def test_it(segpendo):
            assert segpendo.keys.integration_key == "from-the-environment"
            assert segpendo.pendo.config.integration_key == "from-the-environment"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
