"""Engine pieces that need no emulator: needs, runner choice, the catalogue, the clocks."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest
from moto import mock_aws

from core import capabilities as cap
from core.errors import ConfigError, InfrastructureError
from core.stack import StackHandle, StackSpec
from scenarios import catalogue
from scenarios.model import (
    ConsumerGroup,
    ConsumerSettings,
    Need,
    Phase,
    RestartPolicy,
    Traffic,
)
from scenarios.reporting import document
from scenarios.runners import docker_image, resolve_runner
from scenarios.runners.base import ConsumerHandle
from scenarios.running import phase as engine
from scenarios.running.scenario import Scenario, resolve_needs
from scenarios.settings import Knobs, RunSettings
from scenarios.targets.base import Target
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit


def test_needs_missing_without_a_shim_skip_and_with_a_shim_run_shimmed():
    needs = (Need(cap.SQS_DLQ), Need(cap.SQS_MOVE_TASK, shim="manual redrive"))
    assert resolve_needs(needs, None) == ([], {})  # unknown: assume everything
    assert resolve_needs(needs, frozenset({cap.SQS_DLQ})) == (
        [],
        {cap.SQS_MOVE_TASK: "manual redrive"},
    )
    assert resolve_needs(needs, frozenset()) == (
        [cap.SQS_DLQ],
        {cap.SQS_MOVE_TASK: "manual redrive"},
    )


class BareTarget(Target):
    """A target that supports nothing: any use beyond describing it is a test failure."""

    name = "bare"

    def capabilities(self) -> frozenset[str]:
        return frozenset()

    def provision(self, spec: StackSpec) -> StackHandle:
        raise AssertionError("a skipped scenario must not provision")

    def start_consumers(
        self,
        n: int,
        settings: ConsumerSettings,
        *,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
    ) -> list[ConsumerHandle]:
        raise AssertionError("a skipped scenario must not start consumers")

    def signal(self, handle: ConsumerHandle, sig: int) -> None:
        raise AssertionError("a skipped scenario must not signal consumers")

    def consumer_events(self, handle: ConsumerHandle | None = None) -> list[dict[str, Any]]:
        raise AssertionError("a skipped scenario must not read consumer events")

    def stop_consumers(self, timeout: float = 10.0, *, settled: bool = False) -> None:
        raise AssertionError("a skipped scenario must not stop consumers")

    def client(self, service: str) -> Any:
        raise AssertionError("a skipped scenario must not call AWS")

    def teardown(self) -> None:
        raise AssertionError("a skipped scenario has nothing to tear down")

    def describe(self) -> dict[str, Any]:
        return {"target": "bare"}


def test_a_scenario_whose_needs_are_missing_is_skipped_with_the_reason(tmp_path):
    result = catalogue.get("poison").execute(BareTarget(), RunSettings(), run_dir=tmp_path)
    assert result.status == "skipped"
    assert cap.SQS_DLQ in (result.reason or "")
    assert result.shims == {cap.SQS_MOVE_TASK: "manual DLQ redrive (receive, send, delete)"}


def test_runner_choice(monkeypatch):
    import scenarios.runners as docker_runner

    assert resolve_runner("process")[0] == "process"
    with pytest.raises(ConfigError):
        resolve_runner("k8s")
    monkeypatch.setattr(
        docker_runner, "docker_runner_available", lambda image: (False, "no engine")
    )
    assert resolve_runner("auto") == ("process", "no docker runner: no engine")
    with pytest.raises(InfrastructureError, match="no engine"):
        resolve_runner("docker")
    monkeypatch.setattr(docker_runner, "docker_runner_available", lambda image: (True, image))
    name, why = resolve_runner("auto", image_tag="abc")
    assert name == "docker" and "sqs-kit-consumer:abc" in why
    assert docker_image(None) == "sqs-kit-consumer:local"
    assert docker_image("registry/x:1") == "registry/x:1"


def test_every_scenario_plans_with_its_defaults_and_with_overrides():
    for name in catalogue.names():
        scenario = catalogue.get(name)
        for settings in (RunSettings(), RunSettings(count=3, consumers=2, seed=1)):
            phases = scenario.phases(scenario.knobs(settings))
            assert phases and all(p.consumers for p in phases)
    with pytest.raises(ConfigError, match="unknown scenario"):
        catalogue.resolve(["happy", "nope"])
    assert [s.name for s in catalogue.resolve(["all"])] == catalogue.names()


def test_consumer_group_description():
    group = ConsumerGroup(
        1,
        ConsumerSettings(sleep_min_seconds=4, sleep_max_seconds=4, message_limit=1),
        start_after_s=1.0,
        after_received=1,
        label="slow",
    )
    assert group.describe() == "1 slow (work 4 s, starts after 1 s and 1 receive(s))"


# -- the settle clock starts at the traffic, not before provisioning -----------------------------


class ShiftedClock:
    """The engine's clock, which a slow provision() moves forward by ``offset`` seconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class OnePhase(Scenario):
    name = "one-phase"
    summary = "five messages, one consumer"

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase(
                "only",
                Traffic(count=5, seed=1),
                (ConsumerGroup(1, ConsumerSettings.from_knobs(k)),),
                timeout_s=_PHASE_TIMEOUT_S,
            )
        ]


_PHASE_TIMEOUT_S = 30.0
_APPLY_S = 3600.0  # an hour-long "terraform apply", on the engine's clock


def test_provisioning_time_is_neither_settle_time_nor_deadline_time(monkeypatch, tmp_path):
    clock = ShiftedClock()
    monkeypatch.setattr(engine, "time", clock)

    def slow_apply(spec: StackSpec) -> None:
        clock.offset += _APPLY_S

    with mock_aws():
        target = InstantTarget(on_provision=slow_apply)
        result = OnePhase().execute(target, RunSettings(), run_dir=tmp_path)

    (phase,) = result.phases
    facts = phase.facts
    # THEN the phase did not time out: the 30 s deadline started after the hour-long apply
    assert not facts.timed_out
    settled = next(c for c in phase.verdict.checks if c.name == "settled before the deadline")
    assert settled.passed, settled.detail
    took = float(settled.detail.removeprefix("settled in ").removesuffix(" s"))
    assert took < _PHASE_TIMEOUT_S  # an hour of provisioning is not in "settled in"
    # AND the clock starts at the traffic, after provisioning, which is reported on its own
    assert facts.started_at - result.started_at >= _APPLY_S
    assert phase.provision_s >= _APPLY_S
    assert facts.settled_at is not None and facts.started_at <= facts.settled_at <= facts.ended_at
    data = document.build(result)
    assert data["phases"][0]["provision_s"] >= _APPLY_S
    assert data["phases"][0]["duration_s"] < _PHASE_TIMEOUT_S
    assert result.status == "passed", [c for c in result.checks if not c.passed]
    assert target.torn_down == 1


def test_the_report_has_target_fields_known_only_after_provisioning(tmp_path):
    with mock_aws():
        target = InstantTarget()
        assert "last_stack" not in target.describe()  # what execute() saw at the start
        result = OnePhase().execute(target, RunSettings(), run_dir=tmp_path)
    (phase,) = result.phases
    assert result.target["last_stack"] == phase.stack_prefix
    assert result.target["target"] == "instant"
    assert document.build(result)["target_info"]["last_stack"] == phase.stack_prefix


# -- consumers left to finish, leftovers read at the end, a slow system skipped --------------------


class PacedTarget(InstantTarget):
    """InstantTarget whose consumer handles at most ``per_poll`` messages each time it is polled.

    A group whose settings carry ``message_limit`` exits by itself ``exit_after_s`` after it
    started, as a consumer with a MESSAGE_LIMIT does once its work is done.
    """

    def __init__(self, *, per_poll: int | None, exit_after_s: float = 0.5) -> None:
        super().__init__()
        self.per_poll = per_poll
        self.exit_after_s = exit_after_s
        self.running_at_stop: list[str] = []

    def start_consumers(self, n, settings, *, restart=RestartPolicy.ON_FAILURE):
        handles = super().start_consumers(n, settings, restart=restart)
        for h in handles:
            self.events.append(
                {"event": "consumer.started", "consumer_id": h.consumer_id, "ts": _iso(time.time())}
            )
        return handles

    def consumer_events(self, handle=None):
        now = time.time()
        for h in self.handles:
            if (
                h.running
                and h.settings.message_limit
                and now - h.current.started_at > self.exit_after_s
            ):
                h.current.exit_code, h.current.ended_at = 0, now
        return super().consumer_events(handle)

    def _drain(self, consumer_id: str, queue_url: str) -> None:
        if self.per_poll is None:
            return super()._drain(consumer_id, queue_url)
        if not self.per_poll:
            return  # a consumer that is up and never takes a message
        sqs = self.client("sqs")
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=self.per_poll)
        for m in got.get("Messages", []):
            mid = str(json.loads(m["Body"])["id"])
            self.events.append(
                {"event": "message.completed", "consumer_id": consumer_id, "message_id": mid}
            )
            self._record(mid, consumer_id)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def stop_consumers(self, timeout: float = 10.0, *, settled: bool = False) -> None:
        self.running_at_stop += [h.consumer_id for h in self.handles if h.running]
        super().stop_consumers(timeout, settled=settled)


def _iso(t: float) -> str:
    return document._iso(t)


class SlowAndFast(Scenario):
    name = "slow-and-fast"
    summary = "a slow consumer left to finish next to a fast one"

    def phases(self, k: Knobs) -> Sequence[Phase]:
        fast = ConsumerSettings.from_knobs(k)
        return [
            Phase(
                "only",
                Traffic(count=3, seed=1),
                (
                    ConsumerGroup(1, fast, label="fast"),
                    ConsumerGroup(1, fast.with_(message_limit=1), label="slow", let_finish_s=30),
                ),
                timeout_s=30,
            )
        ]


def test_a_group_left_to_finish_exits_by_itself_before_the_engine_stops_it(tmp_path):
    with mock_aws():
        target = PacedTarget(per_poll=None, exit_after_s=1.0)
        result = SlowAndFast().execute(target, RunSettings(), run_dir=tmp_path)
    assert result.status == "passed", [c for c in result.checks if not c.passed]
    slow = target.handles[1]
    # THEN the slow consumer exited on its own (exit 0, no signal), after the run had settled
    assert slow.current.exit_code == 0 and not slow.current.signals_sent
    assert slow.consumer_id not in target.running_at_stop
    assert target.handles[0].consumer_id in target.running_at_stop  # the fast one was stopped


class Backlog(Scenario):
    name = "backlog"
    summary = "a backlog against consumers that make no progress, or crawl"

    def __init__(self, count: int, timeout_s: float) -> None:
        self.count, self.timeout_s = count, timeout_s

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase(
                "only",
                Traffic(count=self.count, seed=1),
                (ConsumerGroup(1, ConsumerSettings.from_knobs(k)),),
                visibility_timeout=1,
                timeout_s=self.timeout_s,
            )
        ]


def test_messages_still_queued_at_the_deadline_are_unfinished_never_lost(tmp_path):
    # GIVEN consumers that never finish anything, and a 1 s deadline
    with mock_aws():
        result = Backlog(5, 1.0).execute(PacedTarget(per_poll=0), RunSettings(), run_dir=tmp_path)
    (phase,) = result.phases
    facts = phase.facts
    # THEN the five are read back from the queue: unfinished, and nothing is called lost
    assert facts.timed_out and facts.too_slow is None
    assert len(facts.unfinished) == 5 and facts.lost == frozenset()
    checks = {c.name: c for c in result.checks}
    assert checks["no message lost"].passed
    assert not checks["nothing left unfinished"].passed
    assert result.status == "failed"  # it stopped draining: a real failure, not a slow system
    assert document.build(result)["counts"]["unfinished"] == 5


def test_only_a_settled_phase_stops_its_consumers_with_the_settled_stop(tmp_path):
    # GIVEN a phase that settles, and one whose consumers never finish before the deadline
    with mock_aws():
        settles = PacedTarget(per_poll=None)
        Backlog(3, 30.0).execute(settles, RunSettings(), run_dir=tmp_path / "a")
        stuck = PacedTarget(per_poll=0)
        Backlog(3, 1.0).execute(stuck, RunSettings(), run_dir=tmp_path / "b")
    # THEN the first phase's consumers got the settled stop (the queue read empty just
    # before), the timed-out one's a plain drain; teardown's stops are always plain ones
    assert settles.stops[0] is True
    assert stuck.stops[0] is False
    assert not any(settles.stops[1:]) and not any(stuck.stops[1:])


def test_a_system_too_slow_for_the_count_is_skipped_with_the_measured_rate(tmp_path):
    # GIVEN a consumer that handles one message per poll (~10/s) and 150 of them, 1 s deadline
    with mock_aws():
        result = Backlog(150, 1.0).execute(PacedTarget(per_poll=1), RunSettings(), run_dir=tmp_path)
    (phase,) = result.phases
    # THEN the phase stops as too slow, and the scenario is skipped with the reason
    assert phase.facts.too_slow and "msg/s" in phase.facts.too_slow
    assert result.status == "skipped", [c for c in result.checks if not c.passed]
    assert "too slow for this scenario at this count" in (result.reason or "")
    assert phase.facts.lost == frozenset() and phase.facts.unfinished


def test_a_fault_aimed_at_one_group_reaches_only_that_group(tmp_path):
    # GIVEN visibility-overrun's heartbeat-off phase: LongSleep for the "slow" group only
    from scenarios.running.live import LiveRun

    scenario = catalogue.get("visibility-overrun")
    phase = scenario.phases(scenario.knobs(RunSettings()))[0]
    with mock_aws():
        target = InstantTarget()
        stack = target.provision(engine.PhaseExecution.spec_for("visibility-overrun", phase))
        run = engine.PhaseExecution(
            "visibility-overrun", phase, target, RunSettings(), tmp_path, None, {}
        )
        live = LiveRun(target, stack, {})
        for group in phase.consumers:
            run.start_group(live, group)
        target.teardown()
    slow, fast = (live.groups[g.label][0].settings for g in phase.consumers)
    # THEN the slow consumer's work overruns, the fast one's does not
    assert slow.long_sleep_seconds == scenario.defaults.slow_seconds > phase.visibility_timeout
    assert slow.long_sleep_every == 1
    assert fast.long_sleep_seconds is None
    assert phase.consumers[0].let_finish_s > slow.long_sleep_seconds


class OneGroup(Scenario):
    name = "one-group"
    summary = "consumers that stop by themselves"

    def __init__(self, settings: ConsumerSettings, timeout_s: float) -> None:
        self.settings, self.timeout_s = settings, timeout_s

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase(
                "only",
                Traffic(count=3, seed=1),
                (ConsumerGroup(1, self.settings, restart=RestartPolicy.NEVER),),
                timeout_s=self.timeout_s,
            )
        ]


def test_when_every_consumer_has_exited_for_good_the_phase_ends_at_once(tmp_path):
    # GIVEN one consumer that exits (MESSAGE_LIMIT) after 0.5 s without taking a message, and a
    # 60 s deadline
    with mock_aws():
        result = OneGroup(ConsumerSettings(message_limit=1), 60.0).execute(
            PacedTarget(per_poll=0, exit_after_s=0.5), RunSettings(), run_dir=tmp_path
        )
    # THEN the phase ends for that reason, not at its deadline: nothing more can happen
    (phase,) = result.phases
    assert phase.facts.timed_out and len(phase.facts.unfinished) == 3
    settled = next(c for c in result.checks if c.name == "settled before the deadline")
    assert "every consumer exited, and none will be restarted" in settled.detail
    assert result.status == "failed"
