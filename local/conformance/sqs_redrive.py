"""SQS dead-letter queues and redrive: RedrivePolicy and StartMessageMoveTask."""

from __future__ import annotations

import json
import time

from core import capabilities as cap
from local.conformance.registry import (
    SQS_API,
    SQS_GUIDE,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    registrar,
)

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)

DLQ_GUIDE = SQS_GUIDE + "sqs-dead-letter-queues.html"


def wait_for_visible(ctx: ProbeContext, url: str, n: int, timeout: float = 5.0) -> int:
    """Poll until ``url`` holds ``n`` visible messages; returns how many it holds at the end."""
    deadline = time.monotonic() + timeout
    while True:
        visible = ctx.counts(url)[0]
        if visible >= n or time.monotonic() >= deadline:
            return visible
        time.sleep(0.1)


# == the dead-letter queue =====================================================================


@check("sqs.redrive_policy_roundtrip", cap.SQS_DLQ, cite=SQS_API + "API_SetQueueAttributes.html")
def _redrive_policy(ctx: ProbeContext) -> str:
    """RedrivePolicy reads back with the deadLetterTargetArn and maxReceiveCount it was given."""
    src, dlq = ctx.queue_with_dlq("policy", 5)
    raw = ctx.sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])
    policy = json.loads(raw["Attributes"].get("RedrivePolicy", "{}"))
    if (
        policy.get("deadLetterTargetArn") != ctx.arn(dlq)
        or int(policy.get("maxReceiveCount", 0)) != 5
    ):
        raise CheckFailed(f"RedrivePolicy read back as {policy}")
    return "deadLetterTargetArn and maxReceiveCount=5"


@check("sqs.dlq_not_before_max", cap.SQS_DLQ, cite=DLQ_GUIDE)
def _dlq_not_early(ctx: ProbeContext) -> str:
    """A message is dead-lettered only when its receive count exceeds maxReceiveCount: with 2,
    it is still delivered on receive #2."""
    src, _dlq = ctx.queue_with_dlq("early", 2, VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=src, MessageBody="x")
    for n in (1, 2):
        ctx.receive_one(src, wait=3, why=f"receive #{n} of a maxReceiveCount=2 queue was empty")
    return "delivered on receives 1 and 2"


@check("sqs.dlq_move_after_max", cap.SQS_DLQ, cite=DLQ_GUIDE)
def _dlq_move(ctx: ProbeContext) -> str:
    """With maxReceiveCount=2, the receive after the 2nd moves the message to the DLQ, with its
    MessageId and body."""
    src, dlq = ctx.queue_with_dlq("move", 2, VisibilityTimeout=1)
    sent = ctx.sqs.send_message(QueueUrl=src, MessageBody="poison")
    for _ in range(2):
        ctx.receive_one(src, wait=3)
    third = ctx.receive(src, wait=2)
    if third:
        count = third[0].get("Attributes", {}).get("ApproximateReceiveCount")
        raise CheckFailed(f"receive #3 delivered it again (ApproximateReceiveCount={count})")
    dead = ctx.receive_one(dlq, wait=2, why="the message is not in the DLQ")
    if dead["MessageId"] != sent["MessageId"] or dead["Body"] != "poison":
        raise CheckFailed("the DLQ holds a different message")
    return "moved on receive #3, same MessageId and body in the DLQ"


# == StartMessageMoveTask ======================================================================


@check(
    "sqs.start_message_move_task", cap.SQS_MOVE_TASK, cite=SQS_API + "API_StartMessageMoveTask.html"
)
def _move_task(ctx: ProbeContext) -> str:
    """StartMessageMoveTask moves the DLQ's messages to the destination queue."""
    src, dlq = ctx.queue_with_dlq("redrive", 5)
    for i in range(2):
        ctx.sqs.send_message(QueueUrl=dlq, MessageBody=f"dead-{i}")
    ctx.sqs.start_message_move_task(SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src))
    moved = wait_for_visible(ctx, src, 2)
    if moved != 2:
        raise CheckFailed(f"after 5 s the source queue holds {moved} of 2 messages")
    return "2 messages back in the source queue"


@check(
    "sqs.list_message_move_tasks", cap.SQS_MOVE_TASK, cite=SQS_API + "API_ListMessageMoveTasks.html"
)
def _list_move_tasks(ctx: ProbeContext) -> str:
    """ListMessageMoveTasks reports a started task, RUNNING or COMPLETED."""
    src, dlq = ctx.queue_with_dlq("listmove", 5)
    ctx.sqs.send_message(QueueUrl=dlq, MessageBody="dead")
    dlq_arn = ctx.arn(dlq)
    ctx.sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=ctx.arn(src))
    tasks = ctx.sqs.list_message_move_tasks(SourceArn=dlq_arn).get("Results", [])
    if not tasks:
        raise CheckFailed("no task listed")
    status = tasks[0].get("Status")
    if status not in {"RUNNING", "COMPLETED"}:
        raise CheckFailed(f"task status {status!r}")
    return f"listed, status {status}"
