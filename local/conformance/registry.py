"""The probe's registry and the context each check runs in.

A check is a function registered with :func:`check`: it gets a :class:`ProbeContext` (clients,
a unique prefix, helpers that clean up after it) and returns a short detail string, or raises
:class:`CheckFailed`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

MIB = 1_048_576
MAX_BATCH = 10

#: Where the citations point: AWS's API references and developer guides.
SQS_API = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/"
SQS_GUIDE = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
DDB_API = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/"
DDB_GUIDE = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
ECS_API = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/"


CheckFn = Callable[["ProbeContext"], str]


class CheckFailed(Exception):
    """The endpoint did not behave as AWS does; the message says what it did instead."""


@dataclass(frozen=True)
class ProbeCheck:
    """A registered check: the capability it proves and the function that proves it.

    ``cite`` is the AWS documentation page the expected behaviour comes from. ``disputed``
    marks a check where AWS's documentation and what real SQS is reported to do differ: its
    docstring says how, and its failure says "differs from the documentation", not "wrong".
    """

    name: str
    capability: str
    fn: CheckFn
    doc: str
    cite: str = ""
    disputed: bool = False


class Register(Protocol):
    """The ``@check(...)`` decorator factory :func:`registrar` returns."""

    def __call__(
        self, name: str, capability: str, *, cite: str, disputed: bool = False
    ) -> Callable[[CheckFn], CheckFn]: ...


def registrar(into: list[ProbeCheck]) -> Register:
    """A ``@check(name, capability, cite=URL)`` decorator that registers into ``into``.

    A registered check returns a short detail string, or raises ``CheckFailed``. Its docstring
    says what AWS does; ``cite`` is the AWS documentation page that says so.
    """

    def check(
        name: str, capability: str, *, cite: str, disputed: bool = False
    ) -> Callable[[CheckFn], CheckFn]:
        def register(fn: CheckFn) -> CheckFn:
            doc = " ".join((fn.__doc__ or "").split())
            into.append(ProbeCheck(name, capability, fn, doc, cite, disputed))
            return fn

        return register

    return check


@dataclass
class Clients:
    """The boto3 clients a probe run uses."""

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

    def fifo_queue(self, label: str, **attributes: Any) -> str:
        """A fresh FIFO queue (the name ends in ``.fifo``, ``FifoQueue=true``)."""
        attrs = {k: v if isinstance(v, str) else json.dumps(v) for k, v in attributes.items()}
        url: str = self.sqs.create_queue(
            QueueName=f"{self._name(label)}.fifo", Attributes={"FifoQueue": "true", **attrs}
        )["QueueUrl"]
        with self._lock:
            self._queues.append(url)
        return url

    def redrive_to(self, dlq_url: str, max_receive_count: int) -> str:
        """A RedrivePolicy attribute value that dead-letters into ``dlq_url``."""
        return json.dumps(
            {"deadLetterTargetArn": self.arn(dlq_url), "maxReceiveCount": max_receive_count}
        )

    def arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def queue_with_dlq(
        self, label: str, max_receive_count: int, **attributes: Any
    ) -> tuple[str, str]:
        dlq = self.queue(f"{label}-dlq")
        src = self.queue(label, RedrivePolicy=self.redrive_to(dlq, max_receive_count), **attributes)
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


def md5(text: str) -> str:
    """The hex MD5 SQS reports for a body or attribute."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def attributes_md5(attributes: dict[str, dict[str, Any]]) -> str:
    """``MD5OfMessageAttributes`` as AWS computes it (SQS developer guide, "Calculating the MD5
    message digest for message attributes"): attributes sorted by name, each encoded as its
    name, data type, a transport byte (1 string/number, 2 binary) and its value, every
    variable-length part prefixed by its 4-byte big-endian length."""

    def part(raw: bytes) -> bytes:
        return len(raw).to_bytes(4, "big") + raw

    buf = b""
    for name in sorted(attributes):
        attr = attributes[name]
        buf += part(name.encode()) + part(attr["DataType"].encode())
        if "BinaryValue" in attr:
            buf += b"\x02" + part(bytes(attr["BinaryValue"]))
        else:
            buf += b"\x01" + part(str(attr["StringValue"]).encode())
    return hashlib.md5(buf, usedforsecurity=False).hexdigest()
