"""Redrive (the sqs.move_task shim) and the observers, against in-process moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.stack import StackHandle
from scenarios.running import observe
from scenarios.running.faults import MOVE_TASK_CAPABILITY, LongSleep, RedriveDlq
from scenarios.running.live import LiveRun
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit


def live_run(sqs: Any, stack: StackHandle, shims: dict[str, str]) -> LiveRun:
    """The engine's own LiveRun, over a target whose SQS client is the test's moto client."""
    return LiveRun(InstantTarget(sqs=sqs), stack, shims)


@pytest.fixture
def stack():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="t-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        q = sqs.create_queue(QueueName="t-q", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        handle = StackHandle("t", "us-east-1", q, q_arn, dlq, dlq_arn, "t-status", "t-completed")
        yield sqs, handle


def test_manual_redrive_moves_every_dead_letter_and_keeps_bodies(stack):
    sqs, handle = stack
    bodies = [f"poison {i}" for i in range(13)]  # more than one receive batch
    for body in bodies:
        sqs.send_message(QueueUrl=handle.dlq_url, MessageBody=body)
    run = live_run(sqs, handle, {MOVE_TASK_CAPABILITY: "manual"})
    fault = RedriveDlq(when_dlq_holds=13)
    assert fault.due(run)
    record = fault.fire(run)
    assert record.data["moved"] == 13 and "manual" in record.detail
    assert observe.depth(sqs, handle.dlq_url).total == 0
    moved = []
    while got := sqs.receive_message(QueueUrl=handle.queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        moved += [m["Body"] for m in got]
        sqs.delete_message_batch(
            QueueUrl=handle.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )
    assert sorted(moved) == sorted(bodies)


def test_redrive_is_not_due_before_the_dlq_holds_enough(stack):
    sqs, handle = stack
    sqs.send_message(QueueUrl=handle.dlq_url, MessageBody="one")
    assert not RedriveDlq(when_dlq_holds=2).due(live_run(sqs, handle, {}))


def test_read_dlq_reads_without_deleting(stack):
    sqs, handle = stack
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=handle.dlq_url, MessageBody=body)
    letters = observe.read_dlq(sqs, handle.dlq_url, hide_s=1)
    assert sorted(d.body for d in letters) == ["a", "b", "c"]
    assert observe.depth(sqs, handle.dlq_url).total == 3


def test_scan_returns_plain_values():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(
            TableName="t",
            Item={"message_id": {"S": "m"}, "attempts": {"N": "2"}, "lease": {"N": "1.5"}},
        )
        assert observe.scan(ddb, "t") == [{"message_id": "m", "attempts": 2, "lease": 1.5}]


def test_a_long_sleep_for_one_group_leaves_the_others_alone():
    slow_only = LongSleep(5.0, every=1, group="slow")
    assert slow_only.applies_to("slow") and not slow_only.applies_to("fast")
    assert slow_only.overrides() == {"long_sleep_seconds": 5.0, "long_sleep_every": 1}
    assert "(slow consumers)" in slow_only.label
    assert LongSleep(5.0).applies_to("fast")  # no group: every consumer


class _Slot:
    """One consumer slot whose events arrive ``event_delay_s`` late (ECS: CloudWatch Logs)."""

    def __init__(self, event_delay_s: float) -> None:
        self.slot, self.consumer_id, self.running = 0, "consumer-0-1", True
        self.event_delay_s = event_delay_s


class _View:
    """The running phase as the fault sees it: slot 0 holds m1, received ``age`` s ago."""

    def __init__(self, slot: _Slot, age: float) -> None:
        self._slot, self.age = slot, age
        self.signals: list[int] = []
        self.sqs, self.stack = None, None

    def slot(self, index: int) -> _Slot | None:
        return self._slot if index == 0 else None

    def in_flight(self, handle: Any, *, max_age_s: float | None = None) -> list[str]:
        return ["m1"] if max_age_s is None or self.age <= max_age_s else []

    def completed_by(self, handle: Any) -> int:
        return 0

    def signal(self, handle: Any, sig: int) -> None:
        self.signals.append(sig)


def test_a_signal_fault_allows_for_the_slots_event_delay() -> None:
    import signal

    from scenarios.running.faults import SignalWhileProcessing

    fault = SignalWhileProcessing(signal.SIGTERM, slot=0, after_completed=0, max_age_s=0.3)
    # GIVEN a "received" event that reached the engine 4 s after it was written
    # THEN with no allowance (a local consumer) it is too old: the work may be over
    assert not fault.due(_View(_Slot(event_delay_s=0.0), age=4.0))  # type: ignore[arg-type]
    # AND on ECS, whose events can be 8 s late, it still counts as "just received"
    view = _View(_Slot(event_delay_s=8.0), age=4.0)
    assert fault.due(view)  # type: ignore[arg-type]
    record = fault.fire(view)  # type: ignore[arg-type]
    assert view.signals == [signal.SIGTERM]
    assert record.message_ids == ("m1",)
    assert "8.0 s late allowed for" in record.detail
    # AND even on ECS an event older than delay + max_age is not mid-work any more
    assert not fault.due(_View(_Slot(event_delay_s=8.0), age=8.5))  # type: ignore[arg-type]
