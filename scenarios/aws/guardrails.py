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
import math
import os
import signal as signals
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from core.aws import DEFAULT_REGION
from core.errors import ConfigError, InfrastructureError

log = logging.getLogger(__name__)

CONFIRM_ENV = "SQSKIT_AWS_CONFIRM"
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"", "0", "false", "no"})

# On-demand list prices, free tiers ignored: see docs/aws.md, "Costs", for each source.
#: Fargate Linux/x86 per region: (USD per vCPU-hour, USD per GB-hour)
FARGATE_RATES: dict[str, tuple[float, float]] = {
    "us-east-1": (0.04048, 0.004445),
    "us-west-1": (0.04656, 0.00511),
}
#: Fargate bills per second from the image pull on, at least one minute per task started
FARGATE_MIN_BILLED_S = 60.0
#: every task has a public IPv4 address (public subnets, no NAT), billed per address-hour
PUBLIC_IPV4_HOUR_USD = 0.005
#: Container Insights: ECS publishes ~16 task metrics per task family, each $0.30 per
#: metric-month (730 h), charged for every hour in which it is published
CONTAINER_INSIGHTS_METRICS_PER_FAMILY = 16
CLOUDWATCH_METRIC_MONTH_USD = 0.30
HOURS_PER_MONTH = 730.0
SQS_PER_MILLION_REQUESTS_USD = 0.40
DYNAMODB_PER_MILLION_WRITES_USD = 0.625
DYNAMODB_PER_MILLION_READS_USD = 0.125
LOGS_INGEST_PER_GB_USD = 0.50
#: rough per-message request counts: send, receive, delete (+ heartbeats); 3 writes, 2 reads
SQS_REQUESTS_PER_MESSAGE = 4
DDB_WRITES_PER_MESSAGE = 3
DDB_READS_PER_MESSAGE = 2
LOG_BYTES_PER_MESSAGE = 1200


def fargate_rates(region: str) -> tuple[float, float, str]:
    """(vCPU-hour, GB-hour, which prices) for ``region``; the dearest known for other regions."""
    if region in FARGATE_RATES:
        vcpu, gb = FARGATE_RATES[region]
        return vcpu, gb, f"{region} list prices"
    dearest = max(FARGATE_RATES, key=lambda r: FARGATE_RATES[r][0])
    vcpu, gb = FARGATE_RATES[dearest]
    return vcpu, gb, f"{dearest} list prices (no table for {region}: the dearest known)"


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
    public_ipv4: float = 0.0
    container_insights: float = 0.0
    #: task-hours billed (every start at least a minute, start-up included)
    task_hours: float = 0.0
    prices: str = "us-east-1 list prices"

    @property
    def total(self) -> float:
        return (
            self.fargate
            + self.public_ipv4
            + self.container_insights
            + self.sqs
            + self.dynamodb
            + self.logs
        )

    def lines(self) -> list[str]:
        return [
            f"  Fargate tasks   ~${self.fargate:.4f} ({self.task_hours:.3f} task-hours billed)",
            f"  public IPv4     ~${self.public_ipv4:.4f}",
            f"  Container Insights ~${self.container_insights:.4f}",
            f"  SQS requests    ~${self.sqs:.4f}",
            f"  DynamoDB        ~${self.dynamodb:.4f}",
            f"  CloudWatch Logs ~${self.logs:.4f}",
            f"  total           ~${self.total:.4f} (rough: {self.prices}, no free tier)",
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
    region: str = DEFAULT_REGION,
    restarts: int = 0,
    startup_s: float = 0.0,
    task_families: int = 1,
) -> CostEstimate:
    """A rough cost of ``consumers`` tasks running ``minutes``, plus per-message charges.

    Every task start is billed, restarts included (a crash restart is a new task): from its
    image pull (``startup_s`` of start-up is billed too), at least a minute. Each task has a
    public IPv4 address for the same time. Each of ``task_families`` (one per scenario run: its
    own task definition) publishes Container Insights metrics for every hour its tasks run.
    """
    if min(consumers, minutes, messages, restarts, startup_s, task_families) < 0:
        raise ConfigError(
            "consumers, minutes, messages, restarts, startup_s and task_families must not be "
            "negative"
        )
    vcpu_hour, gb_hour, prices = fargate_rates(region)
    per_task_hour = (cpu_units / 1024) * vcpu_hour + (memory_mib / 1024) * gb_hour
    run_s = minutes * 60.0
    first = max(startup_s + run_s, FARGATE_MIN_BILLED_S)
    # a replacement's running time is already inside the slot's minutes: it adds its own
    # start-up, and at least the minute its crashed predecessor was billed
    again = max(startup_s, FARGATE_MIN_BILLED_S)
    task_hours = (consumers * first + restarts * again) / 3600.0 if consumers else 0.0
    metric_hour = CLOUDWATCH_METRIC_MONTH_USD / HOURS_PER_MONTH
    published_hours = math.ceil((startup_s + run_s) / 3600.0) if consumers and run_s else 0
    return CostEstimate(
        fargate=task_hours * per_task_hour,
        public_ipv4=task_hours * PUBLIC_IPV4_HOUR_USD,
        container_insights=task_families
        * CONTAINER_INSIGHTS_METRICS_PER_FAMILY
        * metric_hour
        * published_hours,
        task_hours=task_hours,
        prices=prices,
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
