"""The conformance probe: does this endpoint behave the way the scenarios rely on?

Each check proves one capability (``core.capabilities``) on its own uniquely named queue or
table, with 1-2 s visibility timeouts so the whole probe takes a few seconds. A
``ProbeReport`` says which capabilities were proven; scenarios skip or shim the rest.

    python -m local.conformance [--endpoint URL] [--emulator KIND] [--json FILE]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core import capabilities as cap
from core.aws import client

log = logging.getLogger(__name__)

MIB = 1_048_576
MAX_BATCH = 10
PROBE_WORKERS = 8
# Probe calls fail fast: one attempt, short connects; long polls stay under the read timeout.
_PROBE_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=15
)


class CheckFailed(Exception):
    """The endpoint did not behave as AWS does; the message says what it did instead."""


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    capability: str
    passed: bool
    detail: str
    duration_s: float


@dataclass
class ProbeReport:
    """Every check's result, and the capabilities they prove."""

    endpoint: str
    emulator: str
    started_at: str
    duration_s: float
    results: list[CheckResult] = field(default_factory=list)

    def capabilities(self) -> frozenset[str]:
        """Capabilities whose every check passed."""
        failed = {r.capability for r in self.results if not r.passed}
        return frozenset({r.capability for r in self.results} - failed)

    def missing(self, needed: Iterable[str]) -> frozenset[str]:
        """Of ``needed``, what this endpoint did not prove."""
        return frozenset(needed) - self.capabilities()

    @property
    def passed(self) -> list[CheckResult]:
        return [r for r in self.results if r.passed]

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "emulator": self.emulator,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "passed": len(self.passed),
            "failed": len(self.failed),
            "capabilities": sorted(self.capabilities()),
            "missing_capabilities": sorted(
                {r.capability for r in self.results} - self.capabilities()
            ),
            "checks": [{**asdict(r), "duration_s": round(r.duration_s, 3)} for r in self.results],
        }

    def write_json(self, path: Path | str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProbeReport:
        return cls(
            endpoint=raw["endpoint"],
            emulator=raw["emulator"],
            started_at=raw["started_at"],
            duration_s=float(raw["duration_s"]),
            results=[CheckResult(**c) for c in raw["checks"]],
        )


# -- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    capability: str
    fn: Callable[[ProbeContext], str]
    doc: str


CHECKS: list[Check] = []


def check(
    name: str, capability: str
) -> Callable[[Callable[[ProbeContext], str]], Callable[[ProbeContext], str]]:
    """Register a check: it returns a short detail string, or raises ``CheckFailed``."""

    def register(fn: Callable[[ProbeContext], str]) -> Callable[[ProbeContext], str]:
        CHECKS.append(Check(name, capability, fn, (fn.__doc__ or "").strip()))
        return fn

    return register


@dataclass
class Clients:
    sqs: Any
    ddb: Any
    ecs: Any
    ec2: Any = None


class ProbeContext:
    """What a check gets: clients, a unique prefix, and helpers that clean up after it."""

    def __init__(self, clients: Clients, prefix: str) -> None:
        self.sqs = clients.sqs
        self.ddb = clients.ddb
        self.ecs = clients.ecs
        self.ec2 = clients.ec2
        self.prefix = prefix
        self._queues: list[str] = []
        self._tables: list[str] = []
        self._clusters: list[str] = []
        self._lock = threading.Lock()
        self._seq = 0

    def _name(self, label: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{self.prefix}-{label}-{self._seq}"

    # SQS ------------------------------------------------------------------------------------

    def queue(self, label: str, **attributes: Any) -> str:
        """A fresh queue; ``attributes`` values are stringified (``VisibilityTimeout=1``)."""
        attrs = {k: v if isinstance(v, str) else json.dumps(v) for k, v in attributes.items()}
        url: str = self.sqs.create_queue(QueueName=self._name(label), Attributes=attrs)["QueueUrl"]
        with self._lock:
            self._queues.append(url)
        return url

    def arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def queue_with_dlq(
        self, label: str, max_receive_count: int, **attributes: Any
    ) -> tuple[str, str]:
        dlq = self.queue(f"{label}-dlq")
        policy = {"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": max_receive_count}
        src = self.queue(label, RedrivePolicy=json.dumps(policy), **attributes)
        return src, dlq

    def receive(
        self, url: str, *, wait: int = 0, max_messages: int = 1, **kw: Any
    ) -> list[dict[str, Any]]:
        resp = self.sqs.receive_message(
            QueueUrl=url,
            WaitTimeSeconds=wait,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            **kw,
        )
        return list(resp.get("Messages", []))

    def receive_one(self, url: str, *, wait: int = 1, why: str = "") -> dict[str, Any]:
        msgs = self.receive(url, wait=wait)
        if not msgs:
            raise CheckFailed(f"no message received{': ' + why if why else ''}")
        return msgs[0]

    def counts(self, url: str) -> tuple[int, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    # DynamoDB ----------------------------------------------------------------------------------

    def table(self, label: str) -> str:
        name = self._name(label)
        self.ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with self._lock:
            self._tables.append(name)
        deadline = time.monotonic() + 10
        while self.ddb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise CheckFailed(f"table {name} not ACTIVE after 10 s")
            time.sleep(0.05)
        return name

    def cluster(self) -> str:
        name = self._name("cluster")
        self.ecs.create_cluster(clusterName=name)
        with self._lock:
            self._clusters.append(name)
        return name

    def cleanup(self) -> None:
        """Best effort: a probe must not leave resources behind, nor fail because of cleanup."""
        for url in self._queues:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.sqs.delete_queue(QueueUrl=url)
        for name in self._tables:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.ddb.delete_table(TableName=name)
        for name in self._clusters:
            with contextlib.suppress(ClientError, BotoCoreError):
                for arn in self.ecs.list_tasks(cluster=name).get("taskArns", []):
                    self.ecs.stop_task(cluster=name, task=arn)
                self.ecs.delete_cluster(cluster=name)


def expect_error(call: Callable[[], Any], *codes: str) -> str:
    """Run ``call``; it must fail with a ClientError (one of ``codes`` when given)."""
    try:
        call()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if codes and not any(c in code for c in codes):
            raise CheckFailed(
                f"rejected, but with {code!r} instead of {' / '.join(codes)}"
            ) from exc
        return code
    raise CheckFailed("accepted; AWS rejects this")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


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
    if sent.get("MD5OfMessageBody") != _md5(body):
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


# == DynamoDB ===================================================================================


def _key(mid: str) -> dict[str, Any]:
    return {"message_id": {"S": mid}}


@check("ddb.conditional_put", cap.DDB_CONDITIONAL)
def _conditional_put(ctx: ProbeContext) -> str:
    """put_item with attribute_not_exists fails on the second writer and keeps the first item."""
    table = ctx.table("cput")
    first = {**_key("m1"), "owner": {"S": "a"}}
    cond = {"ConditionExpression": "attribute_not_exists(message_id)"}
    ctx.ddb.put_item(TableName=table, Item=first, **cond)
    expect_error(
        lambda: ctx.ddb.put_item(TableName=table, Item={**_key("m1"), "owner": {"S": "b"}}, **cond),
        "ConditionalCheckFailedException",
    )
    owner = ctx.ddb.get_item(TableName=table, Key=_key("m1"), ConsistentRead=True)["Item"]["owner"]
    if owner != {"S": "a"}:
        raise CheckFailed(f"the losing writer overwrote the item (owner {owner})")
    return "second put rejected, first item kept"


@check("ddb.conditional_update_lease", cap.DDB_CONDITIONAL)
def _conditional_update(ctx: ProbeContext) -> str:
    """A lease takeover update succeeds only when the lease has expired."""
    table = ctx.table("lease")
    now = int(time.time())
    ctx.ddb.put_item(
        TableName=table,
        Item={**_key("m1"), "status": {"S": "STARTED"}, "lease_expires_at": {"N": str(now + 60)}},
    )
    update = {
        "TableName": table,
        "Key": _key("m1"),
        "UpdateExpression": "SET #o = :me, lease_expires_at = :lease",
        "ConditionExpression": "#s = :started AND lease_expires_at < :now",
        "ExpressionAttributeNames": {"#o": "owner", "#s": "status"},
        "ExpressionAttributeValues": {
            ":me": {"S": "b"},
            ":lease": {"N": str(now + 30)},
            ":started": {"S": "STARTED"},
            ":now": {"N": str(now)},
        },
    }
    expect_error(lambda: ctx.ddb.update_item(**update), "ConditionalCheckFailedException")
    ctx.ddb.update_item(
        TableName=table,
        Key=_key("m1"),
        UpdateExpression="SET lease_expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(now - 1)}},
    )
    ctx.ddb.update_item(**update)
    owner = ctx.ddb.get_item(TableName=table, Key=_key("m1"), ConsistentRead=True)["Item"]
    if owner.get("owner") != {"S": "b"}:
        raise CheckFailed("the takeover of an expired lease did not apply")
    return "live lease refused, expired lease taken over"


@check("ddb.atomic_counter", cap.DDB_CONDITIONAL)
def _atomic_counter(ctx: ProbeContext) -> str:
    """UpdateItem ADD counts attempts atomically and returns UPDATED_NEW."""
    table = ctx.table("counter")
    values = []
    for _ in range(2):
        resp = ctx.ddb.update_item(
            TableName=table,
            Key=_key("m1"),
            UpdateExpression="ADD attempts :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        values.append(resp.get("Attributes", {}).get("attempts", {}).get("N"))
    if values != ["1", "2"]:
        raise CheckFailed(f"attempts went {values}, expected ['1', '2']")
    return "1, then 2"


@check("ddb.return_values_on_condition_failure", cap.DDB_RETURN_VALUES_ON_FAILURE)
def _rvoccf(ctx: ProbeContext) -> str:
    """ReturnValuesOnConditionCheckFailure=ALL_OLD puts the current item in the error."""
    table = ctx.table("rvoccf")
    ctx.ddb.put_item(TableName=table, Item={**_key("m1"), "owner": {"S": "a"}})
    try:
        ctx.ddb.put_item(
            TableName=table,
            Item={**_key("m1"), "owner": {"S": "b"}},
            ConditionExpression="attribute_not_exists(message_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        item: Any = dict(exc.response).get("Item")
        if not item or item.get("owner") != {"S": "a"}:
            raise CheckFailed(f"the error carries no old item (Item={item})") from exc
        return "the error carries the current item"
    raise CheckFailed("the conditional put was accepted")


@check("ddb.transact_write", cap.DDB_TRANSACTIONS)
def _transact_ok(ctx: ProbeContext) -> str:
    """TransactWriteItems writes to both tables at once."""
    status, completed = ctx.table("tx-status"), ctx.table("tx-done")
    ctx.ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": status, "Item": {**_key("m1"), "status": {"S": "COMPLETED"}}}},
            {
                "Put": {
                    "TableName": completed,
                    "Item": _key("m1"),
                    "ConditionExpression": "attribute_not_exists(message_id)",
                }
            },
        ]
    )
    for table in (status, completed):
        if "Item" not in ctx.ddb.get_item(TableName=table, Key=_key("m1"), ConsistentRead=True):
            raise CheckFailed(f"item missing from {table}")
    return "both items written"


def _failing_transaction(ctx: ProbeContext, **extra: Any) -> tuple[str, str, ClientError]:
    status, completed = ctx.table("txf-status"), ctx.table("txf-done")
    ctx.ddb.put_item(TableName=completed, Item={**_key("m1"), "owner": {"S": "first"}})
    try:
        ctx.ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": status,
                        "Item": {**_key("m1"), "status": {"S": "COMPLETED"}},
                    }
                },
                {
                    "Put": {
                        "TableName": completed,
                        "Item": {**_key("m1"), "owner": {"S": "second"}},
                        "ConditionExpression": "attribute_not_exists(message_id)",
                        **extra,
                    }
                },
            ]
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code != "TransactionCanceledException":
            raise CheckFailed(f"failed with {code}, not TransactionCanceledException") from exc
        return status, completed, exc
    raise CheckFailed("the transaction succeeded although its condition was false")


def _reasons(exc: ClientError) -> list[dict[str, Any]]:
    reasons: Any = dict(exc.response).get("CancellationReasons")
    if reasons is None:
        raise CheckFailed("TransactionCanceledException carries no CancellationReasons") from exc
    return [dict(r) for r in reasons]


@check("ddb.transact_cancellation_reasons", cap.DDB_TRANSACTIONS)
def _transact_reasons(ctx: ProbeContext) -> str:
    """A failed condition cancels the transaction, with one CancellationReason per item."""
    _, _, exc = _failing_transaction(ctx)
    codes = [r.get("Code") for r in _reasons(exc)]
    if len(codes) != 2 or codes[1] != "ConditionalCheckFailed" or codes[0] not in {None, "None"}:
        raise CheckFailed(
            f"CancellationReasons codes {codes}, expected [None, ConditionalCheckFailed]"
        )
    return f"codes {codes}"


@check("ddb.transact_atomic", cap.DDB_TRANSACTIONS)
def _transact_atomic(ctx: ProbeContext) -> str:
    """A cancelled transaction writes nothing, not even its unconditional items."""
    status, completed, _ = _failing_transaction(ctx)
    if "Item" in ctx.ddb.get_item(TableName=status, Key=_key("m1"), ConsistentRead=True):
        raise CheckFailed("the unconditional item of a cancelled transaction was written")
    owner = ctx.ddb.get_item(TableName=completed, Key=_key("m1"), ConsistentRead=True)["Item"][
        "owner"
    ]
    if owner != {"S": "first"}:
        raise CheckFailed("the conditional item was overwritten")
    return "nothing written"


@check("ddb.transact_return_values_on_failure", cap.DDB_RETURN_VALUES_ON_FAILURE)
def _transact_rvoccf(ctx: ProbeContext) -> str:
    """In a transaction, ReturnValuesOnConditionCheckFailure=ALL_OLD fills the reason's Item."""
    _, _, exc = _failing_transaction(ctx, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    item = _reasons(exc)[1].get("Item")
    if not item or item.get("owner") != {"S": "first"}:
        raise CheckFailed(f"CancellationReasons[1].Item = {item}")
    return "the reason carries the current item"


@check("ddb.ttl_setting", cap.DDB_TTL)
def _ttl(ctx: ProbeContext) -> str:
    """UpdateTimeToLive is accepted and DescribeTimeToLive reports it."""
    table = ctx.table("ttl")
    ctx.ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    desc = ctx.ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if (
        desc.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}
        or desc.get("AttributeName") != "expires_at"
    ):
        raise CheckFailed(f"DescribeTimeToLive says {desc}")
    return f"{desc['TimeToLiveStatus']} on expires_at (expiry itself is not probed)"


# == ECS ========================================================================================

_ECS_EXIT_CODE = 7


def _network(ctx: ProbeContext) -> tuple[str, str]:
    """A subnet and security group for awsvpc; made-up ids when the endpoint has no EC2."""
    if ctx.ec2 is None:
        return "subnet-12345678", "sg-12345678"
    try:
        vpc = ctx.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
        subnet = ctx.ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
        group = ctx.ec2.create_security_group(
            GroupName=f"{ctx.prefix}-sg-{secrets.token_hex(2)}", Description="probe", VpcId=vpc
        )["GroupId"]
    except Exception:  # no usable EC2 here: RunTask gets ids it may reject, which is the finding
        return "subnet-12345678", "sg-12345678"
    return str(subnet), str(group)


def _run_probe_task(ctx: ProbeContext) -> tuple[str, dict[str, Any]]:
    cluster = ctx.cluster()
    family = f"{ctx.prefix}-task"
    ctx.ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "probe",
                "image": "public.ecr.aws/docker/library/busybox:latest",
                "command": ["sh", "-c", f"exit {_ECS_EXIT_CODE}"],
                "essential": True,
                "cpu": 256,
                "memory": 512,
            }
        ],
    )
    subnet, group = _network(ctx)
    resp = ctx.ecs.run_task(
        cluster=cluster,
        taskDefinition=family,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [group],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if resp.get("failures") or not resp.get("tasks"):
        raise CheckFailed(f"RunTask returned failures {resp.get('failures')}")
    return cluster, resp["tasks"][0]


@check("ecs.run_task_accepted", cap.ECS_API)
def _ecs_api(ctx: ProbeContext) -> str:
    """CreateCluster, RegisterTaskDefinition and a Fargate RunTask are accepted."""
    cluster, task = _run_probe_task(ctx)
    described = ctx.ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"]
    if not described:
        raise CheckFailed("DescribeTasks does not know the task RunTask returned")
    return f"task {described[0].get('lastStatus')}"


@check("ecs.run_task_runs_container", cap.ECS_RUNS_CONTAINERS)
def _ecs_runs(ctx: ProbeContext) -> str:
    """RunTask really runs the container: its `exit 7` shows up as the container's exit code."""
    cluster, task = _run_probe_task(ctx)
    deadline = time.monotonic() + 4
    last: dict[str, Any] = task
    while time.monotonic() < deadline:
        last = ctx.ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
        codes = [c.get("exitCode") for c in last.get("containers", [])]
        if _ECS_EXIT_CODE in codes:
            return f"container exited {_ECS_EXIT_CODE}"
        time.sleep(0.25)
    raise CheckFailed(
        f"no container exit code after 4 s (lastStatus {last.get('lastStatus')}): "
        "RunTask is bookkeeping only here"
    )


# -- running ------------------------------------------------------------------------------------


def make_clients(endpoint: str, region: str | None = None) -> Clients:
    kw: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region": region,
        "config": _PROBE_CLIENT_CONFIG,
    }
    return Clients(
        sqs=client("sqs", **kw),
        ddb=client("dynamodb", **kw),
        ecs=client("ecs", **kw),
        ec2=client("ec2", **kw),
    )


def _run_one(chk: Check, ctx: ProbeContext) -> CheckResult:
    start = time.monotonic()
    try:
        detail = chk.fn(ctx)
        passed = True
    except CheckFailed as exc:
        passed, detail = False, str(exc)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        passed, detail = False, f"{err.get('Code')}: {err.get('Message', '')}"
    except Exception as exc:  # a broken endpoint fails its check, never the probe
        passed, detail = False, f"{type(exc).__name__}: {exc}"
    result = CheckResult(
        chk.name, chk.capability, passed, _one_line(detail), time.monotonic() - start
    )
    log.info(
        "probe.check",
        extra={"check": chk.name, "passed": passed, "seconds": round(result.duration_s, 3)},
    )
    return result


def _one_line(text: str, limit: int = 240) -> str:
    """Error bodies can be whole HTML pages: keep one short line of text."""
    flat = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_probe(
    endpoint: str,
    *,
    emulator: str = "unknown",
    clients: Clients | None = None,
    checks: Iterable[Check] | None = None,
    only: str | None = None,
    region: str | None = None,
    workers: int = PROBE_WORKERS,
) -> ProbeReport:
    """Run the checks (in parallel, each on its own resources) and report, in registry order."""
    chosen = [c for c in (CHECKS if checks is None else list(checks)) if not only or only in c.name]
    ctx = ProbeContext(clients or make_clients(endpoint, region), f"probe-{secrets.token_hex(3)}")
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda c: _run_one(c, ctx), chosen))
    finally:
        ctx.cleanup()
    return ProbeReport(endpoint, emulator, started_at, time.monotonic() - start, results)


# -- rendering and the command ------------------------------------------------------------------


def render(report: ProbeReport, console: Any = None) -> None:
    """Print the report as a rich table."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console()
    table = Table(
        title=f"conformance: {report.emulator} at {report.endpoint} "
        f"({len(report.passed)}/{len(report.results)} passed, {report.duration_s:.1f} s)"
    )
    table.add_column("check")
    table.add_column("capability")
    table.add_column("result")
    table.add_column("s", justify="right")
    table.add_column("detail", overflow="fold")
    for r in report.results:
        mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(r.name, r.capability, mark, f"{r.duration_s:.2f}", r.detail)
    out.print(table)
    missing = sorted({r.capability for r in report.results} - report.capabilities())
    if missing:
        out.print(
            f"[yellow]missing capabilities[/]: {', '.join(missing)} "
            "(scenarios needing them are skipped or shimmed)"
        )


@contextlib.contextmanager
def _target(endpoint: str | None, emulator: str) -> Iterator[tuple[str, str, str]]:
    """(endpoint, emulator name, why) for the probe; starts an embedded one when needed."""
    from local.emulators import select

    if endpoint:
        from core.errors import EmulatorUnavailable
        from local.emulators.base import answers, identify

        if not answers(endpoint):
            raise EmulatorUnavailable(
                f"nothing answers at {endpoint}; start an emulator there or drop --endpoint"
            )
        yield endpoint, identify(endpoint), f"--endpoint {endpoint}"
        return
    with select(emulator) as sel:
        yield sel.endpoint, sel.emulator.name, sel.reason


def doctor(
    endpoint: str | None = None,
    emulator: str = "auto",
    json_path: Path | str | None = None,
    *,
    only: str | None = None,
    console: Any = None,
) -> ProbeReport:
    """What `scenario doctor` and `python -m local.conformance` do: select, probe, print, save."""
    from rich.console import Console

    out = console or Console()
    with _target(endpoint, emulator) as (url, name, why):
        out.print(f"[bold]emulator[/bold]: {name} at {url} - {why}")
        report = run_probe(url, emulator=name, only=only)
    render(report, out)
    if json_path:
        report.write_json(json_path)
        out.print(f"wrote {json_path}")
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core.errors import KitError

    parser = argparse.ArgumentParser(
        prog="python -m local.conformance",
        description="Probe an AWS endpoint for the behaviour the scenarios rely on.",
    )
    parser.add_argument("--endpoint", help="probe this endpoint (default: auto-select)")
    parser.add_argument(
        "--emulator", default="auto", help="auto | ministack | moto | localstack ..."
    )
    parser.add_argument("--json", dest="json_path", help="also write the report as JSON here")
    parser.add_argument("--only", help="run only checks whose name contains this")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    args = parser.parse_args(argv)
    try:
        report = doctor(args.endpoint, args.emulator, args.json_path, only=args.only)
    except KitError as exc:
        print(f"error: {exc}")
        return 3
    return 1 if args.strict and report.failed else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
