"""Every probe check can fail: each one, fed the defect it exists to catch, reports it.

The endpoint is in-process moto (the ``unit`` tier), made wrong in one place by ``Tampered``,
or moto as it is where moto itself is wrong. moto has no StartMessageMoveTask, so
``MoveTasks`` adds one that follows AWS's documented rules over moto's queues; each of its
flags breaks one rule. Where the faithful variant exists the check is also shown to pass on
it, so a failure is the defect and not a broken check.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.conformance import CHECKS, Clients, ProbeResult, run_probe
from local.conformance.registry import MIB
from local.conformance.sqs_redrive import MAX_MOVE_RATE

pytestmark = pytest.mark.unit

# SQS checks from before the probe cited AWS; the accept-anything endpoint and the lying
# emulator in test_conformance.py are their failure tests.
LEGACY = frozenset(
    {
        "sqs.create_queue_attributes",
        "sqs.send_receive_delete",
        "sqs.message_attributes",
        "sqs.in_flight_hidden",
        "sqs.redelivery_after_timeout",
        "sqs.approximate_receive_count",
        "sqs.receive_timestamps",
        "sqs.redrive_policy_roundtrip",
        "sqs.dlq_not_before_max",
        "sqs.dlq_move_after_max",
        "sqs.start_message_move_task",
        "sqs.list_message_move_tasks",
        "sqs.long_poll_waits",
        "sqs.long_poll_wakes_early",
        "sqs.queue_default_wait",
        "sqs.change_visibility_release",
        "sqs.change_visibility_extend",
        "sqs.change_visibility_over_max_rejected",
        "sqs.garbage_handle_delete_rejected",
        "sqs.garbage_handle_visibility_rejected",
        "sqs.stale_handle_visibility_rejected",
        "sqs.delete_batch_partial_failure",
        "sqs.batch_over_10_rejected",
        "sqs.batch_ids_distinct",
        "sqs.receive_over_10_rejected",
        "sqs.message_1mib_accepted",
        "sqs.message_over_1mib_rejected",
        "sqs.batch_over_1mib_rejected",
        "sqs.approximate_counts",
        "sqs.delay_seconds",
        "sqs.purge_queue",
    }
)


# -- test doubles ------------------------------------------------------------------------------


def client_error(code: str, operation: str, message: str = "rejected by the test double") -> None:
    raise ClientError({"Error": {"Code": code, "Message": message}}, operation)


Override = Callable[..., Any]


class Tampered:
    """A real client with some operations replaced.

    ``Tampered(real, send_message=fn)``: ``fn(real, **kwargs)`` answers in place of
    ``real.send_message(**kwargs)``; every other attribute is the real client's.
    """

    def __init__(self, real: Any, **overrides: Override) -> None:
        self._real = real
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            fn = self._overrides[name]
            return lambda **kw: fn(self._real, **kw)
        return getattr(self._real, name)


class MoveTasks:
    """StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask as AWS documents
    them, over moto's queues: the source must be a DLQ, one running task per source, at most
    500 messages/s, and a moved message is a new message. Each flag breaks one rule."""

    def __init__(
        self,
        real: Any,
        *,
        check_source: bool = True,
        one_per_source: bool = True,
        max_rate: int | None = MAX_MOVE_RATE,
        honour_rate: bool = True,
        listed_status: str | None = None,
        keep_group: bool = True,
    ) -> None:
        self._real = real
        self.check_source = check_source
        self.one_per_source = one_per_source
        self.max_rate = max_rate
        self.honour_rate = honour_rate
        self.listed_status = listed_status
        self.keep_group = keep_group
        self._tasks: list[dict[str, Any]] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _url(self, arn: str) -> str:
        return str(self._real.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"])

    def _is_dlq(self, arn: str) -> bool:
        for url in self._real.list_queues().get("QueueUrls", []):
            attrs = self._real.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
            policy = attrs.get("Attributes", {}).get("RedrivePolicy")
            if policy and json.loads(policy)["deadLetterTargetArn"] == arn:
                return True
        return False

    def start_message_move_task(
        self, SourceArn: str, DestinationArn: str, MaxNumberOfMessagesPerSecond: int | None = None
    ) -> dict[str, Any]:
        op = "StartMessageMoveTask"
        if self.check_source and not self._is_dlq(SourceArn):
            client_error("InvalidParameterValue", op, "Source queue must be configured as a DLQ")
        rate = MaxNumberOfMessagesPerSecond
        if self.max_rate is not None and rate is not None and rate > self.max_rate:
            client_error("InvalidParameterValue", op, "MaxNumberOfMessagesPerSecond above 500")
        with self._lock:
            running = [t for t in self._tasks if t["SourceArn"] == SourceArn and not t["done"]]
            if self.one_per_source and running:
                client_error("UnsupportedOperation", op, "a task is already running")
            task = {
                "TaskHandle": uuid.uuid4().hex,
                "SourceArn": SourceArn,
                "DestinationArn": DestinationArn,
                "MaxNumberOfMessagesPerSecond": rate,
                "cancel": threading.Event(),
                "done": False,
            }
            self._tasks.insert(0, task)
        thread = threading.Thread(target=self._move, args=(task,), daemon=True)
        self._threads.append(thread)
        thread.start()
        return {"TaskHandle": task["TaskHandle"]}

    def _move(self, task: dict[str, Any]) -> None:
        try:
            self._move_until_done(task)
        except ClientError:  # the probe deleted the queues under a task it left running
            pass
        finally:
            task["done"] = True

    def _move_until_done(self, task: dict[str, Any]) -> None:
        src, dst = self._url(task["SourceArn"]), self._url(task["DestinationArn"])
        rate = task["MaxNumberOfMessagesPerSecond"] if self.honour_rate else None
        while not task["cancel"].is_set():
            msgs = self._real.receive_message(
                QueueUrl=src, MaxNumberOfMessages=1, AttributeNames=["All"]
            ).get("Messages", [])
            if not msgs:
                break
            msg = msgs[0]
            fifo: dict[str, str] = {}
            if dst.endswith(".fifo"):
                group = msg["Attributes"]["MessageGroupId"] if self.keep_group else "moved"
                fifo = {"MessageGroupId": group, "MessageDeduplicationId": msg["MessageId"]}
            self._real.send_message(QueueUrl=dst, MessageBody=msg["Body"], **fifo)
            self._real.delete_message(QueueUrl=src, ReceiptHandle=msg["ReceiptHandle"])
            if rate:
                task["cancel"].wait(1 / rate)

    def list_message_move_tasks(self, SourceArn: str) -> dict[str, Any]:
        results = []
        for t in [t for t in self._tasks if t["SourceArn"] == SourceArn]:
            status = (
                "CANCELLED" if t["cancel"].is_set() else "COMPLETED" if t["done"] else "RUNNING"
            )
            row = {k: t[k] for k in ("TaskHandle", "SourceArn", "DestinationArn")}
            row["Status"] = self.listed_status or status
            if t["MaxNumberOfMessagesPerSecond"] is not None:
                row["MaxNumberOfMessagesPerSecond"] = t["MaxNumberOfMessagesPerSecond"]
            results.append(row)
        return {"Results": results}

    def cancel_message_move_task(self, TaskHandle: str) -> dict[str, Any]:
        for t in self._tasks:
            if t["TaskHandle"] == TaskHandle:
                t["cancel"].set()
        return {}

    def close(self) -> None:
        """Stop every task before moto goes away."""
        for t in self._tasks:
            t["cancel"].set()
        for thread in self._threads:
            thread.join(timeout=5)


# -- tampering helpers ---------------------------------------------------------------------------


def without_attribute(
    name: str, when: Callable[[dict[str, Any]], bool] = lambda kw: True
) -> Override:
    """create_queue that silently drops the queue attribute ``name`` (where ``when(kwargs)``)."""

    def create_queue(real: Any, **kw: Any) -> Any:
        if when(kw):
            kw["Attributes"] = {k: v for k, v in kw.get("Attributes", {}).items() if k != name}
        return real.create_queue(**kw)

    return create_queue


def send_with(**fields: Callable[[dict[str, Any]], Any]) -> Override:
    """send_message whose kwargs are rewritten: ``field=fn(kwargs)``, None removes it."""

    def send_message(real: Any, **kw: Any) -> Any:
        for key, fn in fields.items():
            value = fn(kw)
            if value is None:
                kw.pop(key, None)
            else:
                kw[key] = value
        return real.send_message(**kw)

    return send_message


def receive_then(
    edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], **force: Any
) -> Override:
    """receive_message whose messages pass through ``edit`` (``force`` overrides kwargs)."""

    def receive_message(real: Any, **kw: Any) -> Any:
        resp = dict(real.receive_message(**{**kw, **force}))
        resp["Messages"] = edit(list(resp.get("Messages", [])))
        return resp

    return receive_message


def ignored(real: Any, **kw: Any) -> dict[str, Any]:
    """An operation the endpoint accepts and does nothing with."""
    return {}


def unique_dedup_id(kw: dict[str, Any]) -> str:
    return f"{kw.get('MessageDeduplicationId', '')}-{uuid.uuid4().hex}"


def per_group_id(kw: dict[str, Any]) -> str:
    return f"{kw['MessageDeduplicationId']}-{kw['MessageGroupId']}"


def with_count(count: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def edit(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**m, "Attributes": {**m.get("Attributes", {}), "ApproximateReceiveCount": count}}
            for m in msgs
        ]

    return edit


def slow_batch_poll(real: Any, **kw: Any) -> Any:
    """A long poll for several messages that waits 3.5 s before answering."""
    if kw.get("MaxNumberOfMessages", 1) > 1 and kw.get("WaitTimeSeconds", 0) > 0:
        time.sleep(3.5)
        kw["WaitTimeSeconds"] = 0
    return real.receive_message(**kw)


def batch_limit_off_by_one(real: Any, **kw: Any) -> Any:
    if sum(len(e["MessageBody"]) for e in kw["Entries"]) >= MIB:
        client_error("BatchRequestTooLong", "SendMessageBatch")
    return real.send_message_batch(**kw)


def rejects(operation: str) -> Override:
    def reject(real: Any, **kw: Any) -> Any:
        client_error("InvalidParameterValue", operation)

    return reject


def clamp_visibility(real: Any, **kw: Any) -> Any:
    """ChangeMessageVisibility that never rejects: values past the limit are cut to 43,000 s."""
    return real.change_message_visibility(
        **{**kw, "VisibilityTimeout": min(kw["VisibilityTimeout"], 43_000)}
    )


def clamp_size(real: Any, **kw: Any) -> Any:
    attrs = dict(kw.get("Attributes", {}))
    if "MaximumMessageSize" in attrs:
        attrs["MaximumMessageSize"] = str(min(int(attrs["MaximumMessageSize"]), MIB))
    return real.create_queue(**{**kw, "Attributes": attrs})


def fifo_suffix_added(real: Any, **kw: Any) -> Any:
    if kw.get("Attributes", {}).get("FifoQueue") == "true" and not kw["QueueName"].endswith(
        ".fifo"
    ):
        kw = {**kw, "QueueName": kw["QueueName"] + ".fifo"}
    return real.create_queue(**kw)


def reports_old_default_size(real: Any, **kw: Any) -> Any:
    resp = real.get_queue_attributes(**kw)
    if "MaximumMessageSize" in resp.get("Attributes", {}):
        resp["Attributes"]["MaximumMessageSize"] = "262144"
    return resp


def md5_of_nothing(real: Any, **kw: Any) -> Any:
    return real.send_message(**kw) | {"MD5OfMessageAttributes": "0" * 32}


def without_sequence_number(real: Any, **kw: Any) -> Any:
    resp = real.send_message_batch(**kw)
    ok = [{k: v for k, v in e.items() if k != "SequenceNumber"} for e in resp["Successful"]]
    return {**resp, "Successful": ok}


def standard_dlq(kw: dict[str, Any]) -> bool:
    policy = kw.get("Attributes", {}).get("RedrivePolicy")
    return bool(policy) and not json.loads(policy)["deadLetterTargetArn"].endswith(".fifo")


ALL_AT_ONCE = {"MaxNumberOfMessages": 10}

# -- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """Check ``check`` against an endpoint broken by ``sqs(real)``; its detail must say ``says``."""

    check: str
    says: str
    sqs: Callable[[Any], Any] = lambda real: real  # moto as it is
    why: str = ""

    def __str__(self) -> str:
        return f"{self.check}:{self.why or 'moto'}"


BROKEN: list[Broken] = [
    # standard queues
    Broken("sqs.md5_of_message_attributes", "send returned MD5OfMessageAttributes",
           lambda r: Tampered(r, send_message=md5_of_nothing), "wrong digest"),
    Broken("sqs.no_attribute_md5_without_attributes", "receive returned MD5OfMessageAttributes",
           lambda r: Tampered(r, receive_message=receive_then(
               lambda ms: [{**m, "MD5OfMessageAttributes": "0" * 32} for m in ms])),
           "digest of nothing"),
    Broken("sqs.long_poll_returns_first_message", "returned only after",
           lambda r: Tampered(r, receive_message=slow_batch_poll), "waits to fill the batch"),
    Broken("sqs.visibility_total_12h", "accepted; AWS rejects this",
           lambda r: Tampered(r, change_message_visibility=clamp_visibility), "limit per call"),
    Broken("sqs.visibility_total_12h", "InvalidParameterValue",
           lambda r: Tampered(r, change_message_visibility=rejects("ChangeMessageVisibility")),
           "rejects every extension"),
    Broken("sqs.delete_after_extension", "came back",
           lambda r: Tampered(r, delete_message=ignored), "delete ignored"),
    Broken("sqs.change_visibility_expired_handle", "accepted; AWS rejects this"),
    Broken("sqs.batch_1mib_total_accepted", "BatchRequestTooLong",
           lambda r: Tampered(r, send_message_batch=batch_limit_off_by_one), "limit off by one"),
    Broken("sqs.maximum_message_size_default", "MaximumMessageSize='262144'",
           lambda r: Tampered(r, get_queue_attributes=reports_old_default_size), "256 KiB default"),
    Broken("sqs.maximum_message_size_over_max_rejected", "accepted; AWS rejects this",
           lambda r: Tampered(r, create_queue=clamp_size), "clamps instead of rejecting"),
    Broken("sqs.queue_message_size_enforced", "accepted; AWS rejects this",
           lambda r: Tampered(r, create_queue=without_attribute("MaximumMessageSize")),
           "attribute ignored"),
    # dead-letter queues and move tasks
    Broken("sqs.chained_dlqs", "never reached the second DLQ",
           lambda r: Tampered(r, create_queue=without_attribute(
               "RedrivePolicy", lambda kw: "chain-b" in kw["QueueName"])),
           "a DLQ's own policy ignored"),
    Broken("sqs.dead_letter_source_arn", "DeadLetterQueueSourceArn=None"),
    Broken("sqs.redrive_resets_receive_count", "ApproximateReceiveCount='3'",
           lambda r: Tampered(MoveTasks(r), receive_message=receive_then(with_count("3"))),
           "count carried over"),
    Broken("sqs.move_task_source_must_be_dlq", "accepted; AWS rejects this",
           lambda r: MoveTasks(r, check_source=False), "any source"),
    Broken("sqs.move_task_one_per_source", "accepted; AWS rejects this",
           lambda r: MoveTasks(r, one_per_source=False), "two tasks"),
    Broken("sqs.move_task_rate_limit", "accepted; AWS rejects this",
           lambda r: MoveTasks(r, max_rate=None), "no maximum"),
    Broken("sqs.move_task_rate_limit", "moved within 1.5 s",
           lambda r: MoveTasks(r, honour_rate=False), "rate ignored"),
    Broken("sqs.move_task_running_observable", "status 'COMPLETED'",
           lambda r: MoveTasks(r, listed_status="COMPLETED"), "never RUNNING"),
    # FIFO
    Broken("sqs.fifo_name_suffix_required", "accepted; AWS rejects this",
           lambda r: Tampered(r, create_queue=fifo_suffix_added), "suffix added"),
    Broken("sqs.fifo_group_id_required", "accepted; AWS rejects this",
           lambda r: Tampered(r, send_message=send_with(
               MessageGroupId=lambda kw: kw.get("MessageGroupId", "default"))),
           "default group"),
    Broken("sqs.fifo_sequence_number", "send returned SequenceNumber",
           lambda r: Tampered(r, send_message_batch=without_sequence_number), "no SequenceNumber"),
    Broken("sqs.fifo_sequence_number", "does not increase"),  # moto draws random numbers
    Broken("sqs.fifo_per_message_delay_rejected", "accepted; AWS rejects this",
           lambda r: Tampered(r, send_message=send_with(DelaySeconds=lambda kw: None)),
           "delay dropped"),
    Broken("sqs.fifo_queue_delay", "delivered before",
           lambda r: Tampered(r, create_queue=without_attribute("DelaySeconds")), "delay ignored"),
    Broken("sqs.fifo_order_within_group", "delivered ['m4'",
           lambda r: Tampered(r, receive_message=receive_then(lambda ms: ms[::-1])), "reversed"),
    Broken("sqs.fifo_group_blocked_while_in_flight", "a2 was delivered while a1",
           lambda r: Tampered(r, receive_message=receive_then(lambda ms: ms, VisibilityTimeout=0)),
           "no group lock"),
    Broken("sqs.fifo_group_blocked_after_extension", "into a 4 s extension",
           lambda r: Tampered(r, change_message_visibility=ignored), "extension ignored"),
    Broken("sqs.fifo_redelivery_in_order", "a1 was not delivered first",
           lambda r: Tampered(r, receive_message=receive_then(lambda ms: ms[-1:], **ALL_AT_ONCE)),
           "out of order"),
    Broken("sqs.fifo_dedup_id_required", "accepted; AWS rejects this",
           lambda r: Tampered(r, send_message=send_with(MessageDeduplicationId=unique_dedup_id)),
           "id invented"),
    Broken("sqs.fifo_dedup_window", "delivered ['first', 'second']",
           lambda r: Tampered(r, send_message=send_with(MessageDeduplicationId=unique_dedup_id)),
           "no deduplication"),
    Broken("sqs.fifo_dedup_survives_delete", "deduplication id was delivered"),
    Broken("sqs.fifo_content_based_dedup", "delivered ['same', 'same', 'different']",
           lambda r: Tampered(r, send_message=send_with(MessageDeduplicationId=unique_dedup_id)),
           "body not hashed"),
    Broken("sqs.fifo_dedup_scope_queue", "delivered ['in-g1', 'in-g2']",
           lambda r: Tampered(r, send_message=send_with(MessageDeduplicationId=per_group_id)),
           "scoped per group"),
    Broken("sqs.fifo_dedup_scope_message_group", "delivered ['g1-first']"),
    Broken("sqs.fifo_receive_attempt_id", "the retry returned []"),
    Broken("sqs.fifo_dlq_after_max", "came instead of the group's next message",
           lambda r: Tampered(r, create_queue=without_attribute("RedrivePolicy")), "no redrive"),
    Broken("sqs.fifo_dlq_must_be_fifo", "accepted; AWS rejects this",
           lambda r: Tampered(r, create_queue=without_attribute("RedrivePolicy", standard_dlq)),
           "policy dropped"),
    Broken("sqs.fifo_dlq_move_task", "in group 'moved'",
           lambda r: MoveTasks(r, keep_group=False), "group lost"),
]  # fmt: skip

# What in-process moto gets right, and what only the faithful MoveTasks double gets right.
PASS_ON_MOTO = sorted(
    {b.check for b in BROKEN}
    - {b.check for b in BROKEN if b.why == ""}  # moto itself is the broken endpoint
    - {c for c in (b.check for b in BROKEN) if "move_task" in c or "redrive_resets" in c}
)
PASS_WITH_MOVE_TASKS = sorted(
    {b.check for b in BROKEN if "move_task" in b.check or "redrive_resets" in b.check}
    | {"sqs.start_message_move_task", "sqs.list_message_move_tasks"}
)


@pytest.fixture
def moto_sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def probe(sqs: Any, names: list[str]) -> list[ProbeResult]:
    wanted = [c for c in CHECKS if c.name in names]
    assert len(wanted) == len(set(names)), f"unknown check in {names}"
    return run_probe("in-process", clients=Clients(sqs, None, None), checks=wanted).results


def _inner(sqs: Any) -> Any:
    """The MoveTasks double under a Tampered wrapper, if any (to stop its threads)."""
    return sqs._real if isinstance(sqs, Tampered) and isinstance(sqs._real, MoveTasks) else sqs


def test_every_new_sqs_check_has_a_broken_endpoint_case():
    sqs_checks = {c.name for c in CHECKS if c.name.startswith("sqs.")}
    assert sqs_checks - LEGACY <= {b.check for b in BROKEN}
    assert sqs_checks >= LEGACY, "a legacy name no longer exists: update LEGACY"


@pytest.mark.parametrize("case", BROKEN, ids=str)
def test_a_broken_endpoint_fails_the_check(case: Broken, moto_sqs: Any):
    # GIVEN an endpoint with exactly one defect, WHEN the check runs, THEN it names the defect
    endpoint = case.sqs(moto_sqs)
    try:
        [result] = probe(endpoint, [case.check])
    finally:
        if isinstance(_inner(endpoint), MoveTasks):
            _inner(endpoint).close()
    assert not result.passed, f"{case.check} passed against: {case.why or 'moto'}"
    assert case.says in result.detail, result.detail


def test_the_same_checks_pass_where_moto_is_faithful(moto_sqs: Any):
    results = probe(moto_sqs, PASS_ON_MOTO)
    assert {r.name: r.detail for r in results if not r.passed} == {}


def test_move_task_checks_pass_on_a_faithful_move_task(moto_sqs: Any):
    endpoint = MoveTasks(moto_sqs)
    try:
        results = probe(endpoint, PASS_WITH_MOVE_TASKS)
    finally:
        endpoint.close()
    assert {r.name: r.detail for r in results if not r.passed} == {}


def test_a_disputed_check_passes_where_the_endpoint_follows_the_documentation(moto_sqs: Any):
    # ChangeMessageVisibility on an expired handle: moto accepts it (above); an endpoint that
    # answers MessageNotInflight, as the API reference documents, passes
    def not_in_flight(real: Any, **kw: Any) -> Any:
        client_error("AWS.SimpleQueueService.MessageNotInflight", "ChangeMessageVisibility")

    [result] = probe(
        Tampered(moto_sqs, change_message_visibility=not_in_flight),
        ["sqs.change_visibility_expired_handle"],
    )
    assert result.passed and result.disputed, result.detail
    assert "MessageNotInflight" in result.detail
