"""Check that deployed resources exist and match the settings Terraform declared for them.

Library: ``expected_from_outputs()`` / ``expected_from_spec()`` say what should exist, and
``validate()`` compares it with what the AWS APIs (or an emulator) report, returning a
``ValidationReport`` of named checks. CLI: ``scenario validate --main`` /
``--workspace NAME``, or the seed's form::

    python scenarios/validate_infra.py                    # the main infrastructure
    python scenarios/validate_infra.py --workspace sqskit-3f9a1c
    python scenarios/validate_infra.py --endpoint http://127.0.0.1:4566

After ``make local-up`` no flag is needed: the state is the emulator's, and its endpoint comes
from the exported ``AWS_ENDPOINT_URL``, else from ``.env``.

Exit status: 0 when every check passes, 1 when one fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core.aws import client as make_client
from core.aws import resolve_region
from core.dotenv import lookup
from core.errors import ConfigError
from core.stack import StackSpec
from core.terraform import SCENARIO_ROOT
from core.terraform.main_infra import main_state_path
from core.terraform.outputs import read_state_outputs
from local.infra import EMULATOR_ACCOUNT, is_emulator_deployment

WORKSPACES_DIR = SCENARIO_ROOT / "terraform.tfstate.d"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class Expected:
    """What should be deployed. ``None`` means "not checked"."""

    queue_name: str
    dlq_name: str
    status_table: str
    completed_table: str
    region: str | None = None
    visibility_timeout: int | None = None
    receive_wait: int | None = None
    max_receive_count: int | None = None
    message_retention: int | None = None
    dlq_retention: int | None = None
    max_message_size: int | None = None
    ttl_attribute: str | None = None
    point_in_time_recovery: bool | None = None
    sse: bool = True
    # Main infrastructure only.
    ecr_repository: str | None = None
    cluster: str | None = None
    service: str | None = None
    log_group: str | None = None
    log_retention_days: int | None = None


@dataclass(frozen=True)
class ResourceCheck:
    """One comparison of a deployed resource's setting with what Terraform declared."""

    name: str
    ok: bool
    expected: Any = None
    observed: Any = None

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        detail = "" if self.ok else f"  expected {self.expected!r}, found {self.observed!r}"
        return f"{mark} {self.name}{detail}"


@dataclass
class ValidationReport:
    """Every resource check of one validation run."""

    checks: list[ResourceCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[ResourceCheck]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, expected: Any, observed: Any) -> None:
        self.checks.append(ResourceCheck(name, expected == observed, expected, observed))

    def render(self) -> str:
        lines = [c.line() for c in self.checks]
        passed = sum(c.ok for c in self.checks)
        lines.append(f"{passed}/{len(self.checks)} checks passed")
        return "\n".join(lines)


# -- what should exist -------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def expected_from_outputs(outputs: Mapping[str, Any]) -> Expected:
    """From a root's outputs (plain values): its ``stack_settings`` and, for main, the rest."""
    settings = outputs.get("stack_settings")
    if not isinstance(settings, Mapping):
        raise ConfigError(
            "the Terraform outputs have no stack_settings: apply the current terraform/ or "
            "scenarios/terraform configuration first"
        )
    pitr = settings.get("point_in_time_recovery")
    return Expected(
        queue_name=str(settings["queue_name"]),
        dlq_name=str(settings["dlq_name"]),
        status_table=str(settings["status_table"]),
        completed_table=str(settings["completed_table"]),
        region=outputs.get("aws_region") or outputs.get("region"),
        visibility_timeout=_int(settings.get("visibility_timeout")),
        receive_wait=_int(settings.get("receive_wait")),
        max_receive_count=_int(settings.get("max_receive_count")),
        message_retention=_int(settings.get("message_retention")),
        dlq_retention=_int(settings.get("dlq_retention")),
        max_message_size=_int(settings.get("max_message_size")),
        ttl_attribute=settings.get("ttl_attribute"),
        point_in_time_recovery=None if pitr is None else bool(pitr),
        ecr_repository=_repo_name(outputs.get("ecr_repository_url")),
        cluster=outputs.get("cluster_name") if "service_name" in outputs else None,
        service=outputs.get("service_name"),
        log_group=outputs.get("log_group_name") if "log_retention_days" in outputs else None,
        log_retention_days=_int(outputs.get("log_retention_days")),
    )


def expected_from_spec(spec: StackSpec, *, region: str | None = None) -> Expected:
    """From a StackSpec (what either provisioner builds for it)."""
    return Expected(
        queue_name=spec.queue_name,
        dlq_name=spec.dlq_name,
        status_table=spec.status_table,
        completed_table=spec.completed_table,
        region=region,
        visibility_timeout=spec.visibility_timeout,
        receive_wait=spec.receive_wait,
        max_receive_count=spec.max_receive_count,
        message_retention=spec.message_retention,
        dlq_retention=spec.dlq_retention,
        ttl_attribute=spec.ttl_attribute,
        sse=spec.sse,
    )


def _repo_name(url: Any) -> str | None:
    if not url:
        return None
    return str(url).split("/", 1)[1] if "/" in str(url) else str(url)


def main_outputs(state_file: Path | None = None) -> dict[str, Any]:
    """The outputs of the main infrastructure's state file (``SQSKIT_MAIN_STATE``)."""
    return read_state_outputs(state_file or main_state_path())


def workspace_outputs(name: str, workspaces_dir: Path | None = None) -> dict[str, Any]:
    """The outputs of one scenario run's workspace state."""
    workspaces_dir = workspaces_dir or WORKSPACES_DIR
    path = workspaces_dir / name / "terraform.tfstate"
    if not path.is_file():
        known = sorted(p.name for p in workspaces_dir.iterdir()) if workspaces_dir.is_dir() else []
        raise ConfigError(
            f"no workspace {name!r} under {workspaces_dir}; known: {', '.join(known) or 'none'}"
        )
    return read_state_outputs(path)


# -- what does exist ---------------------------------------------------------------------------


def validate(
    expected: Expected,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    client_factory: Callable[[str], Any] | None = None,
) -> ValidationReport:
    """Compare ``expected`` with the deployed resources; never raises for a missing resource."""
    region = resolve_region(region or expected.region)

    def factory(service: str) -> Any:
        if client_factory is not None:
            return client_factory(service)
        return make_client(service, endpoint_url=endpoint_url, region=region)

    report = ValidationReport()
    sqs = factory("sqs")
    dlq_arn = _check_queue(report, sqs, expected.dlq_name, expected, dlq=True, dlq_arn=None)
    _check_queue(report, sqs, expected.queue_name, expected, dlq=False, dlq_arn=dlq_arn)
    ddb = factory("dynamodb")
    _check_table(report, ddb, expected.status_table, expected, ttl=True)
    _check_table(report, ddb, expected.completed_table, expected, ttl=False)
    if expected.ecr_repository:
        _check_ecr(report, factory("ecr"), expected.ecr_repository)
    if expected.cluster:
        _check_ecs(report, factory("ecs"), expected.cluster, expected.service)
    if expected.log_group:
        _check_logs(report, factory("logs"), expected.log_group, expected.log_retention_days)
    return report


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def _check_queue(
    report: ValidationReport,
    sqs: Any,
    name: str,
    exp: Expected,
    *,
    dlq: bool,
    dlq_arn: str | None,
) -> str | None:
    label = f"sqs {name}"
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        report.add(f"{label} exists", True, _error_code(exc))
        return None
    report.add(f"{label} exists", True, True)
    wanted: dict[str, Any] = {}
    if dlq:
        wanted["MessageRetentionPeriod"] = exp.dlq_retention
    else:
        wanted["VisibilityTimeout"] = exp.visibility_timeout
        wanted["ReceiveMessageWaitTimeSeconds"] = exp.receive_wait
        wanted["MessageRetentionPeriod"] = exp.message_retention
    wanted["MaximumMessageSize"] = exp.max_message_size
    for attr, value in wanted.items():
        if value is not None:
            report.add(f"{label} {attr}", int(value), _int(attrs.get(attr)))
    if exp.sse:
        encrypted = attrs.get("SqsManagedSseEnabled") == "true" or bool(attrs.get("KmsMasterKeyId"))
        report.add(f"{label} server-side encryption", True, encrypted)
    if dlq:
        retention = _int(attrs.get("MessageRetentionPeriod"))
        if exp.message_retention is not None and retention is not None:
            report.add(
                f"{label} retention longer than the source queue's",
                True,
                retention > exp.message_retention,
            )
        arn = attrs.get("QueueArn")
        return str(arn) if arn else None
    policy = _json(attrs.get("RedrivePolicy"))
    report.add(f"{label} redrive target", dlq_arn, policy.get("deadLetterTargetArn"))
    if exp.max_receive_count is not None:
        report.add(
            f"{label} maxReceiveCount", exp.max_receive_count, _int(policy.get("maxReceiveCount"))
        )
    return None


def _json(text: Any) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _check_table(
    report: ValidationReport, ddb: Any, name: str, exp: Expected, *, ttl: bool
) -> None:
    label = f"dynamodb {name}"
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except (ClientError, BotoCoreError) as exc:
        report.add(f"{label} exists", True, _error_code(exc))
        return
    report.add(f"{label} exists", True, True)
    keys = [(k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", [])]
    report.add(f"{label} key schema", [("message_id", "HASH")], keys)
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    report.add(f"{label} message_id type", "S", types.get("message_id"))
    billing = table.get("BillingModeSummary", {}).get("BillingMode")
    report.add(f"{label} billing mode", "PAY_PER_REQUEST", billing)
    if exp.sse:
        status = table.get("SSEDescription", {}).get("Status")
        report.add(f"{label} encryption", "ENABLED", status)
    if ttl and exp.ttl_attribute:
        try:
            desc = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        except (ClientError, BotoCoreError) as exc:
            desc = {"TimeToLiveStatus": _error_code(exc)}
        report.add(
            f"{label} TTL",
            ("ENABLED", exp.ttl_attribute),
            (desc.get("TimeToLiveStatus"), desc.get("AttributeName")),
        )
    if exp.point_in_time_recovery is not None:
        try:
            backups = ddb.describe_continuous_backups(TableName=name)
            status = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
                "PointInTimeRecoveryStatus"
            ]
        except (ClientError, BotoCoreError, KeyError) as exc:
            status = _error_code(exc)
        wanted = "ENABLED" if exp.point_in_time_recovery else "DISABLED"
        report.add(f"{label} point-in-time recovery", wanted, status)


def _check_ecr(report: ValidationReport, ecr: Any, name: str) -> None:
    label = f"ecr {name}"
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except (ClientError, BotoCoreError, IndexError) as exc:
        report.add(f"{label} exists", True, _error_code(exc))
        return
    report.add(f"{label} exists", True, True)
    report.add(f"{label} tag mutability", "IMMUTABLE", repo.get("imageTagMutability"))
    scan = repo.get("imageScanningConfiguration", {}).get("scanOnPush")
    report.add(f"{label} scan on push", True, scan)


def _check_ecs(report: ValidationReport, ecs: Any, cluster: str, service: str | None) -> None:
    label = f"ecs {cluster}"
    try:
        clusters = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    except (ClientError, BotoCoreError) as exc:
        report.add(f"{label} exists", True, _error_code(exc))
        return
    status = clusters[0].get("status") if clusters else "MISSING"
    report.add(f"{label} status", "ACTIVE", status)
    if service:
        try:
            services = ecs.describe_services(cluster=cluster, services=[service]).get(
                "services", []
            )
        except (ClientError, BotoCoreError) as exc:
            report.add(f"ecs service {service} status", "ACTIVE", _error_code(exc))
            return
        svc_status = services[0].get("status") if services else "MISSING"
        report.add(f"ecs service {service} status", "ACTIVE", svc_status)


def _check_logs(
    report: ValidationReport, logs: Any, group: str, retention_days: int | None
) -> None:
    label = f"logs {group}"
    try:
        groups = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    except (ClientError, BotoCoreError) as exc:
        report.add(f"{label} exists", True, _error_code(exc))
        return
    match = next((g for g in groups if g.get("logGroupName") == group), None)
    report.add(f"{label} exists", True, match is not None)
    if match is not None and retention_days is not None:
        report.add(f"{label} retention days", retention_days, match.get("retentionInDays"))


# -- the seed's script form --------------------------------------------------------------------


def run(
    *,
    main: bool = False,
    workspace: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> ValidationReport:
    """Validate the main infrastructure (default) or one scenario workspace."""
    if main and workspace:
        raise ConfigError("choose one of --main and --workspace NAME, not both")
    outputs = workspace_outputs(workspace) if workspace else main_outputs()
    if endpoint_url is None and is_emulator_deployment(outputs):
        endpoint_url = lookup(ENV_AWS_ENDPOINT_URL)
        if endpoint_url is None:
            raise ConfigError(
                f"the outputs name an emulator's resources (account {EMULATOR_ACCOUNT}), but no "
                "endpoint is known: pass --endpoint URL, or run `make local-up` (it writes .env)"
            )
    return validate(expected_from_outputs(outputs), endpoint_url=endpoint_url, region=region)


def main(argv: list[str] | None = None) -> int:
    """The seed's script form: ``python scenarios/validate_infra.py [--main|--workspace NAME]``."""
    parser = argparse.ArgumentParser(
        prog="validate_infra.py",
        description="Check that the deployed resources exist and match their Terraform settings.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--main", action="store_true", help="the main infrastructure (default)")
    group.add_argument("--workspace", default=None, help="a scenario run's workspace")
    parser.add_argument(
        "--endpoint",
        default=os.environ.get(ENV_AWS_ENDPOINT_URL),
        help="an emulator endpoint [env AWS_ENDPOINT_URL, else .env for an emulator's state]",
    )
    parser.add_argument("--region", default=None, help="override the region from the outputs")
    args = parser.parse_args(argv)
    try:
        report = run(
            main=args.main,
            workspace=args.workspace,
            endpoint_url=args.endpoint,
            region=args.region,
        )
    except ConfigError as exc:
        sys.stderr.write(f"validate: {exc}\n")
        return EXIT_USAGE
    sys.stdout.write(report.render() + "\n")
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
