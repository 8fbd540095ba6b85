"""FIFO queue checks: groups, ordering under redelivery, deduplication, delays, retries, DLQs.

These are the behaviours emulators most often get wrong and FIFO consumers lean on (issue 17).
Each check uses its own ``.fifo`` queue with 1 s visibility where a redelivery is awaited.
"""

from __future__ import annotations

import time
from typing import Any

from core import capabilities as cap
from local.conformance.registry import (
    MAX_BATCH,
    SQS_API,
    SQS_GUIDE,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    expect_error,
    registrar,
)
from local.conformance.sqs_redrive import REDRIVE_GUIDE, wait_for_visible

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)

FIFO_GUIDE = SQS_GUIDE + "sqs-fifo-queues.html"
ORDER_GUIDE = SQS_GUIDE + "FIFO-queues-understanding-logic.html"
DEDUP_GUIDE = SQS_GUIDE + "FIFO-queues-exactly-once-processing.html"
HIGH_THROUGHPUT_GUIDE = SQS_GUIDE + "high-throughput-fifo.html"
GROUP = "g1"


def send(ctx: ProbeContext, url: str, body: str, group: str = GROUP, **kw: Any) -> dict[str, Any]:
    """SendMessage to a FIFO queue; the deduplication id defaults to the body."""
    kw.setdefault("MessageDeduplicationId", body)
    result: dict[str, Any] = ctx.sqs.send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId=group, **kw
    )
    return result


def bodies(msgs: list[dict[str, Any]]) -> list[str]:
    return [str(m["Body"]) for m in msgs]


def drain(ctx: ProbeContext, url: str, want: int, timeout: float = 4.0) -> list[dict[str, Any]]:
    """Receive and delete until ``want`` messages came and one more receive found nothing."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = ctx.receive(url, wait=1, max_messages=MAX_BATCH)
        if not msgs and len(got) >= want:
            break
        for m in msgs:
            ctx.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        got += msgs
    return got


# == FIFO basics =================================================================================


@check("sqs.fifo_name_suffix_required", cap.SQS_FIFO, cite=SQS_API + "API_CreateQueue.html")
def _name_suffix(ctx: ProbeContext) -> str:
    """A FIFO queue's name must end with the .fifo suffix: FifoQueue=true on another name is
    rejected, and a .fifo queue reports FifoQueue=true."""
    url = ctx.fifo_queue("named")
    got = ctx.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue"])["Attributes"]
    if got.get("FifoQueue") != "true":
        raise CheckFailed(f"a .fifo queue reports FifoQueue={got.get('FifoQueue')!r}")
    code = expect_error(lambda: ctx.queue("nosuffix", FifoQueue=True))
    return f"FifoQueue on a name without .fifo rejected with {code}"


@check("sqs.fifo_group_id_required", cap.SQS_FIFO, cite=SQS_API + "API_SendMessage.html")
def _group_required(ctx: ProbeContext) -> str:
    """MessageGroupId is required for FIFO queues: a send without one is rejected."""
    url = ctx.fifo_queue("nogroup")
    send(ctx, url, "with-group")
    code = expect_error(
        lambda: ctx.sqs.send_message(
            QueueUrl=url, MessageBody="no-group", MessageDeduplicationId="no-group"
        )
    )
    return f"rejected with {code}"


@check("sqs.fifo_sequence_number", cap.SQS_FIFO, cite=SQS_API + "API_SendMessage.html")
def _sequence_number(ctx: ProbeContext) -> str:
    """Each message sent to a FIFO queue gets a SequenceNumber that "continues to increase for a
    particular MessageGroupId"; the received message carries it, with its MessageGroupId. Ten
    sends make a random number pass only by a 1-in-3.6-million chance."""
    url = ctx.fifo_queue("seq")
    entries = [
        {
            "Id": str(i),
            "MessageBody": f"m{i}",
            "MessageGroupId": GROUP,
            "MessageDeduplicationId": f"m{i}",
        }
        for i in range(MAX_BATCH)
    ]
    resp = ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    by_id = {e["Id"]: e.get("SequenceNumber") for e in resp.get("Successful", [])}
    numbers = [by_id.get(str(i)) for i in range(MAX_BATCH)]
    if not all(n and str(n).isdigit() for n in numbers):
        raise CheckFailed(f"send returned SequenceNumber {numbers[:3]}...")
    values = [int(str(n)) for n in numbers]
    if values != sorted(values) or len(set(values)) != len(values):
        raise CheckFailed(f"SequenceNumber does not increase in send order: {numbers[:4]}...")
    attrs = ctx.receive_one(url).get("Attributes", {})
    if attrs.get("SequenceNumber") != numbers[0] or attrs.get("MessageGroupId") != GROUP:
        raise CheckFailed(
            f"received SequenceNumber={attrs.get('SequenceNumber')!r}, "
            f"MessageGroupId={attrs.get('MessageGroupId')!r}; sent {numbers[0]} in {GROUP}"
        )
    return "present on send and receive, increasing over 10 sends"


# == FIFO delays ================================================================================


@check(
    "sqs.fifo_per_message_delay_rejected", cap.SQS_FIFO_DELAY, cite=SQS_API + "API_SendMessage.html"
)
def _per_message_delay(ctx: ProbeContext) -> str:
    """ "When you set FifoQueue, you can't set DelaySeconds per message": a FIFO send with
    DelaySeconds is rejected (the delay belongs to the queue)."""
    url = ctx.fifo_queue("msgdelay")
    code = expect_error(lambda: send(ctx, url, "delayed", DelaySeconds=1))
    return f"rejected with {code}"


@check("sqs.fifo_queue_delay", cap.SQS_FIFO_DELAY, cite=SQS_GUIDE + "sqs-delay-queues.html")
def _queue_delay(ctx: ProbeContext) -> str:
    """A FIFO queue's DelaySeconds hides each new message for that long (a delay queue)."""
    url = ctx.fifo_queue("qdelay", DelaySeconds=1)
    send(ctx, url, "delayed")
    if ctx.receive(url, wait=0):
        raise CheckFailed("delivered before the queue's 1 s delay")
    ctx.receive_one(url, wait=3, why="not delivered within 3 s of a 1 s queue delay")
    return "hidden, then delivered"


# == ordering within a message group ==============================================================


@check("sqs.fifo_order_within_group", cap.SQS_FIFO_GROUP_ORDER, cite=ORDER_GUIDE)
def _order(ctx: ProbeContext) -> str:
    """Messages of one group are delivered in the order they were sent."""
    url = ctx.fifo_queue("order")
    sent = [f"m{i}" for i in range(5)]
    entries = [
        {"Id": b, "MessageBody": b, "MessageGroupId": GROUP, "MessageDeduplicationId": b}
        for b in sent
    ]
    ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    got = bodies(drain(ctx, url, len(sent)))
    if got != sent:
        raise CheckFailed(f"delivered {got}, sent {sent}")
    return "m0..m4 in order"


@check(
    "sqs.fifo_group_blocked_while_in_flight",
    cap.SQS_FIFO_GROUP_ORDER,
    cite=SQS_API + "API_ReceiveMessage.html",
)
def _blocked(ctx: ProbeContext) -> str:
    """ "While messages with a particular MessageGroupId are invisible, no more messages
    belonging to the same MessageGroupId are returned", while other groups still flow."""
    url = ctx.fifo_queue("blocked", VisibilityTimeout=30)
    send(ctx, url, "a1", "A")
    send(ctx, url, "a2", "A")
    first = ctx.receive(url, wait=1)
    if bodies(first) != ["a1"]:
        raise CheckFailed(f"first receive gave {bodies(first)}, expected ['a1']")
    send(ctx, url, "b1", "B")
    got = bodies(ctx.receive(url, wait=1, max_messages=MAX_BATCH))
    if "a2" in got:
        raise CheckFailed(f"a2 was delivered while a1 of the same group was in flight: {got}")
    if got != ["b1"]:
        raise CheckFailed(f"the other group did not flow: got {got}, expected ['b1']")
    return "group A held while a1 is in flight; group B delivered"


@check(
    "sqs.fifo_group_blocked_after_extension",
    cap.SQS_FIFO_GROUP_ORDER,
    cite=SQS_API + "API_ReceiveMessage.html",
)
def _blocked_extended(ctx: ProbeContext) -> str:
    """A visibility extension keeps the group blocked: past the queue's timeout, inside the
    extension, neither the message nor the next one of its group is delivered."""
    url = ctx.fifo_queue("extended", VisibilityTimeout=1)
    send(ctx, url, "a1")
    send(ctx, url, "a2")
    first = ctx.receive_one(url)
    ctx.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=4
    )
    time.sleep(1.5)
    got = bodies(ctx.receive(url, wait=0, max_messages=MAX_BATCH))
    if got:
        raise CheckFailed(f"delivered {got} 1.5 s into a 4 s extension of a1")
    return "nothing from the group inside the extension"


@check("sqs.fifo_redelivery_in_order", cap.SQS_FIFO_GROUP_ORDER, cite=ORDER_GUIDE)
def _redelivery_order(ctx: ProbeContext) -> str:
    """A message that is not deleted comes back before the next one of its group: order holds
    across a redelivery."""
    url = ctx.fifo_queue("redeliver", VisibilityTimeout=1)
    send(ctx, url, "a1")
    send(ctx, url, "a2")
    if bodies(ctx.receive(url)) != ["a1"]:
        raise CheckFailed("a1 was not delivered first")
    again = ctx.receive_one(url, wait=3, why="nothing redelivered within 3 s of a 1 s timeout")
    if again["Body"] != "a1":
        raise CheckFailed(f"after a1's timeout, {again['Body']} came before a1's redelivery")
    return "a1 redelivered before a2"


# == deduplication ===============================================================================


@check("sqs.fifo_dedup_id_required", cap.SQS_FIFO_DEDUP, cite=SQS_API + "API_SendMessage.html")
def _dedup_required(ctx: ProbeContext) -> str:
    """Without ContentBasedDeduplication, a send without MessageDeduplicationId "fails with an
    error"."""
    url = ctx.fifo_queue("nodedup")
    code = expect_error(
        lambda: ctx.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId=GROUP)
    )
    return f"rejected with {code}"


@check("sqs.fifo_dedup_window", cap.SQS_FIFO_DEDUP, cite=DEDUP_GUIDE)
def _dedup_window(ctx: ProbeContext) -> str:
    """A second send with the same MessageDeduplicationId inside the 5-minute interval is
    accepted but not delivered: one copy arrives."""
    url = ctx.fifo_queue("dedup")
    send(ctx, url, "first", MessageDeduplicationId="same")
    send(ctx, url, "second", MessageDeduplicationId="same")
    got = bodies(drain(ctx, url, 1))
    if got != ["first"]:
        raise CheckFailed(f"delivered {got}, expected only ['first']")
    return "second send accepted, one copy delivered"


@check("sqs.fifo_dedup_survives_delete", cap.SQS_FIFO_DEDUP, cite=SQS_API + "API_SendMessage.html")
def _dedup_after_delete(ctx: ProbeContext) -> str:
    """ "Amazon SQS continues to keep track of the message deduplication ID even after the
    message is received and deleted": a resend after the delete is not delivered."""
    url = ctx.fifo_queue("dedupdel")
    send(ctx, url, "first", MessageDeduplicationId="same")
    got = drain(ctx, url, 1)
    if bodies(got) != ["first"]:
        raise CheckFailed(f"delivered {bodies(got)} before the resend")
    send(ctx, url, "resend", MessageDeduplicationId="same")
    send(ctx, url, "other", MessageDeduplicationId="other")  # the control: still delivered
    after = bodies(drain(ctx, url, 1))
    if "resend" in after:
        raise CheckFailed("the resend with a deleted message's deduplication id was delivered")
    if after != ["other"]:
        raise CheckFailed(f"delivered {after} after the delete, expected ['other']")
    return "resend after delete dropped; a new id still delivered"


@check("sqs.fifo_content_based_dedup", cap.SQS_FIFO_DEDUP, cite=DEDUP_GUIDE)
def _content_dedup(ctx: ProbeContext) -> str:
    """With ContentBasedDeduplication, sends need no deduplication id; the SHA-256 of the body
    is the id, so the same body twice is delivered once and a different body still is."""
    url = ctx.fifo_queue("cbd", ContentBasedDeduplication=True)
    for body in ("same", "same", "different"):
        ctx.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=GROUP)
    got = bodies(drain(ctx, url, 2))
    if got != ["same", "different"]:
        raise CheckFailed(f"delivered {got}, expected ['same', 'different']")
    return "identical body deduplicated"


@check("sqs.fifo_dedup_scope_queue", cap.SQS_FIFO_DEDUP_SCOPE, cite=HIGH_THROUGHPUT_GUIDE)
def _scope_queue(ctx: ProbeContext) -> str:
    """By default (DeduplicationScope=queue) a deduplication id is unique across the queue: the
    same id in another message group is a duplicate."""
    url = ctx.fifo_queue("scopeq")
    send(ctx, url, "in-g1", "g1", MessageDeduplicationId="same")
    send(ctx, url, "in-g2", "g2", MessageDeduplicationId="same")
    got = bodies(drain(ctx, url, 1))
    if got != ["in-g1"]:
        raise CheckFailed(f"delivered {got}, expected only ['in-g1']")
    return "same id in another group deduplicated"


@check("sqs.fifo_dedup_scope_message_group", cap.SQS_FIFO_DEDUP_SCOPE, cite=HIGH_THROUGHPUT_GUIDE)
def _scope_group(ctx: ProbeContext) -> str:
    """With DeduplicationScope=messageGroup a deduplication id is unique per group: the same id
    in two groups is delivered twice, a repeat inside one group once."""
    url = ctx.fifo_queue("scopeg", DeduplicationScope="messageGroup")
    got_scope = ctx.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DeduplicationScope"])[
        "Attributes"
    ].get("DeduplicationScope")
    if got_scope != "messageGroup":
        raise CheckFailed(f"DeduplicationScope reads back as {got_scope!r}")
    send(ctx, url, "g1-first", "g1", MessageDeduplicationId="same")
    send(ctx, url, "g2-first", "g2", MessageDeduplicationId="same")
    send(ctx, url, "g1-again", "g1", MessageDeduplicationId="same")
    got = sorted(bodies(drain(ctx, url, 2)))
    if got != ["g1-first", "g2-first"]:
        raise CheckFailed(f"delivered {got}, expected g1-first and g2-first")
    return "one per group"


# == ReceiveRequestAttemptId =====================================================================


@check(
    "sqs.fifo_receive_attempt_id",
    cap.SQS_FIFO_RECEIVE_ATTEMPT,
    cite=SQS_API + "API_ReceiveMessage.html",
)
def _attempt_id(ctx: ProbeContext) -> str:
    """A ReceiveMessage retried with the same ReceiveRequestAttemptId during the visibility
    timeout "returns the same messages and receipt handles" (a lost response is recoverable),
    where a plain retry would find the group in flight and get nothing."""
    url = ctx.fifo_queue("attempt", VisibilityTimeout=30)
    send(ctx, url, "a1")
    send(ctx, url, "a2")

    def attempt() -> list[dict[str, Any]]:
        return ctx.receive(url, wait=1, max_messages=MAX_BATCH, ReceiveRequestAttemptId="try-1")

    first = attempt()
    if not first:
        raise CheckFailed("the first receive returned nothing")
    retry = attempt()
    ids = [m["MessageId"] for m in first]
    if [m["MessageId"] for m in retry] != ids:
        raise CheckFailed(f"the retry returned {bodies(retry)}, the first attempt {bodies(first)}")
    if [m["ReceiptHandle"] for m in retry] != [m["ReceiptHandle"] for m in first]:
        raise CheckFailed("the retry returned the same messages with new receipt handles")
    return f"retry returned the same {len(ids)} message(s) and handles"


# == FIFO dead-letter queues =====================================================================


@check("sqs.fifo_dlq_after_max", cap.SQS_FIFO_DLQ, cite=SQS_GUIDE + "sqs-dead-letter-queues.html")
def _fifo_dlq(ctx: ProbeContext) -> str:
    """A FIFO queue dead-letters into a FIFO DLQ after maxReceiveCount, keeping the message's
    group, and the group's next message is then delivered (the poison no longer blocks it)."""
    dlq = ctx.fifo_queue("dlq")
    src = ctx.fifo_queue("src", VisibilityTimeout=1, RedrivePolicy=ctx.redrive_to(dlq, 1))
    send(ctx, src, "poison")
    send(ctx, src, "next")
    if bodies(ctx.receive(src)) != ["poison"]:
        raise CheckFailed("the poison message was not delivered first")
    after = ctx.receive_one(src, wait=3, why="nothing from the group after the poison's timeout")
    if after["Body"] != "next":
        raise CheckFailed(f"{after['Body']!r} came instead of the group's next message")
    dead = ctx.receive_one(dlq, wait=2, why="the poison message is not in the FIFO DLQ")
    group = dead.get("Attributes", {}).get("MessageGroupId")
    if dead["Body"] != "poison" or group != GROUP:
        raise CheckFailed(f"the DLQ holds {dead['Body']!r} in group {group!r}")
    return "moved with its group; the group's next message flowed"


@check(
    "sqs.fifo_dlq_must_be_fifo", cap.SQS_FIFO_DLQ, cite=SQS_GUIDE + "sqs-dead-letter-queues.html"
)
def _fifo_dlq_type(ctx: ProbeContext) -> str:
    """ "The dead-letter queue of a FIFO queue must also be a FIFO queue": a FIFO queue whose
    RedrivePolicy targets a standard queue is rejected."""
    standard = ctx.queue("stddlq")
    code = expect_error(lambda: ctx.fifo_queue("mixed", RedrivePolicy=ctx.redrive_to(standard, 1)))
    return f"rejected with {code}"


@check("sqs.fifo_dlq_move_task", cap.SQS_FIFO_MOVE_TASK, cite=REDRIVE_GUIDE)
def _fifo_move(ctx: ProbeContext) -> str:
    """StartMessageMoveTask redrives a FIFO DLQ into a FIFO queue, and the moved message keeps
    its MessageGroupId."""
    dlq = ctx.fifo_queue("mvdlq")
    src = ctx.fifo_queue("mvsrc", RedrivePolicy=ctx.redrive_to(dlq, 5))
    send(ctx, dlq, "dead")
    ctx.sqs.start_message_move_task(SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src))
    if wait_for_visible(ctx, src, 1) != 1:
        raise CheckFailed("after 5 s the message is not back in the FIFO queue")
    back = ctx.receive_one(src)
    group = back.get("Attributes", {}).get("MessageGroupId")
    if back["Body"] != "dead" or group != GROUP:
        raise CheckFailed(f"moved back as {back['Body']!r} in group {group!r}")
    return "moved back with its group"
