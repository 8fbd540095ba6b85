"""The worker in-process against the embedded emulator: behaviour that needs real visibility."""

from __future__ import annotations

import collections
import time
from typing import Any

import pytest

from consumer import Message, Worker
from consumer.contract import EV_COMPLETED, EV_RECEIVED

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
