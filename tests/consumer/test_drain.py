"""The drain: what is given back to the queue, and what never is while its handler runs (moto)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from consumer import Message, StopReason, Worker
from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_DRAINING,
    EV_CONSUMER_STOPPED,
    EV_LEFT_IN_FLIGHT,
    EV_RELEASED,
)
from tests.consumer.conftest import WAIT_S, Stack, wait_until

pytestmark = pytest.mark.unit


class Gate:
    """A handler that runs until the test opens the gate, and notes what it saw meanwhile."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()
        self.returned = threading.Event()
        self.calls = 0

    def __call__(self, _: Message) -> None:
        self.calls += 1
        self.started.set()
        self.gate.wait(WAIT_S)
        self.returned.set()


def test_drain_finishes_in_flight_work_within_the_timeout(stack: Stack, events: Any) -> None:
    # GIVEN a handler that is running when the drain starts
    stack.send({"id": "inflight"})
    handler = Gate()
    worker = Worker(
        stack.config(shutdown_timeout_seconds=WAIT_S), handler, sqs=stack.sqs, dynamodb=stack.ddb
    )
    worker.start()
    assert handler.started.wait(WAIT_S)
    # WHEN the worker drains and the handler returns within the shutdown timeout
    worker.stop()
    handler.gate.set()
    assert worker.join(WAIT_S)
    # THEN the message completed and was deleted, and every drain step was logged in order
    assert worker.stop_reason is StopReason.DRAIN and worker.exit_code == 0
    assert len(events.named(EV_COMPLETED)) == 1
    steps = [e["step"] for e in events.named(EV_CONSUMER_DRAINING)]
    assert steps == ["stop_receiving", "finish_in_flight", "release", "close"]
    assert events.names()[-1] == EV_CONSUMER_STOPPED
    assert stack.depth() == 0


def test_drain_never_releases_a_message_whose_handler_still_runs(stack: Stack, events: Any) -> None:
    # GIVEN a handler that is still running when the shutdown deadline passes
    stack.send({"id": "too-slow"})
    handler = Gate()
    worker = Worker(
        stack.config(shutdown_timeout_seconds=0.3), handler, sqs=stack.sqs, dynamodb=stack.ddb
    )
    worker.start()
    assert handler.started.wait(WAIT_S)
    # WHEN the worker drains
    worker.stop()
    assert worker.join(WAIT_S)
    # THEN while the handler still runs, the message stays in flight: not released, its lease
    # not ended, so no other consumer can run it at the same time
    assert not handler.returned.is_set()
    assert worker.stop_reason is StopReason.DRAIN and worker.exit_code == 0
    assert events.named(EV_RELEASED) == []
    assert stack.visible() == 0
    record: Any = stack.store("x").status_item("too-slow")
    assert record.lease_expires_at > time.time()
    (left,) = events.named(EV_LEFT_IN_FLIGHT)
    assert left["message_id"] == "too-slow" and left["stage"] == "running"
    (release_step,) = [e for e in events.named(EV_CONSUMER_DRAINING) if e["step"] == "release"]
    assert (release_step["released"], release_step["left_in_flight"]) == (0, 1)
    assert EV_CONSUMER_STOPPED in events.names()
    # AND when the handler returns after the drain (a library host that lives on), its work is
    # recorded and the message deleted, never released
    handler.gate.set()
    assert wait_until(lambda: stack.depth() == 0)
    assert len(events.named(EV_COMPLETED)) == 1
    assert events.named(EV_RELEASED) == []


class BlockingReceive:
    """An SQS client whose first receive blocks until ``go`` is set (a long poll in progress)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.polling = threading.Event()
        self.go = threading.Event()
        self.first = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def receive_message(self, **kwargs: Any) -> Any:
        if self.first:
            self.first = False
            self.polling.set()
            self.go.wait(WAIT_S)
        return self._real.receive_message(**kwargs)


def test_what_a_long_poll_returns_during_the_drain_is_released_at_once(
    stack: Stack, events: Any
) -> None:
    # GIVEN a receive in progress when the drain starts
    sqs = BlockingReceive(stack.sqs)
    handler = Gate()
    worker = Worker(stack.config(shutdown_timeout_seconds=5), handler, sqs=sqs, dynamodb=stack.ddb)
    worker.start()
    assert sqs.polling.wait(WAIT_S)
    worker.stop()
    # WHEN the poll returns a message after the stop
    stack.send({"id": "late"})
    sqs.go.set()
    assert worker.join(WAIT_S)
    # THEN it is given back at once, unstarted
    assert handler.calls == 0
    (released,) = events.named(EV_RELEASED)
    assert released["reason"] == "draining" and released["visibility"] == 0
    assert stack.visible() == 1


def test_a_settled_stop_does_not_wait_for_the_idle_poll(stack: Stack, events: Any) -> None:
    # GIVEN a long poll in progress on an empty queue (it blocks until the test lets it go)
    sqs = BlockingReceive(stack.sqs)
    worker = Worker(stack.config(), Gate(), sqs=sqs, dynamodb=stack.ddb)
    worker.start()
    assert sqs.polling.wait(WAIT_S)
    try:
        # WHEN the engine stops it at the end of a settled phase
        worker.stop(abandon_poll=True)
        # THEN it drains and stops while the poll is still blocked
        assert worker.join(WAIT_S / 2)
        assert not sqs.go.is_set()
        assert worker.stop_reason is StopReason.DRAIN and worker.exit_code == 0
        steps = [e["step"] for e in events.named(EV_CONSUMER_DRAINING)]
        assert steps == ["abandon_poll", "stop_receiving", "finish_in_flight", "release", "close"]
    finally:
        sqs.go.set()


def test_a_plain_stop_still_waits_for_the_poll_in_progress(stack: Stack) -> None:
    sqs = BlockingReceive(stack.sqs)
    worker = Worker(stack.config(), Gate(), sqs=sqs, dynamodb=stack.ddb)
    worker.start()
    assert sqs.polling.wait(WAIT_S)
    worker.stop()
    assert not worker.join(0.5)  # the poll holds it
    sqs.go.set()
    assert worker.join(WAIT_S)


def test_what_an_abandoned_poll_brings_late_is_released_at_once(stack: Stack, events: Any) -> None:
    # GIVEN a settled stop that abandoned a poll in progress
    sqs = BlockingReceive(stack.sqs)
    handler = Gate()
    worker = Worker(stack.config(), handler, sqs=sqs, dynamodb=stack.ddb)
    worker.start()
    assert sqs.polling.wait(WAIT_S)
    worker.stop(abandon_poll=True)
    assert worker.join(WAIT_S)
    # WHEN the poll answers after all, with a message (the queue was not empty after all)
    stack.send({"id": "late"})
    sqs.go.set()
    # THEN the message goes back to the queue at once, unstarted
    assert wait_until(lambda: len(events.named(EV_RELEASED)) == 1)
    (released,) = events.named(EV_RELEASED)
    assert released["reason"] == "abandoned_poll" and released["visibility"] == 0
    assert handler.calls == 0
    assert wait_until(lambda: stack.visible() == 1)


def test_a_message_given_back_while_it_was_being_claimed_never_starts(
    stack: Stack, events: Any
) -> None:
    # GIVEN a claim that is slow to come back (a DynamoDB call in progress)
    stack.send({"id": "claiming"})
    store = stack.store("worker-a")
    real_begin = store.begin
    claiming, go = threading.Event(), threading.Event()

    def slow_begin(*args: Any, **kwargs: Any) -> Any:
        claiming.set()
        go.wait(WAIT_S)
        return real_begin(*args, **kwargs)

    store.begin = slow_begin  # type: ignore[method-assign]
    handler = Gate()
    worker = Worker(stack.config(shutdown_timeout_seconds=0.1), handler, sqs=stack.sqs, store=store)
    worker.start()
    assert claiming.wait(WAIT_S)
    # WHEN the drain's deadline passes before the claim returns
    worker.stop()
    assert wait_until(lambda: bool(events.named(EV_RELEASED)))
    go.set()
    assert worker.join(WAIT_S)
    # THEN the handler never ran, and the lease it won late was ended at once
    assert handler.calls == 0
    (released,) = events.named(EV_RELEASED)
    assert released["visibility"] == 0

    def lease_ended() -> bool:
        record = stack.store("x").status_item("claiming")
        return record is not None and record.lease_expires_at <= time.time()

    assert wait_until(lease_ended)
