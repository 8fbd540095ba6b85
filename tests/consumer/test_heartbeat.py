"""The heartbeat: what counts as one, what is retried, and what stops it for good (moto)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumer import Message, Worker
from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_ERROR,
    EV_FENCED,
    EV_HEARTBEAT,
    EV_HEARTBEAT_CEILING,
    EV_HEARTBEAT_FAILED,
    EV_STALE_RECEIPT,
)
from tests.consumer.conftest import Stack, run_worker, wait_until

pytestmark = pytest.mark.unit


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FlakyVisibility:
    """An SQS client whose first ``failures`` ChangeMessageVisibility calls raise ``code``."""

    def __init__(self, real: Any, code: str, failures: int) -> None:
        self._real = real
        self.code = code
        self.failures = failures
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise client_error(self.code, "ChangeMessageVisibility")
        return self._real.change_message_visibility(**kwargs)


class Until:
    """A handler that works until ``done(events)`` holds (or WAIT_S passes), then returns."""

    def __init__(self, events: Any, done: Callable[[Any], bool]) -> None:
        self.events = events
        self.done = done
        self.finished_in_time = threading.Event()

    def __call__(self, _: Message) -> None:
        if wait_until(lambda: self.done(self.events)):
            self.finished_in_time.set()


def for_a_while_after(seen: Callable[[Any], bool], seconds: float = 2.0) -> Callable[[Any], bool]:
    """Done once ``seen`` has held for ``seconds`` (several heartbeat intervals) more."""
    since: list[float] = []

    def done(events: Any) -> bool:
        if not since and seen(events):
            since.append(time.monotonic())
        return bool(since) and time.monotonic() - since[0] >= seconds

    return done


def beats_after_failure(events: Any) -> bool:
    names = events.names()
    return (
        EV_HEARTBEAT_FAILED in names and EV_HEARTBEAT in names[names.index(EV_HEARTBEAT_FAILED) :]
    )


def run(stack: Stack, handler: Any, *, sqs: Any = None, store: Any = None, **config: Any) -> Worker:
    settings = {"message_limit": 1, "heartbeat_seconds": 0.5, **config}
    return run_worker(
        Worker(
            stack.config(**settings),
            handler,
            sqs=sqs or stack.sqs,
            dynamodb=stack.ddb,
            store=store,
        ),
        timeout=60,
    )


def test_a_failed_lease_extension_is_not_a_heartbeat_and_is_retried(
    make_stack: Any, events: Any
) -> None:
    # GIVEN a store whose first lease extension fails with a DynamoDB error
    stack = make_stack(visibility=5)
    stack.send({"id": "lease-flaky"})
    store = stack.store("worker-a")
    real_extend = store.extend
    calls = [0]

    def flaky_extend(claim: Any, lease: float) -> bool:
        calls[0] += 1
        if calls[0] == 1:
            raise client_error("ProvisionedThroughputExceededException", "UpdateItem")
        return real_extend(claim, lease)

    store.extend = flaky_extend  # type: ignore[method-assign]
    handler = Until(events, beats_after_failure)
    # WHEN a message is worked on across several beats
    worker = run(stack, handler, store=store)
    # THEN the failure is its own event, not a heartbeat, and the next tick beats again
    assert handler.finished_in_time.is_set()
    (failed,) = events.named(EV_HEARTBEAT_FAILED)
    assert failed["operation"] == "lease" and "ProvisionedThroughput" in failed["error"]
    names = events.names()
    assert EV_HEARTBEAT not in names[: names.index(EV_HEARTBEAT_FAILED)]
    assert worker.counters.heartbeats == len(events.named(EV_HEARTBEAT))
    assert worker.counters.heartbeat_failures == 1
    assert len(events.named(EV_COMPLETED)) == 1


def test_a_failed_store_call_of_any_kind_does_not_kill_the_heartbeat(
    make_stack: Any, events: Any
) -> None:
    # GIVEN a store whose first lease extension raises something that is not an AWS error
    stack = make_stack(visibility=5)
    stack.send({"id": "lease-bug"})
    store = stack.store("worker-a")
    real_extend = store.extend
    calls = [0]

    def broken_extend(claim: Any, lease: float) -> bool:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("connection pool is closed")
        return real_extend(claim, lease)

    store.extend = broken_extend  # type: ignore[method-assign]
    handler = Until(events, beats_after_failure)
    run(stack, handler, store=store)
    # THEN it is a failed beat, retried, and the heartbeat thread lives on
    assert handler.finished_in_time.is_set()
    (failed,) = events.named(EV_HEARTBEAT_FAILED)
    assert "connection pool is closed" in failed["error"]
    assert events.named(EV_CONSUMER_ERROR) == []


def test_a_failed_visibility_change_is_retried_on_the_next_tick(
    make_stack: Any, events: Any
) -> None:
    # GIVEN an SQS whose first two ChangeMessageVisibility calls fail with a 5xx
    stack = make_stack(visibility=5)
    stack.send({"id": "cmv-flaky"})
    sqs = FlakyVisibility(stack.sqs, "InternalError", failures=2)
    handler = Until(events, lambda ev: len(ev.named(EV_HEARTBEAT)) >= 2)
    worker = run(stack, handler, sqs=sqs)
    # THEN both failures are logged as such, and the heartbeat carries on
    assert handler.finished_in_time.is_set()
    failed = events.named(EV_HEARTBEAT_FAILED)
    assert [f["operation"] for f in failed] == ["change_visibility"] * 2
    assert worker.counters.heartbeats >= 2
    assert len(events.named(EV_COMPLETED)) == 1


def test_a_stale_receipt_stops_the_heartbeat_for_good(make_stack: Any, events: Any) -> None:
    # GIVEN an SQS that no longer honours the message's receipt handle
    stack = make_stack(visibility=5)
    stack.send({"id": "cmv-stale"})
    sqs = FlakyVisibility(stack.sqs, "ReceiptHandleIsInvalid", failures=100)
    # WHEN the handler works for several more heartbeat intervals after the first beat
    handler = Until(events, for_a_while_after(lambda ev: bool(ev.named(EV_STALE_RECEIPT))))
    run(stack, handler, sqs=sqs)
    # THEN the heartbeat tried exactly once, and said why it stopped
    assert handler.finished_in_time.is_set()
    assert sqs.calls == 1
    (stale,) = events.named(EV_STALE_RECEIPT)
    assert stale["operation"] == "heartbeat"
    assert events.named(EV_HEARTBEAT) == events.named(EV_HEARTBEAT_FAILED) == []


def test_a_fenced_lease_stops_the_heartbeat_for_good(make_stack: Any, events: Any) -> None:
    # GIVEN a store that finds the lease taken over on the first extension
    stack = make_stack(visibility=5)
    stack.send({"id": "fenced-beat"})
    store = stack.store("worker-a")
    calls = [0]

    def taken_over(claim: Any, lease: float) -> bool:
        calls[0] += 1
        return False

    store.extend = taken_over  # type: ignore[method-assign]
    handler = Until(events, for_a_while_after(lambda ev: bool(ev.named(EV_FENCED))))
    run(stack, handler, store=store)
    # THEN it beat once, was fenced, and stopped
    assert handler.finished_in_time.is_set()
    assert calls[0] == 1
    assert events.named(EV_FENCED)[0]["during"] == "heartbeat"
    assert events.named(EV_HEARTBEAT) == []


def test_heartbeat_stops_at_its_ceiling(make_stack: Any, events: Any) -> None:
    # GIVEN a 3 s visibility, a beat every 0.5 s, and a 6 s ceiling counted from the receive
    stack = make_stack(visibility=3)
    stack.send({"id": "long"})
    started: list[float] = []

    def work(message: Message) -> None:
        started.append(time.time())
        assert wait_until(lambda: bool(events.named(EV_HEARTBEAT_CEILING)))

    run(stack, work, heartbeat_max_seconds=6)
    # THEN it beat before the ceiling, never past it, and not after it
    beats = events.named(EV_HEARTBEAT)
    assert beats, "no heartbeat before the ceiling"
    names = events.names()
    (ceiling_at,) = [i for i, n in enumerate(names) if n == EV_HEARTBEAT_CEILING]
    assert EV_HEARTBEAT not in names[ceiling_at:]
    # the message was received before the handler started, so this bounds receive + ceiling
    assert all(b["lease_expires_at"] <= started[0] + 6 for b in beats)
    assert len(events.named(EV_COMPLETED)) == 1


class BuggyVisibility(FlakyVisibility):
    """The first ChangeMessageVisibility raises something that is not an AWS error at all."""

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug in the client")
        return self._real.change_message_visibility(**kwargs)


def test_an_unexpected_exception_in_a_beat_does_not_end_the_heartbeat_thread(
    make_stack: Any, events: Any
) -> None:
    stack = make_stack(visibility=5)
    stack.send({"id": "beat-bug"})
    sqs = BuggyVisibility(stack.sqs, "unused", failures=0)
    handler = Until(events, lambda ev: bool(ev.named(EV_HEARTBEAT)))
    run(stack, handler, sqs=sqs)
    # THEN the bug is logged with its trace, and the next tick beats
    assert handler.finished_in_time.is_set()
    (error,) = events.named(EV_CONSUMER_ERROR)
    assert error["message_id"] == "beat-bug"
    assert len(events.named(EV_COMPLETED)) == 1
