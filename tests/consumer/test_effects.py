"""The effects table: one item per applied effect, keyed by the message id or per execution."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consumer import EffectsTable, Message, Worker, WorkerConfig
from consumer.chaos import AFTER_WORK, Chaos, CrashPlan, SimulatedWork
from consumer.contract import (
    EFFECT_IDEMPOTENT,
    EFFECT_NAIVE,
    EV_EFFECT_APPLIED,
    EV_EFFECT_SKIPPED,
    EV_HANDLER_STARTED,
    EV_TAKEOVER,
)
from consumer.errors import ConfigError
from tests.consumer.conftest import Stack, run_worker

pytestmark = pytest.mark.unit


def message(execution_id: str, attempt: int = 1, message_id: str = "m-1") -> Message:
    return Message(message_id, "sqs-1", {}, 1, 1, attempt=attempt, execution_id=execution_id)


def test_idempotent_mode_applies_an_effect_once_per_message(stack: Stack, events: Any) -> None:
    effects = EffectsTable(stack.ddb, stack.effects_table, consumer_id="c-1")
    # WHEN two executions of one message apply its effect
    assert effects.apply(message("exec-a")) is True
    assert effects.apply(message("exec-b", attempt=2)) is False
    # THEN there is one item, keyed by the message id, written by the first execution
    (item,) = stack.effects()
    assert (item["message_id"], item["effect_id"]) == ("m-1", "m-1")
    assert (item["execution_id"], item["attempt"], item["consumer_id"]) == ("exec-a", "1", "c-1")
    assert int(item["applied_at"]) > 1_600_000_000_000  # epoch ms
    (applied,) = events.named(EV_EFFECT_APPLIED)
    assert (applied["effect_id"], applied["mode"]) == ("m-1", EFFECT_IDEMPOTENT)
    (skipped,) = events.named(EV_EFFECT_SKIPPED)
    assert (skipped["execution_id"], skipped["applied_by"]) == ("exec-b", "exec-a")


def test_naive_mode_applies_an_effect_per_execution(stack: Stack, events: Any) -> None:
    effects = EffectsTable(stack.ddb, stack.effects_table, consumer_id="c-1", mode=EFFECT_NAIVE)
    assert effects.apply(message("exec-a")) is True
    assert effects.apply(message("exec-b", attempt=2)) is True
    assert [(i["effect_id"], i["attempt"]) for i in stack.effects()] == [
        ("exec-a", "1"),
        ("exec-b", "2"),
    ]
    assert len(events.named(EV_EFFECT_APPLIED)) == 2
    assert events.named(EV_EFFECT_SKIPPED) == []


def test_an_unknown_mode_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(
        ConfigError, match="'twice' is not allowed: choose one of idempotent, naive"
    ):
        EffectsTable(None, "t", consumer_id="c", mode="twice")


def test_effect_mode_is_validated_from_the_environment() -> None:
    env = {"QUEUE_URL": "http://q", "EFFECTS_TABLE": "fx", "EFFECT_MODE": "NAIVE"}
    config = WorkerConfig.from_env(env)
    assert (config.effects_table, config.effect_mode) == ("fx", EFFECT_NAIVE)
    assert WorkerConfig.from_env({"QUEUE_URL": "http://q"}).effect_mode == EFFECT_IDEMPOTENT
    with pytest.raises(ConfigError, match="EFFECT_MODE='once' is not allowed"):
        WorkerConfig.from_env({**env, "EFFECT_MODE": "once"})


class Crashed(BaseException):
    """Stands in for os._exit in-process."""


class CrashAfterWork(Chaos):
    """Crashes the first message after its work (and its effect), before it is recorded."""

    def plan(self, sequence: int) -> CrashPlan | None:
        return CrashPlan(AFTER_WORK, "test") if sequence == 1 else None


def _crash_then_retry(stack: Stack, mode: str) -> None:
    """Worker A applies the effect and crashes before recording it; worker B takes over."""
    stack.send(json.dumps({"id": "charge-1"}))

    def crash(_: int) -> None:
        raise Crashed

    first = stack.config(message_limit=1, effects_table=stack.effects_table, effect_mode=mode)
    run_worker(
        Worker(first, sqs=stack.sqs, dynamodb=stack.ddb, chaos=CrashAfterWork(first, exit=crash))
    )
    second = stack.config(
        message_limit=1,
        consumer_id="worker-b",
        wait_time_seconds=5,  # the redelivery comes when the 1 s visibility runs out
        effects_table=stack.effects_table,
        effect_mode=mode,
    )
    run_worker(Worker(second, sqs=stack.sqs, dynamodb=stack.ddb))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize(("mode", "applied"), [(EFFECT_IDEMPOTENT, 1), (EFFECT_NAIVE, 2)])
def test_the_default_handler_writes_its_effect_and_a_takeover_runs_it_again(
    make_stack: Any, events: Any, mode: str, applied: int
) -> None:
    # GIVEN a worker that crashed between its effect and its completion record
    stack = make_stack(visibility=1)
    _crash_then_retry(stack, mode)
    # THEN the message ran twice (the second time as a takeover)...
    assert [e["attempt"] for e in events.named(EV_HANDLER_STARTED)] == [1, 2]
    assert len(events.named(EV_TAKEOVER)) == 1
    # ...and its effect was applied once when keyed by the message id, twice when not
    assert len(stack.effects()) == applied
    assert len(events.named(EV_EFFECT_APPLIED)) == applied
    assert len(events.named(EV_EFFECT_SKIPPED)) == 2 - applied
    assert stack.depth() == 0


def test_without_an_effects_table_nothing_is_written(stack: Stack, events: Any) -> None:
    stack.send({"id": "quiet"})
    worker = run_worker(Worker(stack.config(message_limit=1), sqs=stack.sqs, dynamodb=stack.ddb))
    assert isinstance(worker.handler, SimulatedWork) and worker.handler.effects is None
    assert stack.effects() == []
    assert events.named(EV_EFFECT_APPLIED) == events.named(EV_EFFECT_SKIPPED) == []


def test_a_users_own_handler_is_never_replaced(stack: Stack) -> None:
    stack.send({"id": "mine"})
    seen: list[Message] = []
    config = stack.config(message_limit=1, effects_table=stack.effects_table)
    worker = run_worker(Worker(config, seen.append, sqs=stack.sqs, dynamodb=stack.ddb))
    assert worker.handler == seen.append and len(seen) == 1
    assert stack.effects() == []
