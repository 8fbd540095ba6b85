"""SQS dead-letter queues and redrive: RedrivePolicy, chains, and StartMessageMoveTask's rules.

Move tasks run at ``MaxNumberOfMessagesPerSecond=1`` where a check must see one still running,
so those checks take a few seconds; they cancel their task before returning.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core import capabilities as cap
from local.conformance.registry import (
    SQS_API,
    SQS_GUIDE,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    expect_error,
    registrar,
)

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)

DLQ_GUIDE = SQS_GUIDE + "sqs-dead-letter-queues.html"
REDRIVE_GUIDE = SQS_GUIDE + "sqs-configure-dead-letter-queue-redrive.html"
MAX_MOVE_RATE = 500  # MaxNumberOfMessagesPerSecond's documented maximum
_SLOW_BACKLOG = 6  # at 1 message/s, a task over this many runs for seconds


def wait_for_visible(ctx: ProbeContext, url: str, n: int, timeout: float = 5.0) -> int:
    """Poll until ``url`` holds ``n`` visible messages; returns how many it holds at the end."""
    deadline = time.monotonic() + timeout
    while True:
        visible = ctx.counts(url)[0]
        if visible >= n or time.monotonic() >= deadline:
            return visible
        time.sleep(0.1)


def dead_letter(ctx: ProbeContext, src: str, body: str = "poison") -> None:
    """Receive ``body`` from ``src`` (maxReceiveCount=1, visibility 1 s) once, then once more,
    so the second receive moves it to the DLQ."""
    ctx.sqs.send_message(QueueUrl=src, MessageBody=body)
    ctx.receive_one(src, why="the message was never delivered")
    if ctx.receive(src, wait=2):
        raise CheckFailed("receive #2 delivered it again instead of dead-lettering it")


def cancel_quietly(ctx: ProbeContext, task_handle: str | None) -> None:
    """Stop a move task a check started; its queues are deleted at cleanup anyway."""
    if task_handle:
        with contextlib.suppress(ClientError, BotoCoreError):
            ctx.sqs.cancel_message_move_task(TaskHandle=task_handle)


def _slow_task(ctx: ProbeContext, label: str) -> tuple[str, str, dict[str, Any]]:
    """A DLQ holding a backlog and a move task draining it at 1 message/s: (src, dlq, start)."""
    src, dlq = ctx.queue_with_dlq(label, 5)
    entries = [{"Id": str(i), "MessageBody": f"dead-{i}"} for i in range(_SLOW_BACKLOG)]
    ctx.sqs.send_message_batch(QueueUrl=dlq, Entries=entries)
    started = ctx.sqs.start_message_move_task(
        SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src), MaxNumberOfMessagesPerSecond=1
    )
    return src, dlq, started


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


@check("sqs.chained_dlqs", cap.SQS_DLQ_CHAIN, cite=DLQ_GUIDE)
def _dlq_chained(ctx: ProbeContext) -> str:
    """A dead-letter queue is an ordinary queue and may have its own RedrivePolicy: a message
    that exhausts it moves on to the next queue (A -> B -> C, maxReceiveCount 1 each).

    AWS does not describe chains separately; they follow from any queue accepting a
    RedrivePolicy. The receive count travels with the message, so whether B delivers it once
    before passing it on differs between endpoints: the check only requires that it reaches C."""
    last = ctx.queue("chain-c")
    middle = ctx.queue("chain-b", VisibilityTimeout=1, RedrivePolicy=ctx.redrive_to(last, 1))
    first = ctx.queue("chain-a", VisibilityTimeout=1, RedrivePolicy=ctx.redrive_to(middle, 1))
    dead_letter(ctx, first)
    delivered_by_middle = 0
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        got = ctx.receive(last, wait=0)
        if got:
            if got[0]["Body"] != "poison":
                raise CheckFailed("the last queue holds a different message")
            return f"A -> B -> C (B delivered it {delivered_by_middle} time(s) first)"
        delivered_by_middle += len(ctx.receive(middle, wait=1))
    where = "A" if ctx.counts(first) != (0, 0) else "B" if ctx.counts(middle) != (0, 0) else "?"
    raise CheckFailed(f"the message never reached the second DLQ (still in {where} after 6 s)")


@check(
    "sqs.dead_letter_source_arn",
    cap.SQS_DLQ_SOURCE_ARN,
    cite=SQS_API + "API_ReceiveMessage.html",
)
def _dlq_source_arn(ctx: ProbeContext) -> str:
    """A dead-lettered message received from the DLQ carries the DeadLetterQueueSourceArn
    system attribute: the ARN of the queue it came from."""
    src, dlq = ctx.queue_with_dlq("srcarn", 1, VisibilityTimeout=1)
    dead_letter(ctx, src)
    dead = ctx.receive_one(dlq, wait=2, why="the message is not in the DLQ")
    got = dead.get("Attributes", {}).get("DeadLetterQueueSourceArn")
    if got != ctx.arn(src):
        raise CheckFailed(f"DeadLetterQueueSourceArn={got!r}, expected the source queue's ARN")
    return "names the source queue"


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


@check("sqs.redrive_resets_receive_count", cap.SQS_REDRIVE_AS_NEW, cite=REDRIVE_GUIDE)
def _redrive_as_new(ctx: ProbeContext) -> str:
    """ "All redriven messages are considered new messages, and the system assigns them a new
    messageID and enqueueTime": back in the source queue, the message has a new MessageId and
    its ApproximateReceiveCount starts again at 1, so it gets its full maxReceiveCount."""
    src, dlq = ctx.queue_with_dlq("asnew", 1, VisibilityTimeout=1)
    original = ctx.sqs.send_message(QueueUrl=src, MessageBody="poison")["MessageId"]
    ctx.receive_one(src, why="the message was never delivered")
    if ctx.receive(src, wait=2) or wait_for_visible(ctx, dlq, 1, timeout=2) != 1:
        raise CheckFailed("the message was not dead-lettered on receive #2")
    ctx.sqs.start_message_move_task(SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src))
    back = ctx.receive_one(src, wait=5, why="the move task did not bring it back within 5 s")
    count = back.get("Attributes", {}).get("ApproximateReceiveCount")
    same_id = back["MessageId"] == original
    if same_id or count != "1":
        raise CheckFailed(
            f"after the redrive: {'the same' if same_id else 'a new'} MessageId, "
            f"ApproximateReceiveCount={count!r} (expected a new MessageId and '1')"
        )
    return "a new MessageId, ApproximateReceiveCount 1"


@check(
    "sqs.move_task_source_must_be_dlq",
    cap.SQS_MOVE_TASK_RULES,
    cite=SQS_API + "API_StartMessageMoveTask.html",
)
def _move_source_dlq(ctx: ProbeContext) -> str:
    """StartMessageMoveTask accepts only a dead-letter queue of another SQS queue as its source:
    a queue that is nobody's DLQ is rejected, while a real DLQ is accepted."""
    src, dlq = ctx.queue_with_dlq("srcdlq", 5)
    plain = ctx.queue("notdlq")
    ctx.sqs.send_message(QueueUrl=plain, MessageBody="x")
    code = expect_error(
        lambda: ctx.sqs.start_message_move_task(
            SourceArn=ctx.arn(plain), DestinationArn=ctx.arn(src)
        )
    )
    # the control: an endpoint without move tasks rejects everything and must not pass
    ctx.sqs.send_message(QueueUrl=dlq, MessageBody="dead")
    ctx.sqs.start_message_move_task(SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src))
    return f"a plain queue rejected with {code}; the DLQ accepted"


@check(
    "sqs.move_task_one_per_source",
    cap.SQS_MOVE_TASK_RULES,
    cite=SQS_API + "API_StartMessageMoveTask.html",
)
def _move_one_per_source(ctx: ProbeContext) -> str:
    """ "Only one active message movement task is supported per queue at any given time": a
    second StartMessageMoveTask on a DLQ whose task is still running is rejected."""
    src, dlq, started = _slow_task(ctx, "onetask")
    try:
        code = expect_error(
            lambda: ctx.sqs.start_message_move_task(
                SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src)
            )
        )
    finally:
        cancel_quietly(ctx, started.get("TaskHandle"))
    return f"second task rejected with {code}"


@check(
    "sqs.move_task_rate_limit",
    cap.SQS_MOVE_TASK_RULES,
    cite=SQS_API + "API_StartMessageMoveTask.html",
)
def _move_rate(ctx: ProbeContext) -> str:
    """MaxNumberOfMessagesPerSecond caps the move rate (at most 500): 501 is rejected, and at 1
    message/s a 6-message DLQ is not drained 1.5 s after the start."""
    src, dlq = ctx.queue_with_dlq("rate", 5)
    code = expect_error(
        lambda: ctx.sqs.start_message_move_task(
            SourceArn=ctx.arn(dlq),
            DestinationArn=ctx.arn(src),
            MaxNumberOfMessagesPerSecond=MAX_MOVE_RATE + 1,
        )
    )
    src, _dlq, started = _slow_task(ctx, "rate-slow")
    try:
        time.sleep(1.5)
        moved = ctx.counts(src)[0]
    finally:
        cancel_quietly(ctx, started.get("TaskHandle"))
    if moved >= _SLOW_BACKLOG:
        raise CheckFailed(f"all {moved} messages moved within 1.5 s at 1 message/s")
    return f"501/s rejected with {code}; {moved} of {_SLOW_BACKLOG} moved after 1.5 s at 1/s"


@check(
    "sqs.move_task_running_observable",
    cap.SQS_MOVE_TASK_RULES,
    cite=SQS_API + "API_ListMessageMoveTasks.html",
)
def _move_running(ctx: ProbeContext) -> str:
    """While a move task works, ListMessageMoveTasks reports it RUNNING, with the TaskHandle
    StartMessageMoveTask returned and the rate it was given."""
    _src, dlq, started = _slow_task(ctx, "running")
    try:
        tasks = ctx.sqs.list_message_move_tasks(SourceArn=ctx.arn(dlq)).get("Results", [])
    finally:
        cancel_quietly(ctx, started.get("TaskHandle"))
    if not tasks:
        raise CheckFailed("no task listed")
    task = tasks[0]
    if task.get("Status") != "RUNNING":
        raise CheckFailed(f"status {task.get('Status')!r} while 6 messages move at 1/s")
    if task.get("TaskHandle") != started.get("TaskHandle"):
        raise CheckFailed("the listed TaskHandle differs from the one StartMessageMoveTask gave")
    if task.get("MaxNumberOfMessagesPerSecond") != 1:
        raise CheckFailed(
            f"MaxNumberOfMessagesPerSecond={task.get('MaxNumberOfMessagesPerSecond')!r}"
        )
    return "RUNNING, same TaskHandle, rate 1"
