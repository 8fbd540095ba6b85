"""SQS checks on standard queues: basics, visibility, long polling, handles, limits.

Dead-letter queues and move tasks are in ``sqs_redrive``, FIFO queues in ``fifo``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from core import capabilities as cap
from local.conformance.registry import (
    MAX_BATCH,
    MIB,
    SQS_API,
    SQS_GUIDE,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    attributes_md5,
    expect_error,
    md5,
    registrar,
)

MAX_VISIBILITY_S = 43_200  # 12 hours

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)

# == SQS: basics ==================================================================================


@check("sqs.create_queue_attributes", cap.SQS_BASIC, cite=SQS_API + "API_CreateQueue.html")
def _create_queue_attributes(ctx: ProbeContext) -> str:
    """GetQueueAttributes returns the VisibilityTimeout and ReceiveMessageWaitTimeSeconds the
    queue was created with."""
    url = ctx.queue("attrs", VisibilityTimeout=7, ReceiveMessageWaitTimeSeconds=1, DelaySeconds=0)
    got = ctx.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    want = {"VisibilityTimeout": "7", "ReceiveMessageWaitTimeSeconds": "1"}
    wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
    if wrong:
        raise CheckFailed(f"attributes read back wrong: {wrong}")
    return "VisibilityTimeout and ReceiveMessageWaitTimeSeconds round-trip"


@check("sqs.send_receive_delete", cap.SQS_BASIC, cite=SQS_API + "API_SendMessage.html")
def _send_receive_delete(ctx: ProbeContext) -> str:
    """SendMessage returns the MD5 of the body; ReceiveMessage returns the same body and
    MessageId; a deleted message is not delivered again."""
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


@check("sqs.message_attributes", cap.SQS_BASIC, cite=SQS_GUIDE + "sqs-message-metadata.html")
def _message_attributes(ctx: ProbeContext) -> str:
    """String, Number and Binary message attributes come back as they were sent."""
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


@check(
    "sqs.md5_of_message_attributes",
    cap.SQS_ATTRIBUTE_MD5,
    cite=SQS_GUIDE + "sqs-message-metadata.html",
)
def _attributes_md5(ctx: ProbeContext) -> str:
    """SendMessage and ReceiveMessage return MD5OfMessageAttributes, computed over the sorted,
    length-prefixed attributes as the developer guide specifies, so clients can verify them."""
    url = ctx.queue("attrmd5")
    attrs: dict[str, dict[str, Any]] = {
        "kind": {"DataType": "String", "StringValue": "probe"},
        "n": {"DataType": "Number", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    want = attributes_md5(attrs)
    sent = ctx.sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
    if sent.get("MD5OfMessageAttributes") != want:
        raise CheckFailed(
            f"send returned MD5OfMessageAttributes={sent.get('MD5OfMessageAttributes')!r}"
        )
    got = ctx.receive_one(url).get("MD5OfMessageAttributes")
    if got != want:
        raise CheckFailed(f"receive returned MD5OfMessageAttributes={got!r}, expected {want}")
    return "send and receive report the documented digest"


@check(
    "sqs.no_attribute_md5_without_attributes",
    cap.SQS_ATTRIBUTE_MD5,
    cite=SQS_API + "API_SendMessage.html",
)
def _no_attributes_md5(ctx: ProbeContext) -> str:
    """A message sent without attributes has no MD5OfMessageAttributes, neither in the
    SendMessage result nor when received (a digest of nothing would fail client checks)."""
    url = ctx.queue("noattrmd5")
    sent = ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    if "MD5OfMessageAttributes" in sent:
        raise CheckFailed(
            f"send returned MD5OfMessageAttributes={sent['MD5OfMessageAttributes']!r}"
        )
    msg = ctx.receive_one(url)
    if "MD5OfMessageAttributes" in msg:
        raise CheckFailed(
            f"receive returned MD5OfMessageAttributes={msg['MD5OfMessageAttributes']!r}"
        )
    return "absent on send and on receive"


# == SQS: visibility and receive counts ===========================================================


@check("sqs.in_flight_hidden", cap.SQS_VISIBILITY, cite=SQS_GUIDE + "sqs-visibility-timeout.html")
def _in_flight_hidden(ctx: ProbeContext) -> str:
    """A received message is invisible to other receivers until its visibility timeout ends."""
    url = ctx.queue("hidden", VisibilityTimeout=30)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    ctx.receive_one(url)
    again = ctx.receive(url, wait=1)
    if again:
        raise CheckFailed("an in-flight message was delivered to a second receiver")
    return "second receive empty while in flight"


@check(
    "sqs.redelivery_after_timeout",
    cap.SQS_VISIBILITY,
    cite=SQS_GUIDE + "sqs-visibility-timeout.html",
)
def _redelivery(ctx: ProbeContext) -> str:
    """An undeleted message is delivered again after the visibility timeout, with a new receipt
    handle (each receive gets its own)."""
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


@check(
    "sqs.approximate_receive_count", cap.SQS_RECEIVE_COUNT, cite=SQS_API + "API_ReceiveMessage.html"
)
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


@check("sqs.receive_timestamps", cap.SQS_RECEIVE_COUNT, cite=SQS_API + "API_ReceiveMessage.html")
def _receive_timestamps(ctx: ProbeContext) -> str:
    """SentTimestamp and ApproximateFirstReceiveTimestamp are epoch milliseconds."""
    url = ctx.queue("ts")
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    attrs = ctx.receive_one(url).get("Attributes", {})
    now_ms = time.time() * 1000
    for key in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
        value = attrs.get(key)
        if value is None or abs(int(value) - now_ms) > 60_000:
            raise CheckFailed(f"{key}={value!r} is missing or not epoch ms near now")
    return "both present, epoch ms"


# == SQS: long polling ==========================================================================


@check("sqs.long_poll_waits", cap.SQS_LONG_POLL, cite=SQS_GUIDE + "sqs-short-and-long-polling.html")
def _long_poll_waits(ctx: ProbeContext) -> str:
    """A long poll (WaitTimeSeconds=1) on an empty queue waits the whole second, then returns
    an empty response."""
    url = ctx.queue("lpwait")
    start = time.monotonic()
    msgs = ctx.receive(url, wait=1)
    elapsed = time.monotonic() - start
    if msgs or elapsed < 0.8:
        raise CheckFailed(f"returned after {elapsed:.2f} s with {len(msgs)} message(s)")
    return f"waited {elapsed:.2f} s"


@check(
    "sqs.long_poll_wakes_early",
    cap.SQS_LONG_POLL,
    cite=SQS_GUIDE + "sqs-short-and-long-polling.html",
)
def _long_poll_wakes(ctx: ProbeContext) -> str:
    """A 5 s long poll returns as soon as a message arrives, not at the end of the wait."""
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


@check("sqs.queue_default_wait", cap.SQS_LONG_POLL, cite=SQS_API + "API_ReceiveMessage.html")
def _queue_default_wait(ctx: ProbeContext) -> str:
    """The queue's ReceiveMessageWaitTimeSeconds applies when a receive sets no WaitTimeSeconds."""
    url = ctx.queue("lpdefault", ReceiveMessageWaitTimeSeconds=1)
    start = time.monotonic()
    ctx.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    elapsed = time.monotonic() - start
    if elapsed < 0.8:
        raise CheckFailed(f"returned after {elapsed:.2f} s; the queue's 1 s wait was ignored")
    return f"waited {elapsed:.2f} s"


@check(
    "sqs.long_poll_returns_first_message",
    cap.SQS_LONG_POLL,
    cite=SQS_GUIDE + "sqs-short-and-long-polling.html",
)
def _long_poll_first(ctx: ProbeContext) -> str:
    """A long poll asking for up to 10 messages returns as soon as one arrives; it does not
    wait for the batch to fill or for the wait to end."""
    url = ctx.queue("lpfirst")
    timer = threading.Timer(0.3, lambda: ctx.sqs.send_message(QueueUrl=url, MessageBody="x"))
    start = time.monotonic()
    timer.start()
    try:
        msgs = ctx.receive(url, wait=5, max_messages=MAX_BATCH)
    finally:
        timer.join()
    elapsed = time.monotonic() - start
    if len(msgs) != 1:
        raise CheckFailed(f"{len(msgs)} message(s) after {elapsed:.2f} s; one was sent at 0.3 s")
    if elapsed > 3.0:
        raise CheckFailed(f"returned only after {elapsed:.2f} s (message sent at 0.3 s)")
    return f"returned 1 of up to 10 after {elapsed:.2f} s"


# == SQS: ChangeMessageVisibility =================================================================


@check(
    "sqs.change_visibility_release",
    cap.SQS_CHANGE_VISIBILITY,
    cite=SQS_GUIDE + "sqs-visibility-timeout.html",
)
def _cmv_release(ctx: ProbeContext) -> str:
    """ChangeMessageVisibility to 0 makes an in-flight message visible, so it is received again
    at once."""
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


@check(
    "sqs.change_visibility_extend",
    cap.SQS_CHANGE_VISIBILITY,
    cite=SQS_API + "API_ChangeMessageVisibility.html",
)
def _cmv_extend(ctx: ProbeContext) -> str:
    """ChangeMessageVisibility counts the new timeout from the call, so an extension (a
    heartbeat) keeps the message hidden past the queue's timeout."""
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


@check(
    "sqs.change_visibility_over_max_rejected",
    cap.SQS_VISIBILITY_LIMIT,
    cite=SQS_API + "API_ChangeMessageVisibility.html",
)
def _cmv_over_max(ctx: ProbeContext) -> str:
    """A visibility timeout above the 12-hour maximum (43,200 s) is rejected."""
    url = ctx.queue("cmvmax", VisibilityTimeout=30)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    msg = ctx.receive_one(url)
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=43_201
        )
    )
    return f"rejected with {code}"


@check(
    "sqs.visibility_total_12h",
    cap.SQS_VISIBILITY_LIMIT,
    cite=SQS_API + "API_ChangeMessageVisibility.html",
)
def _cmv_total(ctx: ProbeContext) -> str:
    """The 12-hour maximum counts from the receive, not from the call: "If you attempt to set
    the VisibilityTimeout to a value greater than the maximum time left, Amazon SQS returns an
    error." 2 s after the receive, 43,000 s is accepted and 43,200 s is rejected."""
    url = ctx.queue("total12h", VisibilityTimeout=30)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    handle = ctx.receive_one(url)["ReceiptHandle"]
    time.sleep(2.0)
    # within the limit: an endpoint that rejects every extension must not pass
    ctx.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=43_000)
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=MAX_VISIBILITY_S
        )
    )
    return f"43,000 s accepted, 43,200 s (past 12 h from the receive) rejected with {code}"


@check(
    "sqs.delete_after_extension",
    cap.SQS_CHANGE_VISIBILITY,
    cite=SQS_API + "API_ChangeMessageVisibility.html",
)
def _delete_after_extension(ctx: ProbeContext) -> str:
    """After a visibility extension the receipt handle stays valid until the extension ends:
    a DeleteMessage after the queue's own timeout, inside the extension, deletes the message."""
    url = ctx.queue("delext", VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    handle = ctx.receive_one(url)["ReceiptHandle"]
    ctx.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=2)
    time.sleep(1.2)  # past the queue's 1 s timeout, inside the 2 s extension
    ctx.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    again = ctx.receive(url, wait=2)  # past the end of the extension
    if again:
        raise CheckFailed("the message came back after it was deleted inside its extension")
    return "deleted inside the extension; not delivered again"


# == SQS: receipt handles ========================================================================


@check(
    "sqs.garbage_handle_delete_rejected",
    cap.SQS_RECEIPT_HANDLES,
    cite=SQS_API + "API_DeleteMessage.html",
)
def _garbage_delete(ctx: ProbeContext) -> str:
    """DeleteMessage with a made-up receipt handle fails with ReceiptHandleIsInvalid."""
    url = ctx.queue("garbage-del")
    code = expect_error(
        lambda: ctx.sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt-handle"),
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
    )
    return f"rejected with {code}"


@check(
    "sqs.garbage_handle_visibility_rejected",
    cap.SQS_RECEIPT_HANDLES,
    cite=SQS_API + "API_ChangeMessageVisibility.html",
)
def _garbage_cmv(ctx: ProbeContext) -> str:
    """ChangeMessageVisibility with a made-up receipt handle fails with ReceiptHandleIsInvalid."""
    url = ctx.queue("garbage-cmv")
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle="not-a-receipt-handle", VisibilityTimeout=5
        ),
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
    )
    return f"rejected with {code}"


@check(
    "sqs.stale_handle_visibility_rejected",
    cap.SQS_RECEIPT_HANDLES,
    cite=SQS_GUIDE + "sqs-visibility-timeout.html",
)
def _stale_cmv(ctx: ProbeContext) -> str:
    """Once the message was received again, the previous receive's handle is stale: extending
    the visibility with it is rejected (only the latest handle acts on the message)."""
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


@check(
    "sqs.change_visibility_expired_handle",
    cap.SQS_EXPIRED_HANDLE,
    cite=SQS_API + "API_ChangeMessageVisibility.html",
    disputed=True,
)
def _cmv_expired(ctx: ProbeContext) -> str:
    """Once the visibility timeout has run out (and nobody received the message again), the
    message is no longer in flight, and ChangeMessageVisibility with its handle fails.

    Disputed: the API reference lists MessageNotInflight ("The specified message isn't in
    flight") and says a change after the timeout "might result in an error"; real SQS has been
    reported to accept such a call. A pass means the endpoint does what the documentation says;
    a consumer must cope with either answer."""
    url = ctx.queue("expired", VisibilityTimeout=1)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x")
    handle = ctx.receive_one(url)["ReceiptHandle"]
    time.sleep(1.5)
    code = expect_error(
        lambda: ctx.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=10
        )
    )
    return f"rejected with {code}"


@check(
    "sqs.delete_batch_partial_failure",
    cap.SQS_RECEIPT_HANDLES,
    cite=SQS_API + "API_DeleteMessageBatch.html",
)
def _delete_batch_partial(ctx: ProbeContext) -> str:
    """DeleteMessageBatch reports each entry's result: a bad handle is a Failed entry and the
    good ones are still deleted."""
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


@check(
    "sqs.batch_over_10_rejected", cap.SQS_BATCH_LIMITS, cite=SQS_API + "API_SendMessageBatch.html"
)
def _batch_11(ctx: ProbeContext) -> str:
    """SendMessageBatch takes up to 10 entries: 11 fail with TooManyEntriesInBatchRequest."""
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


@check("sqs.batch_ids_distinct", cap.SQS_BATCH_LIMITS, cite=SQS_API + "API_SendMessageBatch.html")
def _batch_ids(ctx: ProbeContext) -> str:
    """A batch whose entry ids repeat fails with BatchEntryIdsNotDistinct."""
    url = ctx.queue("batchids")
    entries = [{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}]
    code = expect_error(
        lambda: ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries),
        "BatchEntryIdsNotDistinct",
    )
    return f"rejected with {code}"


@check(
    "sqs.receive_over_10_rejected", cap.SQS_BATCH_LIMITS, cite=SQS_API + "API_ReceiveMessage.html"
)
def _receive_11(ctx: ProbeContext) -> str:
    """MaxNumberOfMessages is 1 to 10: 11 is rejected."""
    url = ctx.queue("recv11")
    code = expect_error(lambda: ctx.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11))
    return f"rejected with {code}"


@check("sqs.message_1mib_accepted", cap.SQS_SIZE_LIMITS, cite=SQS_GUIDE + "quotas-messages.html")
def _size_1mib(ctx: ProbeContext) -> str:
    """A 1 MiB message (the maximum since August 2025) is accepted and received whole."""
    url = ctx.queue("size-ok", MaximumMessageSize=MIB)
    body = "x" * MIB
    ctx.sqs.send_message(QueueUrl=url, MessageBody=body)
    msg = ctx.receive_one(url)
    if len(msg["Body"]) != MIB:
        raise CheckFailed(f"received {len(msg['Body'])} bytes of {MIB}")
    return "1,048,576 bytes round-trip"


@check(
    "sqs.message_over_1mib_rejected", cap.SQS_SIZE_LIMITS, cite=SQS_GUIDE + "quotas-messages.html"
)
def _size_over(ctx: ProbeContext) -> str:
    """A message one byte over 1 MiB is rejected."""
    url = ctx.queue("size-over")
    code = expect_error(lambda: ctx.sqs.send_message(QueueUrl=url, MessageBody="x" * (MIB + 1)))
    return f"rejected with {code}"


@check(
    "sqs.batch_over_1mib_rejected", cap.SQS_SIZE_LIMITS, cite=SQS_API + "API_SendMessageBatch.html"
)
def _batch_size_over(ctx: ProbeContext) -> str:
    """A batch whose payloads total more than 1 MiB fails (BatchRequestTooLong), even when each
    entry is small enough."""
    url = ctx.queue("batchsize")
    entries = [{"Id": str(i), "MessageBody": "x" * (600 * 1024)} for i in range(2)]
    code = expect_error(lambda: ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries))
    return f"rejected with {code}"


@check(
    "sqs.batch_1mib_total_accepted",
    cap.SQS_SIZE_LIMITS,
    cite=SQS_API + "API_SendMessageBatch.html",
)
def _batch_size_exact(ctx: ProbeContext) -> str:
    """A batch of 10 entries whose payloads total exactly 1 MiB is accepted (the limit is on the
    sum, and 1 MiB itself is allowed)."""
    url = ctx.queue("batch1mib")
    sizes = [MIB // MAX_BATCH] * MAX_BATCH
    sizes[0] += MIB - sum(sizes)
    entries = [{"Id": str(i), "MessageBody": "x" * n} for i, n in enumerate(sizes)]
    resp = ctx.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    ok, failed = len(resp.get("Successful", [])), resp.get("Failed", [])
    if ok != MAX_BATCH:
        raise CheckFailed(f"{ok} of 10 entries accepted; failed: {failed[:2]}")
    return "10 entries, 1,048,576 bytes in total, all accepted"


@check(
    "sqs.maximum_message_size_default",
    cap.SQS_MAX_MESSAGE_SIZE,
    cite=SQS_API + "API_CreateQueue.html",
)
def _max_size_default(ctx: ProbeContext) -> str:
    """A queue created without MaximumMessageSize reports the default, 1,048,576 bytes (1 MiB;
    it was 256 KiB before August 2025)."""
    url = ctx.queue("maxsize")
    raw = ctx.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    got = raw["Attributes"].get("MaximumMessageSize")
    if got != str(MIB):
        raise CheckFailed(f"MaximumMessageSize={got!r}, expected {MIB} (1 MiB)")
    return "1,048,576"


@check(
    "sqs.maximum_message_size_over_max_rejected",
    cap.SQS_MAX_MESSAGE_SIZE,
    cite=SQS_API + "API_CreateQueue.html",
)
def _max_size_over(ctx: ProbeContext) -> str:
    """MaximumMessageSize is 1,024 to 1,048,576 bytes: a queue asking for 1 MiB + 1 is rejected,
    one asking for exactly 1 MiB is created."""
    ctx.queue("maxsize-ok", MaximumMessageSize=MIB)
    code = expect_error(
        lambda: ctx.queue("maxsize-over", MaximumMessageSize=MIB + 1), "InvalidAttributeValue"
    )
    return f"1 MiB accepted, 1 MiB + 1 rejected with {code}"


@check(
    "sqs.queue_message_size_enforced",
    cap.SQS_MAX_MESSAGE_SIZE,
    cite=SQS_API + "API_CreateQueue.html",
)
def _queue_size_enforced(ctx: ProbeContext) -> str:
    """A queue's own MaximumMessageSize is enforced: with 1,024 bytes, a 1,024-byte message is
    accepted and a 1,025-byte one is rejected."""
    url = ctx.queue("small", MaximumMessageSize=1024)
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    code = expect_error(lambda: ctx.sqs.send_message(QueueUrl=url, MessageBody="x" * 1025))
    return f"1,024 bytes accepted, 1,025 rejected with {code}"


# == SQS: counters, delay, purge ================================================================


@check("sqs.approximate_counts", cap.SQS_COUNTERS, cite=SQS_API + "API_GetQueueAttributes.html")
def _counts(ctx: ProbeContext) -> str:
    """ApproximateNumberOfMessages counts visible messages and ...NotVisible in-flight ones."""
    url = ctx.queue("counts", VisibilityTimeout=30)
    for i in range(3):
        ctx.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    ctx.receive_one(url)
    got = ctx.counts(url)
    if got != (2, 1):
        raise CheckFailed(f"visible/in-flight = {got}, expected (2, 1)")
    return "2 visible, 1 in flight"


@check("sqs.delay_seconds", cap.SQS_DELAY, cite=SQS_GUIDE + "sqs-message-timers.html")
def _delay(ctx: ProbeContext) -> str:
    """A message sent with DelaySeconds=1 (a message timer) is invisible for that second."""
    url = ctx.queue("delay")
    ctx.sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=1)
    if ctx.receive(url, wait=0):
        raise CheckFailed("delivered before its delay")
    ctx.receive_one(url, wait=3, why="not delivered within 3 s of a 1 s delay")
    return "hidden, then delivered"


@check("sqs.purge_queue", cap.SQS_PURGE, cite=SQS_API + "API_PurgeQueue.html")
def _purge(ctx: ProbeContext) -> str:
    """PurgeQueue deletes every message in the queue."""
    url = ctx.queue("purge")
    for i in range(3):
        ctx.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    ctx.sqs.purge_queue(QueueUrl=url)
    if ctx.receive(url, wait=1) or ctx.counts(url) != (0, 0):
        raise CheckFailed("messages survived PurgeQueue")
    return "queue empty"
