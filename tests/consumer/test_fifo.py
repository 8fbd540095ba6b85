"""The worker on FIFO queues: one message of a group at a time, in order, and a failure that
blocks only its own group.

moto in-process keeps a group's order and hands out nothing more of a group while one of its
messages is in flight, but it gives every message a random SequenceNumber and ignores
ReceiveRequestAttemptId. The tests that need a batch of an exact shape use ``ScriptedFifo``,
an SQS client that answers each receive from a script (the worker's SQS calls all go through
``QueueClient``, which wraps it).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from typing import Any

import pytest

from consumer import Message, StopReason, Worker, WorkerConfig
from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_STARTED,
    EV_GROUP_WAITING,
    EV_HANDLER_STARTED,
    EV_HEARTBEAT,
    EV_RELEASED,
    FIELD_BLOCKED_BY,
    FIELD_MESSAGE_GROUP_ID,
    FIELD_SEQUENCE_NUMBER,
    RELEASE_GROUP_BLOCKED,
)
from consumer.idempotency import MemoryStore
from consumer.message import body_hash
from tests.consumer.conftest import WAIT_S, Stack, run_worker, wait_until

pytestmark = pytest.mark.unit

FIFO_URL = "http://127.0.0.1:1/000000000000/orders.fifo"


def fifo_message(message_id: str, *, body: str | None = None, seq: int = 0) -> dict[str, Any]:
    """A received FIFO message whose group is the id's letter: ``a1`` is in group ``a``."""
    return {
        "MessageId": f"sqs-{message_id}",
        "ReceiptHandle": f"rh-{message_id}",
        "Body": json.dumps({"id": message_id}) if body is None else body,
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "MessageGroupId": message_id[0],
            "SequenceNumber": f"{10**19 + seq:020d}",
        },
    }


def batch(*ids: str) -> list[dict[str, Any]]:
    return [fifo_message(i, seq=n) for n, i in enumerate(ids)]


class ScriptedFifo:
    """A FIFO queue's SQS client: each receive answers with the next scripted batch, cut to
    ``MaxNumberOfMessages`` (the rest is answered next). It records every call."""

    def __init__(
        self, *batches: list[dict[str, Any]], visibility: int = 30, fifo_attribute: bool = True
    ) -> None:
        self.batches = deque(list(b) for b in batches)
        self.visibility = visibility
        self.fifo_attribute = fifo_attribute
        self.lock = threading.Lock()
        self.asked: list[int] = []  # MaxNumberOfMessages of every receive
        self.attribute_reads: list[list[str]] = []
        self.visibility_changes: list[tuple[str, int]] = []  # (receipt handle, seconds)
        self.deleted: list[str] = []
        self.on_delete: Any = None  # called with the handles, before the answer

    def get_queue_attributes(self, *, AttributeNames: list[str], **_: Any) -> dict[str, Any]:
        self.attribute_reads.append(list(AttributeNames))
        attrs = {"VisibilityTimeout": str(self.visibility)}
        if self.fifo_attribute:
            attrs["FifoQueue"] = "true"
        return {"Attributes": attrs}

    def receive_message(self, *, MaxNumberOfMessages: int, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.asked.append(MaxNumberOfMessages)
            if self.batches:
                answer = self.batches.popleft()
                if len(answer) > MaxNumberOfMessages:
                    self.batches.appendleft(answer[MaxNumberOfMessages:])
                return {"Messages": answer[:MaxNumberOfMessages]}
        time.sleep(0.01)  # an empty long poll, shortened: the worker must not spin
        return {}

    def change_message_visibility(
        self, *, ReceiptHandle: str, VisibilityTimeout: int, **_: Any
    ) -> dict[str, Any]:
        with self.lock:
            self.visibility_changes.append((ReceiptHandle, VisibilityTimeout))
        return {}

    def delete_message_batch(self, *, Entries: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        handles = [e["ReceiptHandle"] for e in Entries]
        if self.on_delete is not None:
            self.on_delete(handles)
        with self.lock:
            self.deleted += handles
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def changes_of(self, message_id: str) -> list[int]:
        with self.lock:
            return [s for h, s in self.visibility_changes if h == f"rh-{message_id}"]


def config(**overrides: Any) -> WorkerConfig:
    values: dict[str, Any] = {
        "queue_url": FIFO_URL,
        "wait_time_seconds": 0,
        "sleep_min_seconds": 0,
        "sleep_max_seconds": 0,
        "consumer_id": "worker-a",
        "release_backoff_seconds": 0,
        "shutdown_timeout_seconds": 5,
        "max_messages": 10,
        "concurrency": 4,
        "heartbeat_seconds": 10,
    }
    values.update(overrides)
    return WorkerConfig(**values)


class Recorder:
    """Notes every execution (id, and how many of its group ran at once), fails on demand."""

    def __init__(self, *, fail_first: set[str] | None = None) -> None:
        self.lock = threading.Lock()
        self.seen: list[str] = []
        self.messages: list[Message] = []
        self.active: Counter[str] = Counter()
        self.peak_in_group: Counter[str] = Counter()
        self.fail_first = set(fail_first or ())

    def enter(self, message: Message) -> None:
        group = message.message_group_id or ""
        with self.lock:
            self.seen.append(message.message_id)
            self.messages.append(message)
            self.active[group] += 1
            self.peak_in_group[group] = max(self.peak_in_group[group], self.active[group])

    def leave(self, message: Message) -> None:
        with self.lock:
            self.active[message.message_group_id or ""] -= 1

    def __call__(self, message: Message) -> None:
        self.enter(message)
        try:
            if message.message_id in self.fail_first:
                self.fail_first.discard(message.message_id)
                raise RuntimeError(f"{message.message_id} failed")
        finally:
            self.leave(message)

    def order(self, group: str) -> list[str]:
        with self.lock:
            return [i for i in self.seen if i.startswith(group)]


# -- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fifo_attribute"),
    [(FIFO_URL, False), ("http://127.0.0.1:1/000000000000/orders", True)],
    ids=["by-url", "by-fifo-queue-attribute"],
)
def test_a_fifo_queue_is_recognised_at_start(url: str, fifo_attribute: bool, events: Any) -> None:
    sqs = ScriptedFifo(fifo_attribute=fifo_attribute)
    worker = run_worker(Worker(config(queue_url=url, idle_timeout_seconds=0.1), sqs=sqs))
    assert worker.fifo
    (started,) = events.named(EV_CONSUMER_STARTED)
    assert started["fifo"] is True
    # one read at start; a .fifo URL needs no FifoQueue lookup
    (read,) = sqs.attribute_reads
    assert ("FifoQueue" in read) is (url != FIFO_URL)


def test_a_standard_queue_is_not_fifo(stack: Stack, events: Any) -> None:
    worker = run_worker(
        Worker(stack.config(idle_timeout_seconds=0.1), sqs=stack.sqs, dynamodb=stack.ddb)
    )
    assert not worker.fifo
    assert events.named(EV_CONSUMER_STARTED)[0]["fifo"] is False


# -- order within a group ------------------------------------------------------------------------


def test_events_and_messages_carry_the_group_and_sequence_number(
    make_stack: Any, events: Any
) -> None:
    stack = make_stack(fifo=True)
    for i in (1, 2):
        stack.send({"id": f"g{i}"}, group="g")
    handler = Recorder()
    run_worker(
        Worker(stack.config(message_limit=2), handler, sqs=stack.sqs, dynamodb=stack.ddb),
    )
    received = {m.message_id: m for m in handler.messages}
    assert [m.message_group_id for m in received.values()] == ["g", "g"]
    assert all((m.sequence_number or "").isdigit() for m in received.values())
    done = events.named(EV_COMPLETED)
    assert [(e["message_id"], e[FIELD_MESSAGE_GROUP_ID]) for e in done] == [
        ("g1", "g"),
        ("g2", "g"),
    ]
    assert [e[FIELD_SEQUENCE_NUMBER] for e in done] == [
        received["g1"].sequence_number,
        received["g2"].sequence_number,
    ]


@pytest.mark.usefixtures("serial_moto")
def test_a_failure_releases_the_group_s_later_messages_and_the_order_is_kept(
    make_stack: Any, events: Any
) -> None:
    # GIVEN a FIFO queue with group a (3 messages) and group b, and a handler whose first
    # execution of a1 fails; a heartbeat, so a receive may bring several messages of a group
    stack = make_stack(fifo=True, max_receive_count=5)
    for message_id in ("a1", "a2", "b1", "a3"):
        stack.send({"id": message_id}, group=message_id[0])
    handler = Recorder(fail_first={"a1"})
    run_worker(
        Worker(
            stack.config(
                idle_timeout_seconds=0.5, max_messages=10, concurrency=2, heartbeat_seconds=2
            ),
            handler,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN a's messages ran in order, a1 twice, and never two of them at once
    assert handler.order("a") == ["a1", "a1", "a2", "a3"]
    assert handler.order("b") == ["b1"]
    assert handler.peak_in_group["a"] == 1
    # AND what a1's failure held back was released for the group, naming a1, not handled
    blocked = [e for e in events.named(EV_RELEASED) if e["reason"] == RELEASE_GROUP_BLOCKED]
    assert blocked and {e[FIELD_BLOCKED_BY] for e in blocked} == {"a1"}
    assert {e["message_id"] for e in blocked} <= {"a2", "a3"}
    assert all(e["visibility"] == 0 and e[FIELD_MESSAGE_GROUP_ID] == "a" for e in blocked)
    done = [e["message_id"] for e in events.named(EV_COMPLETED)]
    assert [i for i in done if i.startswith("a")] == ["a1", "a2", "a3"]
    assert stack.depth() == 0


@pytest.mark.parametrize("failure", ["handler_error", "poison", "busy_elsewhere", "collision"])
def test_every_kind_of_failure_blocks_only_its_own_group(failure: str, events: Any) -> None:
    # GIVEN one receive with three messages of group a and one of group b
    received = batch("a1", "a2", "b1", "a3")
    store = MemoryStore("worker-a")
    handler = Recorder()
    if failure == "handler_error":
        handler.fail_first = {"a1"}
    elif failure == "poison":
        received[0]["Body"] = "not json"
    elif failure == "busy_elsewhere":
        store.begin("a1", time.time() + 300, body_hash({"id": "a1"}))
    else:
        store.begin("a1", time.time() + 300, body_hash({"id": "a1", "other": True}))
    sqs = ScriptedFifo(received)
    # WHEN the head of group a does not complete
    run_worker(
        Worker(config(message_limit=4, release_backoff_seconds=7), handler, sqs=sqs, store=store)
    )
    # THEN a2 and a3 are released at once, naming a1, and never handled; b1 is unaffected
    assert handler.order("b") == ["b1"]
    assert "a2" not in handler.seen and "a3" not in handler.seen
    blocked = [e for e in events.named(EV_RELEASED) if e["reason"] == RELEASE_GROUP_BLOCKED]
    head_id = "sqs-a1" if failure == "poison" else "a1"
    assert [(e["message_id"], e[FIELD_BLOCKED_BY]) for e in blocked] == [
        ("a2", head_id),
        ("a3", head_id),
    ]
    assert sqs.changes_of("a2") == [0] and sqs.changes_of("a3") == [0]
    # AND the head itself is released with the backoff, for a retry or the DLQ
    assert sqs.changes_of("a1") == [7]
    assert sqs.deleted == ["rh-b1"]


def test_a_group_never_runs_two_of_its_messages_at_once(events: Any) -> None:
    # GIVEN one receive with a1, b1, a2, c1, a3, five handler threads, and handlers that all
    # hold until the test lets them go
    sqs = ScriptedFifo(batch("a1", "b1", "a2", "c1", "a3"))
    gate = threading.Event()
    handler = Recorder()
    running = [0]

    def held(message: Message) -> None:
        handler.enter(message)
        with handler.lock:
            running[0] += 1
        gate.wait(WAIT_S)
        with handler.lock:
            running[0] -= 1
        handler.leave(message)

    worker = Worker(config(message_limit=5, concurrency=5), held, sqs=sqs)
    worker.start()
    try:
        # WHEN the worker has placed every message: a2 and a3 wait behind a1 (or, if the group
        # were ignored, all five run and hold)
        assert wait_until(
            lambda: (
                (len(events.named(EV_GROUP_WAITING)) == 2 and running[0] == 3) or running[0] == 5
            )
        )
        peak = running[0]
    finally:
        gate.set()
    assert worker.join(WAIT_S)
    # THEN one message per group ran at a time, three groups in parallel, a in receive order
    assert peak == 3
    assert max(handler.peak_in_group.values()) == 1
    assert handler.order("a") == ["a1", "a2", "a3"]
    waiting = events.named(EV_GROUP_WAITING)
    assert [(e["message_id"], e["behind"]) for e in waiting] == [("a2", "a1"), ("a3", "a2")]
    assert len(events.named(EV_COMPLETED)) == 5


def test_a_handler_slot_is_a_group_so_concurrency_across_groups_is_reached() -> None:
    # GIVEN CONCURRENCY=4 and a first receive that brings two messages of group a, then b and c
    sqs = ScriptedFifo(batch("a1", "a2", "b1", "c1"), batch("d1"))
    firsts = threading.Barrier(4, timeout=WAIT_S)
    broken: list[BaseException] = []

    def work(message: Message) -> None:
        if message.message_id.endswith("1"):
            try:
                firsts.wait()  # passes only once a1, b1, c1 and d1 run at the same time
            except threading.BrokenBarrierError as exc:
                broken.append(exc)

    run_worker(Worker(config(message_limit=5, concurrency=4), work, sqs=sqs))
    # THEN a2, waiting behind a1, did not take a slot: a fourth group was received and ran
    assert broken == []
    assert sqs.asked[:2] == [4, 1]


@pytest.mark.usefixtures("serial_moto")
def test_concurrency_across_groups_reaches_concurrency_on_moto(
    make_stack: Any, events: Any
) -> None:
    stack = make_stack(fifo=True)
    for n in (1, 2):
        for group in "abcde":
            stack.send({"id": f"{group}{n}"}, group=group)
    firsts = threading.Barrier(5, timeout=WAIT_S)
    broken: list[BaseException] = []
    handler = Recorder()

    def work(message: Message) -> None:
        handler.enter(message)
        try:
            if message.message_id.endswith("1"):
                firsts.wait()  # passes only once the five groups' first messages run together
        except threading.BrokenBarrierError as exc:
            broken.append(exc)
        finally:
            handler.leave(message)

    run_worker(
        Worker(
            stack.config(message_limit=10, concurrency=5, max_messages=10, heartbeat_seconds=2),
            work,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    assert broken == []
    assert max(handler.peak_in_group.values()) == 1
    assert all(handler.order(g) == [f"{g}1", f"{g}2"] for g in "abcde")
    assert stack.depth() == 0


# -- the receive size rule, heartbeats, deletes ----------------------------------------------------


def test_without_a_heartbeat_a_fifo_receive_asks_for_one_message(events: Any) -> None:
    # GIVEN MAX_MESSAGES=10 and four threads, but no heartbeat
    sqs = ScriptedFifo(batch("a1", "a2", "b1"))
    handler = Recorder()
    run_worker(Worker(config(message_limit=3, heartbeat_seconds=0), handler, sqs=sqs))
    # THEN every receive asked for one message: SQS hands out no more of a group while one of
    # its messages is in flight, so none can wait here behind its group
    assert set(sqs.asked) == {1}
    assert events.named(EV_CONSUMER_STARTED)[0]["receive_max"] == 1
    assert handler.order("a") == ["a1", "a2"]


def test_a_message_waiting_behind_its_group_is_heartbeated(events: Any) -> None:
    # GIVEN a 2 s visibility timeout, a heartbeat every 0.2 s, and a1 that runs until a2,
    # waiting behind it, has had a beat
    sqs = ScriptedFifo(batch("a1", "a2"), visibility=2)
    store = MemoryStore("worker-a")
    handler = Recorder()

    def work(message: Message) -> None:
        handler(message)
        if message.message_id == "a1":
            assert wait_until(lambda: bool(sqs.changes_of("a2")))

    run_worker(Worker(config(message_limit=2, heartbeat_seconds=0.2), work, sqs=sqs, store=store))
    # THEN a2's visibility was extended while it waited, with no lease yet (nothing claimed)
    beats = [e for e in events.named(EV_HEARTBEAT) if e["message_id"] == "a2"]
    assert beats and beats[0]["stage"] == "waiting" and "lease_expires_at" not in beats[0]
    assert sqs.changes_of("a2")[0] == 2
    # AND it ran after a1, and completed
    assert handler.order("a") == ["a1", "a2"]
    assert [e["message_id"] for e in events.named(EV_COMPLETED)] == ["a1", "a2"]
    started = [e["message_id"] for e in events.named(EV_HANDLER_STARTED)]
    assert started.index("a2") > started.index("a1")


def test_a_group_s_next_message_starts_once_the_previous_delete_was_answered() -> None:
    # GIVEN a delete that answers only once a2 has started, or after a second
    sqs = ScriptedFifo(batch("a1", "a2"))
    a2_started = threading.Event()
    early: list[bool] = []

    def slow_delete(handles: list[str]) -> None:
        if "rh-a1" in handles:
            early.append(a2_started.wait(1.0))

    sqs.on_delete = slow_delete

    def work(message: Message) -> None:
        if message.message_id == "a2":
            a2_started.set()

    run_worker(Worker(config(message_limit=2), work, sqs=sqs))
    # THEN a2 had not started while a1's delete was unanswered
    assert early == [False]
    assert sqs.deleted == ["rh-a1", "rh-a2"]


def test_a_worker_is_not_idle_while_its_delete_is_unanswered() -> None:
    # GIVEN a FIFO queue that hands out a2 only once a1's delete is done, as SQS holds a group
    # behind a message in flight, and a delete answered long after the idle timeout
    sqs = ScriptedFifo(batch("a1"))

    def late_delete(handles: list[str]) -> None:
        if "rh-a1" in handles:
            time.sleep(1.0)  # a loaded machine: five idle timeouts of empty receives
            with sqs.lock:
                sqs.batches.append(batch("a2"))

    sqs.on_delete = late_delete
    handler = Recorder()
    worker = run_worker(Worker(config(idle_timeout_seconds=0.2), handler, sqs=sqs))
    # THEN the empty receives while a1's delete was pending did not stop the worker: a2 ran
    assert handler.order("a") == ["a1", "a2"]
    assert sqs.deleted == ["rh-a1", "rh-a2"]
    assert worker.stop_reason is StopReason.IDLE


# -- the drain ------------------------------------------------------------------------------------


def test_the_drain_releases_what_waits_behind_a_running_message(events: Any) -> None:
    # GIVEN a1 running, a2 and a3 waiting behind it
    sqs = ScriptedFifo(batch("a1", "a2", "a3"))
    gate = threading.Event()
    seen: list[str] = []

    def held(message: Message) -> None:
        seen.append(message.message_id)
        gate.wait(WAIT_S)

    worker = Worker(config(shutdown_timeout_seconds=3 * WAIT_S), held, sqs=sqs)
    worker.start()
    try:
        assert wait_until(lambda: len(events.named(EV_GROUP_WAITING)) == 2 and seen == ["a1"])
        # WHEN the worker drains
        worker.stop()
        # THEN a2 and a3 go back at once (SQS keeps them behind a1), while a1 still runs
        assert wait_until(lambda: len(events.named(EV_RELEASED)) == 2)
        assert [(e["message_id"], e["reason"]) for e in events.named(EV_RELEASED)] == [
            ("a2", "draining"),
            ("a3", "draining"),
        ]
    finally:
        gate.set()
    assert worker.join(WAIT_S)
    assert worker.stop_reason is StopReason.DRAIN
    assert seen == ["a1"]
    assert [e["message_id"] for e in events.named(EV_COMPLETED)] == ["a1"]
    assert sqs.deleted == ["rh-a1"]
