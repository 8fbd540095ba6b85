"""SQS checks: basics, visibility, DLQ, long polling, visibility changes, handles, limits."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from core import capabilities as cap
from local.conformance.registry import (
    MAX_BATCH,
    MIB,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    expect_error,
    md5,
    registrar,
)

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)

# == SQS: basics ==================================================================================


@check("sqs.create_queue_attributes", cap.SQS_BASIC)
def _create_queue_attributes(ctx: ProbeContext) -> str:
    """A queue keeps the VisibilityTimeout, wait and size attributes it was created with."""
    url = ctx.queue("attrs", VisibilityTimeout=7, ReceiveMessageWaitTimeSeconds=1, DelaySeconds=0)
    got = ctx.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    want = {"VisibilityTimeout": "7", "ReceiveMessageWaitTimeSeconds": "1"}
    wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
    if wrong:
        raise CheckFailed(f"attributes read back wrong: {wrong}")
    return "VisibilityTimeout and ReceiveMessageWaitTimeSeconds round-trip"


@check("sqs.send_receive_delete", cap.SQS_BASIC)
def _send_receive_delete(ctx: ProbeContext) -> str:
    """Send, receive (MD5 of the body matches), delete: the queue is then empty."""
    url = ctx.queue("basic", VisibilityTimeout=1)
    body = json.dumps({"id": "probe-1", "text": "héllo ✓"})
    sent = ctx.sqs.send_message(QueueUrl=url, MessageBody=body)
    if sent.get("MD5OfMessageBody") != md5(body):
        raise CheckFailed("MD5OfMessageBody on send does not match the body")
    msg = ctx.receive_one(url)
    if msg["Body"] != body or msg["MessageId"] != sent["MessageId"]:
        raise CheckFailed("received body or MessageId differs from what was sent")
    ctx.sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    time.sleep(1.2)  # past the visibility timeout: a deleted message must not come back
    if ctx.receive(url, wait=0):
        raise CheckFailed("the deleted message was delivered again")
    return "round trip with a unicode body; deleted message stays gone"


@check("sqs.message_attributes", cap.SQS_BASIC)
def _message_attributes(ctx: ProbeContext) -> str:
    """String, Number and Binary message attributes round-trip."""
    url = ctx.queue("mattrs")
    attrs = {
        "kind": {"DataType": "String", "StringValue": "probe"},
        "n": {"DataType": "Number", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
    got = ctx.receive_one(url).get("MessageAttributes", {})
    if (
        got.get("kind", {}).get("StringValue") != "probe"
        or got.get("n", {}).get("StringValue") != "42"
    ):
        raise CheckFailed(f"message attributes came back as {got}")
    if got.get("b", {}).get("BinaryValue") != b"\x00\x01":
        raise CheckFailed("the Binary attribute did not round-trip")
    return "String, Number, Binary"


# == SQS: visibility and receive counts ===========================================================


@check("sqs.in_flight_hidden", cap.SQS_VISIBILITY)
def _in_flight_hidden(ctx: ProbeContext) -> str:
    """A received message is invisible to other receivers until its visibility timeout ends."""
    url = ctx.queue("hidden", VisibilityTimeout=30)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    ctx.receive_one(url)
    again = ctx.receive(url, wait=1)
    if again:
        raise CheckFailed("an in-flight message was delivered to a second receiver")
    return "second receive empty while in flight"


@check("sqs.redelivery_after_timeout", cap.SQS_VISIBILITY)
def _redelivery(ctx: ProbeContext) -> str:
    """An undeleted message comes back after the visibility timeout, with a new receipt handle."""
    url = ctx.queue("redeliver", VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    first = ctx.receive_one(url)
    start = time.monotonic()
    second = ctx.receive_one(url, wait=3, why="not redelivered within 3 s of a 1 s timeout")
    if second["MessageId"] != first["MessageId"]:
        raise CheckFailed("a different message came back")
    if second["ReceiptHandle"] == first["ReceiptHandle"]:
        raise CheckFailed("the redelivery reused the old receipt handle")
    return f"redelivered {time.monotonic() - start:.1f} s later with a new receipt handle"


@check("sqs.approximate_receive_count", cap.SQS_RECEIVE_COUNT)
def _receive_count(ctx: ProbeContext) -> str:
    """ApproximateReceiveCount is 1 on the first receive and 2 on the redelivery."""
    url = ctx.queue("count", VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    counts = []
    for _ in range(2):
        msg = ctx.receive_one(url, wait=3)
        counts.append(int(msg.get("Attributes", {}).get("ApproximateReceiveCount", "0")))
    if counts != [1, 2]:
        raise CheckFailed(f"ApproximateReceiveCount went {counts}, expected [1, 2]")
    return "1, then 2"


@check("sqs.receive_timestamps", cap.SQS_RECEIVE_COUNT)
def _receive_timestamps(ctx: ProbeContext) -> str:
    """SentTimestamp and ApproximateFirstReceiveTimestamp are epoch ms close to now."""
    url = ctx.queue("ts")
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    attrs = ctx.receive_one(url).get("Attributes", {})
    now_ms = time.time() * 1000
    for key in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
        value = attrs.get(key)
        if value is None or abs(int(value) - now_ms) > 60_000:
            raise CheckFailed(f"{key}={value!r} is missing or not epoch ms near now")
    return "both present, epoch ms"


# == SQS: dead-letter queue ======================================================================


@check("sqs.redrive_policy_roundtrip", cap.SQS_DLQ)
def _redrive_policy(ctx: ProbeContext) -> str:
    """RedrivePolicy reads back with the DLQ ARN and maxReceiveCount it was given."""
    src, dlq = ctx.queue_with_dlq("policy", 5)
    raw = ctx.sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])
    policy = json.loads(raw["Attributes"].get("RedrivePolicy", "{}"))
    if (
        policy.get("deadLetterTargetArn") != ctx.arn(dlq)
        or int(policy.get("maxReceiveCount", 0)) != 5
    ):
        raise CheckFailed(f"RedrivePolicy read back as {policy}")
    return "deadLetterTargetArn and maxReceiveCount=5"


@check("sqs.dlq_not_before_max", cap.SQS_DLQ)
def _dlq_not_early(ctx: ProbeContext) -> str:
    """With maxReceiveCount=2, the message is still delivered on receive #2."""
    src, _dlq = ctx.queue_with_dlq("early", 2, VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=src, MessageBody="x")
    for n in (1, 2):
        ctx.receive_one(src, wait=3, why=f"receive #{n} of a maxReceiveCount=2 queue was empty")
    return "delivered on receives 1 and 2"


@check("sqs.dlq_move_after_max", cap.SQS_DLQ)
def _dlq_move(ctx: ProbeContext) -> str:
    """With maxReceiveCount=2, the receive after the 2nd moves the message to the DLQ."""
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


@check("sqs.start_message_move_task", cap.SQS_MOVE_TASK)
def _move_task(ctx: ProbeContext) -> str:
    """StartMessageMoveTask moves the DLQ's messages back to the source queue."""
    src, dlq = ctx.queue_with_dlq("redrive", 5)
    for i in range(2):
        ctx.sqs.send_message(QueueUrl=dlq, MessageBody=f"dead-{i}")
    ctx.sqs.start_message_move_task(SourceArn=ctx.arn(dlq), DestinationArn=ctx.arn(src))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if ctx.counts(src)[0] == 2:
            return "2 messages back in the source queue"
        time.sleep(0.1)
    raise CheckFailed(f"after 5 s the source queue holds {ctx.counts(src)[0]} of 2 messages")


@check("sqs.list_message_move_tasks", cap.SQS_MOVE_TASK)
def _list_move_tasks(ctx: ProbeContext) -> str:
    """ListMessageMoveTasks reports a started task."""
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


# == SQS: long polling ==========================================================================


@check("sqs.long_poll_waits", cap.SQS_LONG_POLL)
def _long_poll_waits(ctx: ProbeContext) -> str:
    """WaitTimeSeconds=1 on an empty queue waits about a second before returning nothing."""
    url = ctx.queue("lpwait")
    start = time.monotonic()
    msgs = ctx.receive(url, wait=1)
    elapsed = time.monotonic() - start
    if msgs or elapsed < 0.8:
        raise CheckFailed(f"returned after {elapsed:.2f} s with {len(msgs)} message(s)")
    return f"waited {elapsed:.2f} s"


@check("sqs.long_poll_wakes_early", cap.SQS_LONG_POLL)
def _long_poll_wakes(ctx: ProbeContext) -> str:
    """A 5 s long poll returns soon after a message is sent, not at the end of the wait."""
    url = ctx.queue("lpwake")
    timer = threading.Timer(0.3, lambda: ctx.sqs.send_message(QueueUrl=url, MessageBody="x"))
    start = time.monotonic()
    timer.start()
    try:
        msgs = ctx.receive(url, wait=5)
    finally:
        timer.join()
    elapsed = time.monotonic() - start
    if not msgs:
        raise CheckFailed(f"no message after {elapsed:.2f} s though one was sent at 0.3 s")
    if elapsed > 3.0:
        raise CheckFailed(f"woke only after {elapsed:.2f} s (message sent at 0.3 s)")
    return f"woke after {elapsed:.2f} s"


@check("sqs.queue_default_wait", cap.SQS_LONG_POLL)
def _queue_default_wait(ctx: ProbeContext) -> str:
    """ReceiveMessageWaitTimeSeconds on the queue applies when the receive does not set a wait."""
    url = ctx.queue("lpdefault", ReceiveMessageWaitTimeSeconds=1)
    start = time.monotonic()
    ctx.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    elapsed = time.monotonic() - start
    if elapsed < 0.8:
        raise CheckFailed(f"returned after {elapsed:.2f} s; the queue's 1 s wait was ignored")
    return f"waited {elapsed:.2f} s"


# == SQS: ChangeMessageVisibility =================================================================


@check("sqs.change_visibility_release", cap.SQS_CHANGE_VISIBILITY)
def _cmv_release(ctx: ProbeContext) -> str:
    """ChangeMessageVisibility to 0 makes an in-flight message receivable at once."""
    url = ctx.queue("release", VisibilityTimeout=30)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    msg = ctx.receive_one(url)
    ctx.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0
    )
    again = ctx.receive_one(url, wait=1, why="not receivable after visibility 0")
    if again["MessageId"] != msg["MessageId"]:
        raise CheckFailed("a different message came back")
    return "released and received again"


@check("sqs.change_visibility_extend", cap.SQS_CHANGE_VISIBILITY)
def _cmv_extend(ctx: ProbeContext) -> str:
    """Extending the visibility (a heartbeat) keeps the message hidden past the queue's timeout."""
    url = ctx.queue("extend", VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    msg = ctx.receive_one(url)
    ctx.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=4
    )
    time.sleep(1.5)
    if ctx.receive(url, wait=0):
        raise CheckFailed("redelivered after 1.5 s although the visibility was extended to 4 s")
    return "still hidden 1.5 s into a 4 s extension"


@check("sqs.change_visibility_over_max_rejected", cap.SQS_VISIBILITY_LIMIT)
def _cmv_over_max(ctx: ProbeContext) -> str:
    """A visibility timeout above 12 hours (43,200 s) is rejected."""
    url = ctx.queue("cmvmax", VisibilityTimeout=30)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    msg = ctx.receive_one(url)
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=43_201
        )
    )
    return f"rejected with {code}"


# == SQS: receipt handles ========================================================================


@check("sqs.garbage_handle_delete_rejected", cap.SQS_RECEIPT_HANDLES)
def _garbage_delete(ctx: ProbeContext) -> str:
    """DeleteMessage with a made-up receipt handle is rejected (ReceiptHandleIsInvalid)."""
    url = ctx.queue("garbage-del")
    code = expect_error(
        lambda: ctx.sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt-handle"),
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
    )
    return f"rejected with {code}"


@check("sqs.garbage_handle_visibility_rejected", cap.SQS_RECEIPT_HANDLES)
def _garbage_cmv(ctx: ProbeContext) -> str:
    """ChangeMessageVisibility with a made-up receipt handle is rejected."""
    url = ctx.queue("garbage-cmv")
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle="not-a-receipt-handle", VisibilityTimeout=5
        ),
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
    )
    return f"rejected with {code}"


@check("sqs.stale_handle_visibility_rejected", cap.SQS_RECEIPT_HANDLES)
def _stale_cmv(ctx: ProbeContext) -> str:
    """After a redelivery, extending the visibility with the old receipt handle is rejected."""
    url = ctx.queue("stale", VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    old = ctx.receive_one(url)
    ctx.receive_one(url, wait=3, why="not redelivered")
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=old["ReceiptHandle"], VisibilityTimeout=10
        )
    )
    return f"rejected with {code}"


@check("sqs.delete_batch_partial_failure", cap.SQS_RECEIPT_HANDLES)
def _delete_batch_partial(ctx: ProbeContext) -> str:
    """DeleteMessageBatch reports a bad handle per entry and still deletes the good ones."""
    url = ctx.queue("delbatch", VisibilityTimeout=30)
    for i in range(2):
        ctx.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    msgs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 3
    while len(msgs) < 2 and time.monotonic() < deadline:
        msgs += ctx.receive(url, wait=1, max_messages=2)
    if len(msgs) < 2:
        raise CheckFailed(f"received {len(msgs)} of 2 messages")
    entries = [{"Id": f"ok{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
    entries.append({"Id": "bad", "ReceiptHandle": "not-a-receipt-handle"})
    resp = ctx.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    ok = sorted(e["Id"] for e in resp.get("Successful", []))
    bad = [e["Id"] for e in resp.get("Failed", [])]
    if ok != ["ok0", "ok1"] or bad != ["bad"]:
        raise CheckFailed(f"Successful={ok}, Failed={bad}; expected ok0, ok1 / bad")
    return "2 deleted, 1 reported failed"


# == SQS: limits ================================================================================


@check("sqs.batch_over_10_rejected", cap.SQS_BATCH_LIMITS)
def _batch_11(ctx: ProbeContext) -> str:
    """SendMessageBatch with 11 entries is rejected; 10 is accepted."""
    url = ctx.queue("batch11")
    ten = [{"Id": str(i), "MessageBody": "x"} for i in range(MAX_BATCH)]
    resp = ctx.sqs.send_message_batch(QueueUrl=url, Entries=ten)
    if len(resp.get("Successful", [])) != MAX_BATCH:
        raise CheckFailed(f"a batch of 10 gave {len(resp.get('Successful', []))} successes")
    code = expect_error(
        lambda: ctx.sqs.send_message_batch(
            QueueUrl=url, Entries=[*ten, {"Id": "10", "MessageBody": "x"}]
        ),
        "TooManyEntriesInBatchRequest",
    )
    return f"10 accepted, 11 rejected with {code}"


@check("sqs.batch_ids_distinct", cap.SQS_BATCH_LIMITS)
def _batch_ids(ctx: ProbeContext) -> str:
    """A batch whose entry ids repeat is rejected."""
    url = ctx.queue("batchids")
    entries = [{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}]
    code = expect_error(
        lambda: ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries),
        "BatchEntryIdsNotDistinct",
    )
    return f"rejected with {code}"


@check("sqs.receive_over_10_rejected", cap.SQS_BATCH_LIMITS)
def _receive_11(ctx: ProbeContext) -> str:
    """ReceiveMessage with MaxNumberOfMessages=11 is rejected."""
    url = ctx.queue("recv11")
    code = expect_error(lambda: ctx.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11))
    return f"rejected with {code}"


@check("sqs.message_1mib_accepted", cap.SQS_SIZE_LIMITS)
def _size_1mib(ctx: ProbeContext) -> str:
    """A 1 MiB message (the AWS maximum since 2025) is accepted and received whole."""
    url = ctx.queue("size-ok", MaximumMessageSize=MIB)
    body = "x" * MIB
    ctx.sqs.send_message(QueueUrl=url, MessageBody=body)
    msg = ctx.receive_one(url)
    if len(msg["Body"]) != MIB:
        raise CheckFailed(f"received {len(msg['Body'])} bytes of {MIB}")
    return "1,048,576 bytes round-trip"


@check("sqs.message_over_1mib_rejected", cap.SQS_SIZE_LIMITS)
def _size_over(ctx: ProbeContext) -> str:
    """A message one byte over 1 MiB is rejected."""
    url = ctx.queue("size-over")
    code = expect_error(lambda: ctx.sqs.send_message(QueueUrl=url, MessageBody="x" * (MIB + 1)))
    return f"rejected with {code}"


@check("sqs.batch_over_1mib_rejected", cap.SQS_SIZE_LIMITS)
def _batch_size_over(ctx: ProbeContext) -> str:
    """A batch whose total exceeds 1 MiB is rejected, even if each entry is small enough."""
    url = ctx.queue("batchsize")
    entries = [{"Id": str(i), "MessageBody": "x" * (600 * 1024)} for i in range(2)]
    code = expect_error(lambda: ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries))
    return f"rejected with {code}"


# == SQS: counters, delay, purge ================================================================


@check("sqs.approximate_counts", cap.SQS_COUNTERS)
def _counts(ctx: ProbeContext) -> str:
    """ApproximateNumberOfMessages and ...NotVisible count visible and in-flight messages."""
    url = ctx.queue("counts", VisibilityTimeout=30)
    for i in range(3):
        ctx.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    ctx.receive_one(url)
    got = ctx.counts(url)
    if got != (2, 1):
        raise CheckFailed(f"visible/in-flight = {got}, expected (2, 1)")
    return "2 visible, 1 in flight"


@check("sqs.delay_seconds", cap.SQS_DELAY)
def _delay(ctx: ProbeContext) -> str:
    """A message sent with DelaySeconds=1 is hidden for about a second."""
    url = ctx.queue("delay")
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=1)
    if ctx.receive(url, wait=0):
        raise CheckFailed("delivered before its delay")
    ctx.receive_one(url, wait=3, why="not delivered within 3 s of a 1 s delay")
    return "hidden, then delivered"


@check("sqs.purge_queue", cap.SQS_PURGE)
def _purge(ctx: ProbeContext) -> str:
    """PurgeQueue removes every message."""
    url = ctx.queue("purge")
    for i in range(3):
        ctx.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    ctx.sqs.purge_queue(QueueUrl=url)
    if ctx.receive(url, wait=1) or ctx.counts(url) != (0, 0):
        raise CheckFailed("messages survived PurgeQueue")
    return "queue empty"
