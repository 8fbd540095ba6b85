"""One description of a scenario's isolated stack, shared by every provisioner.

The names and settings here are the same ones `terraform/modules/stack` declares, so the
API provisioner (fast) and the Terraform provisioner (faithful) build equal stacks.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from consumer.contract import (
    ENV_AWS_DEFAULT_REGION,
    ENV_AWS_REGION,
    ENV_EFFECTS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
    ENV_RUN_ID,
)
from core.aws import Endpoints
from core.errors import ConfigError

# AWS limits, named once.
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200
MAX_RECEIVE_WAIT_SECONDS = 20
MAX_MESSAGE_SIZE_BYTES = 1_048_576
TERRAFORM_MAX_MESSAGE_SIZE_BYTES = 262_144
MIN_RETENTION_SECONDS = 60
MAX_RETENTION_SECONDS = 1_209_600
MAX_RECEIVE_COUNT_LIMIT = 1000

# FIFO queues: SQS requires the suffix on the name, and these attribute values.
FIFO_SUFFIX = ".fifo"
DEDUP_SCOPE_QUEUE = "queue"
DEDUP_SCOPE_MESSAGE_GROUP = "messageGroup"
DEDUPLICATION_SCOPES = (DEDUP_SCOPE_QUEUE, DEDUP_SCOPE_MESSAGE_GROUP)
THROUGHPUT_PER_QUEUE = "perQueue"
THROUGHPUT_PER_MESSAGE_GROUP = "perMessageGroupId"
FIFO_THROUGHPUT_LIMITS = (THROUGHPUT_PER_QUEUE, THROUGHPUT_PER_MESSAGE_GROUP)

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")

# Every resource is tagged so that leftovers can be found and removed.
KIT_TAG = "sqs-kit"


def unique_prefix(base: str = "sqskit") -> str:
    """A short, unique, AWS-safe name prefix for one run (``sqskit-3f9a1c``)."""
    return f"{base}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class StackSpec:
    """What a scenario needs: a queue with a DLQ, the two idempotency tables, the effects table."""

    prefix: str
    visibility_timeout: int = 10
    receive_wait: int = 10
    max_receive_count: int = 5
    message_retention: int = 345_600  # 4 days, the SQS default
    # 14 days: longer than the source queue, so nothing expires first.
    dlq_retention: int = 1_209_600
    # SQS allows 1 MiB since 2025, but hashicorp/aws 5.100 (Terraform is the truth for AWS) can
    # declare at most 256 KiB; both provisioners default to what Terraform builds.
    max_message_size: int = TERRAFORM_MAX_MESSAGE_SIZE_BYTES
    sse: bool = True
    ttl_attribute: str = "expires_at"
    #: DynamoDB point-in-time recovery on the tables. Off by default, as for a run's stack in
    #: Terraform (scenarios/terraform): its tables live minutes, and deleting a table with PITR
    #: on leaves a system backup behind for every run.
    point_in_time_recovery: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    #: a FIFO queue, and a FIFO DLQ with it (SQS refuses a standard DLQ for a FIFO queue)
    fifo: bool = False
    #: FIFO only: SQS deduplicates by a SHA-256 of the body when no deduplication id is sent
    content_based_deduplication: bool = False
    #: FIFO only: the deduplication window is per ``queue`` or per ``messageGroup``
    deduplication_scope: str = DEDUP_SCOPE_QUEUE
    #: FIFO only: the throughput quota is ``perQueue``, or ``perMessageGroupId`` (high throughput)
    fifo_throughput_limit: str = THROUGHPUT_PER_QUEUE

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ConfigError(
                f"stack prefix {self.prefix!r} is invalid: use 2-40 lowercase letters, digits "
                "or '-', starting with a letter"
            )
        _check_range(
            "visibility_timeout", self.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS
        )
        _check_range("receive_wait", self.receive_wait, 0, MAX_RECEIVE_WAIT_SECONDS)
        _check_range("max_receive_count", self.max_receive_count, 1, MAX_RECEIVE_COUNT_LIMIT)
        _check_range(
            "message_retention",
            self.message_retention,
            MIN_RETENTION_SECONDS,
            MAX_RETENTION_SECONDS,
        )
        _check_range(
            "dlq_retention", self.dlq_retention, MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS
        )
        _check_range("max_message_size", self.max_message_size, 1024, MAX_MESSAGE_SIZE_BYTES)
        if self.dlq_retention < self.message_retention:
            raise ConfigError(
                "dlq_retention must be at least message_retention, or dead letters expire "
                "before the messages they came from"
            )
        check_fifo_settings(
            fifo=self.fifo,
            content_based_deduplication=self.content_based_deduplication,
            deduplication_scope=self.deduplication_scope,
            fifo_throughput_limit=self.fifo_throughput_limit,
        )

    @property
    def suffix(self) -> str:
        """``.fifo`` for a FIFO stack's queues (SQS requires it), ``""`` otherwise."""
        return FIFO_SUFFIX if self.fifo else ""

    @property
    def queue_name(self) -> str:
        return f"{self.prefix}-queue{self.suffix}"

    @property
    def dlq_name(self) -> str:
        return f"{self.prefix}-dlq{self.suffix}"

    def fifo_attributes(self) -> dict[str, str]:
        """The source queue's FIFO attributes for CreateQueue (``{}`` on a standard queue)."""
        if not self.fifo:
            return {}
        return {
            "FifoQueue": "true",
            "ContentBasedDeduplication": str(self.content_based_deduplication).lower(),
            "DeduplicationScope": self.deduplication_scope,
            "FifoThroughputLimit": self.fifo_throughput_limit,
        }

    @property
    def status_table(self) -> str:
        return f"{self.prefix}-message-status"

    @property
    def completed_table(self) -> str:
        return f"{self.prefix}-message-completed"

    @property
    def effects_table(self) -> str:
        """Where consumers write one item per applied side effect (``consumer.contract``)."""
        return f"{self.prefix}-effects"

    @property
    def tables(self) -> tuple[str, str, str]:
        """Every table of the stack: status, completed, effects."""
        return (self.status_table, self.completed_table, self.effects_table)

    @property
    def all_tags(self) -> dict[str, str]:
        return {"managed-by": KIT_TAG, "sqs-kit-stack": self.prefix, **self.tags}


@dataclass(frozen=True)
class StackHandle:
    """What a provisioned stack is: every address a producer, consumer or oracle needs."""

    prefix: str
    region: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    status_table: str
    completed_table: str
    endpoint_url: str | None = None
    provisioner: str = "api"
    #: None only for a stack made before the kit had an effects table (its consumers then
    #: apply no effect the oracle can count)
    effects_table: str | None = None
    #: services reached elsewhere than ``endpoint_url`` (a split: DynamoDB on another emulator)
    service_endpoints: tuple[tuple[str, str], ...] = ()

    @property
    def endpoints(self) -> Endpoints:
        """Where every service of this stack is reached."""
        return Endpoints(self.endpoint_url, self.service_endpoints)

    def consumer_env(self) -> dict[str, str]:
        """The consumer's environment for this stack (`python -m consumer` reads these).

        ``SQSKIT_RUN_ID`` is the stack prefix: a plugged-in consumer can tag what it writes.
        With per-service endpoints, ``AWS_ENDPOINT_URL`` is the SQS one and
        ``AWS_ENDPOINT_URL_<SERVICE>`` names each service's own (botocore prefers it).
        """
        env = {
            ENV_QUEUE_URL: self.queue_url,
            ENV_AWS_REGION: self.region,
            ENV_AWS_DEFAULT_REGION: self.region,
            ENV_MESSAGE_STATUS_TABLE: self.status_table,
            ENV_MESSAGE_COMPLETED_TABLE: self.completed_table,
            ENV_RUN_ID: self.prefix,
        }
        if self.effects_table:
            env[ENV_EFFECTS_TABLE] = self.effects_table
        env.update(self.endpoints.env())
        return env

    def dotenv(self) -> str:
        """The `.env` text that `make local-up` and `terraform apply` write."""
        values = {**self.consumer_env(), "DLQ_ARN": self.dlq_arn, "DLQ_URL": self.dlq_url}
        # A main stack is not a run; the region is AWS_REGION's alone.
        for key in (ENV_AWS_DEFAULT_REGION, ENV_RUN_ID):
            values.pop(key, None)
        return "".join(f"{k}={v}\n" for k, v in sorted(values.items()))


def check_fifo_settings(
    *,
    fifo: bool,
    content_based_deduplication: bool,
    deduplication_scope: str,
    fifo_throughput_limit: str,
) -> None:
    """The FIFO settings SQS accepts, checked before anything is created (a ConfigError).

    The values are SQS's; ``perMessageGroupId`` (high throughput) is allowed only with
    ``DeduplicationScope=messageGroup`` (SetQueueAttributes, FifoThroughputLimit), and none of
    them means anything on a standard queue, so a non-default value there is refused.
    """
    if deduplication_scope not in DEDUPLICATION_SCOPES:
        raise ConfigError(
            f"deduplication_scope={deduplication_scope!r} is invalid: choose one of "
            f"{', '.join(DEDUPLICATION_SCOPES)}"
        )
    if fifo_throughput_limit not in FIFO_THROUGHPUT_LIMITS:
        raise ConfigError(
            f"fifo_throughput_limit={fifo_throughput_limit!r} is invalid: choose one of "
            f"{', '.join(FIFO_THROUGHPUT_LIMITS)}"
        )
    if not fifo:
        wrong = [
            name
            for name, value, default in (
                ("content_based_deduplication", content_based_deduplication, False),
                ("deduplication_scope", deduplication_scope, DEDUP_SCOPE_QUEUE),
                ("fifo_throughput_limit", fifo_throughput_limit, THROUGHPUT_PER_QUEUE),
            )
            if value != default
        ]
        if wrong:
            raise ConfigError(
                f"{', '.join(wrong)} applies to FIFO queues only: set fifo=True, or leave "
                "the default"
            )
        return
    if (
        fifo_throughput_limit == THROUGHPUT_PER_MESSAGE_GROUP
        and deduplication_scope != DEDUP_SCOPE_MESSAGE_GROUP
    ):
        raise ConfigError(
            f"fifo_throughput_limit={THROUGHPUT_PER_MESSAGE_GROUP} (high throughput) needs "
            f"deduplication_scope={DEDUP_SCOPE_MESSAGE_GROUP}, not {deduplication_scope}"
        )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range: allowed {low}..{high}")
