"""The soak's plan, its rolling SIGKILLs, its kill phenomenon and its usage arithmetic."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from click.testing import CliRunner

from scenarios.judging.facts import FaultRecord
from scenarios.settings import Knobs, RunSettings
from scenarios.soak import KillInTurn, KillsRecovered, Soak
from scenarios.soak.__main__ import soak as soak_command
from scenarios.soak.scenario import (
    PoisonDeadLetteredInTime,
    crash_after_for,
    duplicate_fraction,
    kills_for,
)
from scenarios.soak.usage import Usage, cpu_s, status_kb
from tests.scenarios.factories import T0, clean_facts, event, poison_facts

pytestmark = pytest.mark.unit


# -- the plan --------------------------------------------------------------------------------------


def test_the_default_soak_is_10k_messages_on_4_consumers_with_every_kind_of_chaos():
    scenario = Soak()
    k = scenario.knobs(RunSettings())
    [phase] = scenario.phases(k)
    t = phase.traffic
    assert k.count == 10_000 and phase.consumers[0].n == 4
    assert t.count == 10_000 and len(t.shape) == 10 and t.during_run
    assert len(t.poison) == 20 and len(set(t.poison)) == 20  # each one distinct
    assert t.duplicate_ids > 0
    labels = " ".join(f.label for f in phase.faults)
    assert "CRASH_AFTER_RECEIVE=800" in labels and "CRASH_RATE=0.002" in labels
    kills = [f for f in phase.faults if isinstance(f, KillInTurn)]
    assert len(kills) == kills_for(10_000) == 10
    # spread over the run, each one further on
    marks = [f.at_completed for f in kills]
    assert marks == sorted(marks) and marks[0] > 0 and marks[-1] < 10_000
    assert scenario.calibration and "maxReceiveCount" in scenario.calibration
    # a dead consumer's lease (the visibility timeout) is outlasted by 4 release backoffs
    backoff = phase.consumers[0].settings.release_backoff_seconds
    assert backoff is not None and (k.max_receive_count - 1) * backoff > k.visibility_timeout


def test_a_small_soak_still_gets_its_kills_and_its_count():
    scenario = Soak()
    k = scenario.knobs(RunSettings(count=7, consumers=3))
    [phase] = scenario.phases(k)
    assert phase.traffic.count == 7 and sum(s.count for s in phase.traffic.shape) == 7
    assert len([f for f in phase.faults if isinstance(f, KillInTurn)]) == kills_for(7) == 3


# -- the rolling SIGKILL ---------------------------------------------------------------------------


@dataclass
class Slot:
    slot: int
    consumer_id: str
    running: bool = True


@dataclass
class View:
    """The LiveView a fault sees: slots, what each holds, how much is done."""

    slots: list[Slot]
    holding: dict[str, list[str]] = field(default_factory=dict)
    done: int = 0
    signals: list[tuple[str, int]] = field(default_factory=list)
    sqs: Any = None
    stack: Any = None

    def completed_by(self, handle):
        return 0

    def dlq_depth(self):
        return 0

    def shimmed(self, capability):
        return False

    def add_shim(self, capability, why):
        pass

    def slot(self, index):
        return self.slots[index] if 0 <= index < len(self.slots) else None

    def in_flight(self, handle, *, max_age_s=None):
        return self.holding.get(handle.consumer_id, [])

    def completed_count(self):
        return self.done

    def signal(self, handle, sig):
        self.signals.append((handle.consumer_id, sig))

    # the pass-through's holds: the soak's kit consumers run without one
    def hold_next_delete(self, handle, *, after=0):
        return False

    def delete_held(self, handle):
        return False

    def held_calls(self, handle):
        return []


def test_a_kill_waits_for_its_progress_mark_and_a_consumer_mid_message():
    view = View([Slot(0, "c-0-1"), Slot(1, "c-1-2"), Slot(2, "c-2-3")])
    kill = KillInTurn(nth=1, at_completed=100)
    view.done = 99
    view.holding = {"c-1-2": ["m1"]}
    assert not kill.due(view)  # not that far yet
    view.done = 100
    view.holding = {}
    assert not kill.due(view)  # nobody is mid-message
    view.holding = {"c-0-1": ["m0"], "c-1-2": ["m1"]}
    assert kill.due(view)
    record = kill.fire(view)
    # THEN slot nth=1 first, SIGKILL, with what it held
    assert view.signals == [("c-1-2", signal.SIGKILL)]
    assert record.signal == "SIGKILL" and record.message_ids == ("m1",)


def test_the_series_never_kills_a_process_twice_and_moves_on_to_the_next_slot():
    killed: set[str] = set()
    view = View([Slot(0, "c-0-1"), Slot(1, "c-1-2")], holding={"c-0-1": ["a"], "c-1-2": ["b"]})
    first = KillInTurn(nth=0, at_completed=0, killed=killed)
    second = KillInTurn(nth=0, at_completed=0, killed=killed)
    first.fire(view)
    # the process in slot 0 is still listed as running (its exit not seen yet): skipped
    assert second.due(view)
    second.fire(view)
    assert [c for c, _ in view.signals] == ["c-0-1", "c-1-2"]
    third = KillInTurn(nth=0, at_completed=0, killed=killed)
    assert not third.due(view)  # both killed, no replacement up yet
    view.slots[0] = Slot(0, "c-0-3")  # the replacement
    view.holding["c-0-3"] = ["c"]
    assert third.due(view)


# -- the kill phenomenon -------------------------------------------------------------------------


def kill(*ids: str) -> FaultRecord:
    return FaultRecord("signal", T0 + 1, signal="SIGKILL", consumer_id="c-0-1", message_ids=ids)


def test_kills_recovered_passes_when_every_held_message_completed_once():
    facts = clean_facts(3, faults=(kill("m0", "m1"), kill("m2")))
    result = KillsRecovered(planned=2).check(facts)
    assert result.passed, result.detail
    assert "2 SIGKILL(s) hit 3 message(s) in hand" in result.detail


@pytest.mark.parametrize(
    ("faults", "planned", "why"),
    [
        ((kill("m0"),), 2, "only 1 of 2 SIGKILLs fired"),
        ((kill(),), 1, "a SIGKILL hit a consumer that held nothing"),
    ],
)
def test_kills_recovered_fails_a_soak_that_did_not_show_it(faults, planned, why):
    result = KillsRecovered(planned=planned).check(clean_facts(3, faults=faults))
    assert not result.passed and why in result.detail


def test_kills_recovered_fails_when_a_held_message_completed_twice():
    facts = clean_facts(3, faults=(kill("m1"),))
    doubled = (*facts.completed_items, {"message_id": "m1", "owner": "c-1-2", "attempts": 2})
    result = KillsRecovered(planned=1).check(replace(facts, completed_items=doubled))
    assert not result.passed and "not completed exactly once: m1" in result.detail


# -- usage ----------------------------------------------------------------------------------------


def test_this_process_can_be_measured():
    rss, peak = status_kb(os.getpid()) or (0, 0)
    assert 0 < rss <= peak
    assert (cpu_s(os.getpid()) or 0) > 0
    assert status_kb(2**22 + 12345) is None  # no such process


def test_the_bound_is_named_from_the_cpu_seconds():
    busy = Usage(wall_s=100, machine_busy_s=190, engine_cpu_s=10, emulator_cpu_s=40, cores=2)
    busy.consumer_cpu_s = {"c-0-1": 60.0}
    assert busy.bound().startswith("the machine's CPU: its 2 cores were busy")
    assert busy.others_cpu_s == 80
    emulator = Usage(wall_s=100, machine_busy_s=120, emulator_cpu_s=90, cores=2)
    assert emulator.bound().startswith("the emulator")
    idle = Usage(wall_s=100, machine_busy_s=30, emulator_cpu_s=10, cores=2)
    assert idle.bound().startswith("not CPU")
    report = busy.to_dict()
    assert report["consumers"]["cpu_s"] == 60.0 and report["machine"]["others_cpu_s"] == 80.0
    assert report["emulator"]["measured"] is False  # no memory sample was taken


# -- the command ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--consumers", "2"], "--consumers"),
        (["--count", "0"], "--count"),
        (["--count", "100001"], "--count"),
        (["--rate", "-1"], "--rate"),
        (["--emulator", "nope"], "--emulator"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_flag(args, flag):
    out = CliRunner().invoke(soak_command, args)
    assert out.exit_code == 2 and flag in out.output


def test_external_without_an_endpoint_names_what_is_missing(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    out = CliRunner().invoke(soak_command, ["--emulator", "external"])
    assert out.exit_code == 2
    assert "--emulator external needs --endpoint URL" in out.output


def test_knob_defaults_are_valid_knobs():
    assert isinstance(Soak.defaults, Knobs) and Soak.defaults.poison == 20


# -- poison under chaos ------------------------------------------------------------------------


def test_poison_that_reached_max_receives_passes_and_a_missing_log_line_is_tolerated():
    assert PoisonDeadLetteredInTime().check(poison_facts(5)).passed
    # a consumer killed holding it never logged receive 3: still dead-lettered in time
    facts = poison_facts(5)
    events = tuple(e for e in facts.events if e.get("receive_count") != 3)
    result = PoisonDeadLetteredInTime().check(replace(facts, events=events))
    assert result.passed and "1 logged receive 5" in result.detail


def test_poison_received_past_max_fails_and_once_more_is_the_emulators_race():
    facts = poison_facts(5)
    sixth = event("message.received", T0 + 9, sqs_message_id="sqs-p", receive_count=6)
    seventh = event("message.received", T0 + 10, sqs_message_id="sqs-p", receive_count=7)
    once_more = PoisonDeadLetteredInTime().check(replace(facts, events=(*facts.events, sixth)))
    assert once_more.passed and "1 received once more (sqs-p)" in once_more.detail
    events = (*facts.events, sixth, seventh)
    result = PoisonDeadLetteredInTime().check(replace(facts, events=events))
    assert not result.passed and "received past 6 (sqs-p: 7)" in result.detail


def test_poison_that_never_reached_max_anywhere_fails_and_no_poison_fails():
    result = PoisonDeadLetteredInTime().check(poison_facts(5, receives=4))
    assert not result.passed and "no poison message logged its receive number 5" in result.detail
    assert not PoisonDeadLetteredInTime().check(clean_facts(2)).passed


def test_a_short_soak_crashes_sooner_and_a_long_one_keeps_the_knob():
    assert crash_after_for(10_000, 800) == 800
    assert crash_after_for(300, 800) == 60
    assert crash_after_for(20, 800) == 20
    assert crash_after_for(300, 0) == 0  # the knob off stays off


def test_a_short_soak_still_repeats_ids_and_a_long_one_repeats_1_percent():
    assert duplicate_fraction(10_000) == 0.01
    assert 0.05 < duplicate_fraction(300) < 0.1
    assert duplicate_fraction(7) == 1.0
