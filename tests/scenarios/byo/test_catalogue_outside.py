"""Each scenario declares how it judges a consumer seen from outside; crash aims real kills."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from scenarios import catalogue
from scenarios.catalogue.crash import Crash
from scenarios.catalogue.poison import Poison
from scenarios.catalogue.visibility_overrun import VisibilityOverrun
from scenarios.cli import cli
from scenarios.judging.expectations import AIMED_KILL, SurvivedPoison
from scenarios.judging.facts import Call
from scenarios.running.faults import SignalWhileProcessing
from scenarios.running.outside import UNAIMED, KillBetweenEffectAndDelete
from scenarios.running.scenario import Status
from scenarios.settings import RunSettings
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit


def test_scenario_list_says_how_each_scenario_treats_a_plugged_in_consumer() -> None:
    out = CliRunner().invoke(cli, ["list", "--json"])
    rows = {r["name"]: r["plugged_in"] for r in json.loads(out.output)}
    assert set(rows) == set(catalogue.names())
    assert all(r["applies"] for r in rows.values())
    assert rows["happy"]["how"] == "as it is"
    assert "between effect and delete" in rows["crash"]["how"]
    assert rows["kill-mid-run"]["how"].endswith("local target only (the pass-through)")
    table = CliRunner().invoke(cli, ["list"], env={"COLUMNS": "250"})
    assert "your consumer" in table.output


def test_crash_from_outside_is_real_kills_not_chaos_knobs() -> None:
    crash = Crash()
    [phase] = crash.outside_phases(crash.knobs(RunSettings()))
    kill, aimed = phase.faults
    assert isinstance(kill, SignalWhileProcessing) and kill.signal == signal.SIGKILL
    assert isinstance(aimed, KillBetweenEffectAndDelete) and aimed.slot == 1
    assert not any(f.overrides() for f in phase.faults)  # no CRASH_* knob
    env = phase.consumers[0].settings.to_env()
    assert "CRASH_RATE" not in env and env["SLEEP_MIN_SECONDS"] == "0.2"
    assert {e.name for e in phase.expect} >= {
        "phenomenon: a kill between the effect and the delete was redelivered",
        "phenomenon: a dead consumer was replaced",
    }
    # the kit's own consumer still gets the chaos knobs
    [kit] = crash.phases(crash.knobs(RunSettings()))
    assert any(f.overrides() for f in kit.faults)


def test_visibility_overrun_from_outside_is_one_phase_of_slow_work() -> None:
    scenario = VisibilityOverrun()
    k = scenario.knobs(RunSettings())
    [phase] = scenario.outside_phases(k)
    slow, fast = phase.consumers
    assert phase.name == "overrun" and not phase.faults
    assert slow.settings.sleep_min_seconds == slow.settings.sleep_max_seconds == k.slow_seconds
    assert k.slow_seconds > k.visibility_timeout and fast.after_received == 1
    assert [p.name for p in scenario.phases(k)] == ["heartbeat-off", "heartbeat-on"]


def test_poison_checks_the_consumers_survived() -> None:
    [phase] = Poison().phases(Poison().knobs(RunSettings()))
    assert any(isinstance(e, SurvivedPoison) for e in phase.expect)


class Slot:
    slot, consumer_id, running = 1, "consumer-1-2", True


class View:
    """What KillBetweenEffectAndDelete sees of a phase: the pass-through's hold, the signals."""

    def __init__(self, *, passthrough: bool = True) -> None:
        self.passthrough = passthrough
        self.armed: list[int] = []
        self.held = False
        self.signals: list[int] = []

    def slot(self, index: int) -> Any:
        return Slot() if index == 1 else None

    def hold_next_delete(self, handle: Any, *, after: int = 0) -> bool:
        self.armed.append(after)
        return self.passthrough

    def delete_held(self, handle: Any) -> bool:
        return self.held

    def signal(self, handle: Any, sig: int) -> None:
        self.signals.append(sig)

    def held_calls(self, handle: Any) -> list[Call]:
        return [
            Call(1.0, 1, "DeleteMessage", None, ("s7",), "stall", "consumer-1-2", ("m7",)),
            Call(1.0, 1, "DeleteMessage", None, ("s8",), "stall", "someone-else", ("m8",)),
        ]


def test_the_kill_is_aimed_at_a_held_delete() -> None:
    fault, view = KillBetweenEffectAndDelete(slot=1, after=3), cast(Any, View())
    # WHEN the phase starts THEN the slot's next delete after 3 is held, and nothing fires yet
    assert not fault.due(view) and view.armed == [3]
    assert not fault.due(view) and view.armed == [3]  # armed once
    view.held = True
    assert fault.due(view)
    record = fault.fire(view)
    assert view.signals == [signal.SIGKILL]
    assert (record.kind, record.signal, record.consumer_id) == (
        AIMED_KILL,
        "SIGKILL",
        Slot.consumer_id,
    )
    assert record.message_ids == ("m7",)  # the held delete of the killed consumer only


def test_without_a_pass_through_the_kill_is_not_aimed_and_says_so() -> None:
    fault, view = KillBetweenEffectAndDelete(slot=1), cast(Any, View(passthrough=False))
    assert fault.due(view)  # fires at once rather than block the phase
    record = fault.fire(view)
    assert record.kind == UNAIMED and view.signals == []
    assert "not aimed" in record.detail


def test_a_scenario_that_must_see_receives_is_skipped_without_a_pass_through(
    tmp_path: Path,
) -> None:
    # GIVEN a target that records no calls, and a consumer seen only from outside
    settings = RunSettings(consumer_cmd="python examples/naive-python/consumer.py")
    target = InstantTarget()
    result = Crash().execute(target, settings, run_dir=tmp_path)
    # THEN crash (which times kills from receives) is skipped with the reason, nothing created
    assert result.status is Status.SKIPPED and target.last_stack is None
    assert result.reason and "pass-through" in result.reason
    assert result.target["consumer"] == '--consumer-cmd "python examples/naive-python/consumer.py"'
