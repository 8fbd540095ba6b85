"""Guardrails for the `aws` target: explicit confirmation, a plan with a cost, guaranteed teardown.

Nothing is created on AWS unless the user chose ``--target aws`` *and* confirmed with ``--yes``
or ``SQSKIT_AWS_CONFIRM=1``. Before anything starts, the CLI prints :func:`preflight_text`:
what will be created, in which account and region, and a rough cost. :func:`teardown_guard`
makes teardown happen on success, on an exception and on Ctrl-C/SIGTERM; a Ctrl-C *during*
teardown is deferred so the stack is not abandoned half-destroyed.

Library code never prints: every function here returns text or takes an ``echo`` callable.
"""

from __future__ import annotations

import logging
import os
import signal as signals
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from core.errors import ConfigError, InfrastructureError

log = logging.getLogger(__name__)

CONFIRM_ENV = "SQSKIT_AWS_CONFIRM"
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"", "0", "false", "no"})

# List prices, us-east-1, on-demand (November 2026 price pages). A *rough* estimate: other
# regions cost up to ~20 % more (us-west-1 included), and free tiers are ignored.
FARGATE_VCPU_HOUR_USD = 0.04048
FARGATE_GB_HOUR_USD = 0.004445
FARGATE_MIN_BILLED_MINUTES = 1.0
SQS_PER_MILLION_REQUESTS_USD = 0.40
DYNAMODB_PER_MILLION_WRITES_USD = 0.625
DYNAMODB_PER_MILLION_READS_USD = 0.125
LOGS_INGEST_PER_GB_USD = 0.50
#: rough per-message request counts: send, receive, delete (+ heartbeats); 3 writes, 2 reads
SQS_REQUESTS_PER_MESSAGE = 4
DDB_WRITES_PER_MESSAGE = 3
DDB_READS_PER_MESSAGE = 2
LOG_BYTES_PER_MESSAGE = 1200


class _Teardownable(Protocol):
    def teardown(self) -> None: ...


@dataclass(frozen=True)
class Identity:
    """Who and where: the account the credentials belong to, and the region."""

    account: str
    arn: str
    region: str


@dataclass(frozen=True)
class CostEstimate:
    """A rough upper-bound cost of one run, in USD, broken down by service."""

    fargate: float
    sqs: float
    dynamodb: float
    logs: float

    @property
    def total(self) -> float:
        return self.fargate + self.sqs + self.dynamodb + self.logs

    def lines(self) -> list[str]:
        return [
            f"  Fargate tasks   ~${self.fargate:.4f}",
            f"  SQS requests    ~${self.sqs:.4f}",
            f"  DynamoDB        ~${self.dynamodb:.4f}",
            f"  CloudWatch Logs ~${self.logs:.4f}",
            f"  total           ~${self.total:.4f} (rough: us-east-1 list prices, no free tier)",
        ]


def confirmation_given(yes: bool, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``--yes`` was passed or ``SQSKIT_AWS_CONFIRM`` is set to a true value."""
    if yes:
        return True
    raw = (environ if environ is not None else os.environ).get(CONFIRM_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{CONFIRM_ENV}={raw!r} is invalid: use 1/true/yes or 0/false/no")


def require_confirmation(
    *, target: str, yes: bool, endpoint_url: str | None, environ: Mapping[str, str] | None = None
) -> None:
    """Refuse to touch real AWS without ``--target aws`` and an explicit confirmation.

    An endpoint override (an emulator standing in for AWS) creates nothing on AWS, so it
    needs no confirmation.
    """
    if target != "aws":
        raise ConfigError(f"AWS resources are only created with --target aws (got {target!r})")
    if endpoint_url:
        return
    if not confirmation_given(yes, environ):
        raise ConfigError(
            "refusing to create AWS resources without an explicit confirmation: "
            f"pass --yes or set {CONFIRM_ENV}=1"
        )


def caller_identity(sts: Any, region: str) -> Identity:
    """The account and principal behind the credentials (sts get-caller-identity)."""
    try:
        who = sts.get_caller_identity()
    except NoCredentialsError as exc:
        raise ConfigError(
            "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE"
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        raise InfrastructureError(f"sts get-caller-identity failed: {exc}") from exc
    return Identity(account=str(who["Account"]), arn=str(who["Arn"]), region=region)


def estimate_cost(
    *,
    consumers: int,
    minutes: float,
    messages: int,
    cpu_units: int = 256,
    memory_mib: int = 512,
) -> CostEstimate:
    """A rough cost: Fargate task time plus per-message SQS, DynamoDB and log charges."""
    if consumers < 0 or minutes < 0 or messages < 0:
        raise ConfigError("consumers, minutes and messages must not be negative")
    billed_hours = max(minutes, FARGATE_MIN_BILLED_MINUTES) / 60.0
    per_task_hour = (cpu_units / 1024) * FARGATE_VCPU_HOUR_USD + (
        memory_mib / 1024
    ) * FARGATE_GB_HOUR_USD
    return CostEstimate(
        fargate=consumers * billed_hours * per_task_hour,
        sqs=messages * SQS_REQUESTS_PER_MESSAGE / 1e6 * SQS_PER_MILLION_REQUESTS_USD,
        dynamodb=messages
        * (
            DDB_WRITES_PER_MESSAGE / 1e6 * DYNAMODB_PER_MILLION_WRITES_USD
            + DDB_READS_PER_MESSAGE / 1e6 * DYNAMODB_PER_MILLION_READS_USD
        ),
        logs=messages * LOG_BYTES_PER_MESSAGE / 1e9 * LOGS_INGEST_PER_GB_USD,
    )


def planned_resources(prefix: str, *, consumers: int, image: str) -> list[str]:
    """What one scenario run creates (the per-scenario Terraform stack plus the tasks)."""
    return [
        f"Terraform workspace {prefix} (scenarios/terraform), destroyed at the end",
        f"SQS queue {prefix}-queue and DLQ {prefix}-dlq (SSE on)",
        f"DynamoDB tables {prefix}-message-status, {prefix}-message-completed (on-demand)",
        f"ECS task definition + task role for {prefix}, logging to CloudWatch",
        f"up to {consumers} Fargate task(s) of {image} in the public subnets (public IP on)",
        f"every resource tagged managed-by=sqs-kit, sqs-kit-stack={prefix}",
    ]


def preflight_text(
    identity: Identity,
    *,
    prefix: str,
    consumers: int,
    image: str,
    estimate: CostEstimate,
) -> str:
    """The block printed before anything is created."""
    lines = [
        f"About to create on AWS account {identity.account} in {identity.region}",
        f"  as {identity.arn}",
        *(f"  - {item}" for item in planned_resources(prefix, consumers=consumers, image=image)),
        "Rough cost of this run:",
        *estimate.lines(),
        f"Leftovers, if any: scenario cleanup --target aws --prefix {prefix}",
    ]
    return "\n".join(lines)


@contextmanager
def teardown_guard(
    target: _Teardownable,
    *,
    keep: bool = False,
    echo: Callable[[str], None] | None = None,
    cleanup_hint: str = "scenario cleanup --target aws",
) -> Iterator[None]:
    """Run the body; tear ``target`` down afterwards, whatever happened (unless ``keep``).

    SIGINT and SIGTERM raise KeyboardInterrupt in the body. While teardown runs they are
    deferred: teardown finishes first, then the interrupt propagates.
    """
    say = echo or (lambda _msg: None)
    in_teardown = threading.Event()
    interrupted: list[int] = []
    installed: dict[signals.Signals, Any] = {}

    def _handler(signum: int, _frame: FrameType | None) -> None:
        interrupted.append(signum)
        if in_teardown.is_set():
            say("teardown in progress; it will finish before exiting")
            return
        raise KeyboardInterrupt(signals.Signals(signum).name)

    if threading.current_thread() is threading.main_thread():
        for sig in (signals.SIGINT, signals.SIGTERM):
            installed[sig] = signals.signal(sig, _handler)
    try:
        yield
    finally:
        in_teardown.set()
        try:
            if keep:
                say(f"--keep: the stack is left running; remove it with `{cleanup_hint}`")
            else:
                try:
                    target.teardown()
                except Exception:
                    log.exception("aws.teardown_failed")
                    say(f"teardown failed; find and remove leftovers with `{cleanup_hint}`")
                    raise
        finally:
            for sig, previous in installed.items():
                signals.signal(sig, previous)
    if interrupted:
        raise KeyboardInterrupt(signals.Signals(interrupted[0]).name)
