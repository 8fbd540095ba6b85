"""The worker in-process against the embedded emulator: behaviour that needs real visibility."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import pytest

from consumer import Message, Worker
from consumer.contract import EV_COMPLETED, EV_RECEIVED, FIELD_MESSAGE_GROUP_ID

pytestmark = pytest.mark.integration


def test_a_worker_holds_no_more_messages_than_it_can_start(
    make_emulator_stack: Any, events: Any
) -> None:
    # GIVEN a dozen messages, a 2 s visibility timeout and 0.8 s of work per message
    stack = make_emulator_stack(visibility=2)
    ids = [f"held-{i:02d}" for i in range(12)]
    for message_id in ids:
        stack.send({"id": message_id})

    def work(_: Message) -> None:
        time.sleep(0.8)

    # WHEN two workers share the queue, each with one handler thread, each allowed to receive
    # 10 at a time, with a 1 s heartbeat
    workers = [
        Worker(
            stack.config(
                consumer_id=f"worker-{name}",
                concurrency=1,
                max_messages=10,
                heartbeat_seconds=1,
                wait_time_seconds=1,
                idle_timeout_seconds=3,
            ),
            work,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
        for name in "ab"
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        assert worker.join(120), "a worker did not stop"
    # THEN no message waited in a worker, unheartbeated, until its visibility ran out and the
    # other worker received it too: each was received once, and completed once
    received = collections.Counter(e["message_id"] for e in events.named(EV_RECEIVED))
    assert received == dict.fromkeys(ids, 1)
    assert sorted(e["message_id"] for e in events.named(EV_COMPLETED)) == ids
    assert stack.depth() == 0


def test_two_workers_on_a_fifo_queue_keep_each_group_in_order_through_a_failure(
    make_emulator_stack: Any, events: Any
) -> None:
    # GIVEN a FIFO queue with three groups of four messages, and a handler whose first
    # execution of b2 (the middle of group b) fails
    stack = make_emulator_stack(fifo=True, visibility=5, max_receive_count=5)
    ids = [f"{group}{n}" for n in range(1, 5) for group in "abc"]
    for message_id in ids:
        stack.send({"id": message_id}, group=message_id[0])
    lock = threading.Lock()
    active: collections.Counter[str] = collections.Counter()
    overlaps: list[str] = []
    failed_once: set[str] = set()

    def work(message: Message) -> None:
        group = message.message_group_id or ""
        with lock:
            active[group] += 1
            if active[group] > 1:
                overlaps.append(message.message_id)
        try:
            time.sleep(0.05)
            if message.message_id == "b2" and "b2" not in failed_once:
                failed_once.add("b2")
                raise RuntimeError("b2 failed once")
        finally:
            with lock:
                active[group] -= 1

    # WHEN two workers share it, each with two threads, batches of up to 10 and a heartbeat
    workers = [
        Worker(
            stack.config(
                consumer_id=f"worker-{name}",
                concurrency=2,
                max_messages=10,
                heartbeat_seconds=1,
                wait_time_seconds=1,
                idle_timeout_seconds=3,
            ),
            work,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
        for name in "xy"
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        assert worker.join(120), "a worker did not stop"
    # THEN no group ever had two messages in work at once, across both workers, and each
    # group completed in send order, b included, after b2's retry
    assert overlaps == []
    done = sorted(events.named(EV_COMPLETED), key=lambda e: e["completed_at"])
    for group in "abc":
        assert [e["message_id"] for e in done if e[FIELD_MESSAGE_GROUP_ID] == group] == [
            f"{group}{n}" for n in range(1, 5)
        ]
    assert failed_once == {"b2"}
    assert stack.depth() == 0
