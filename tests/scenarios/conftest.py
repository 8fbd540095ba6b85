"""Fixtures for the aws-target unit tier: an in-process moto account with an ECS stack.

moto 5.2's Fargate RunTask reads ``NetworkInterface.private_dns_name``, which its ENI model
lacks; the fixture supplies it. Task state progression is set to manual, so a task stays
RUNNING until the test (or StopTask) stops it, as on ECS.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws


@dataclass
class CallLog:
    """Every API call a client made: (operation, params), in order."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls.append((model.name, dict(params)))

        client.meta.events.register(f"provide-client-params.{service}", _record)
        return client

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == operation]


@dataclass
class EcsStack:
    region: str
    cluster: str
    task_definition_arn: str
    subnets: list[str]
    security_groups: list[str]
    log_group: str
    prefix: str
    calls: CallLog

    def ecs(self) -> Any:
        return self.calls.attach(boto3.client("ecs", region_name=self.region))

    def logs(self) -> Any:
        return self.calls.attach(boto3.client("logs", region_name=self.region))


@pytest.fixture
def moto_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.moto_api import state_manager

    if not hasattr(NetworkInterface, "private_dns_name"):
        monkeypatch.setattr(
            NetworkInterface,
            "private_dns_name",
            property(lambda self: f"ip-{self.private_ip_address.replace('.', '-')}.ec2.internal"),
            raising=False,
        )
    with mock_aws():
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 10_000}
        )
        try:
            yield
        finally:
            state_manager.unset_transition("ecs::task")


def register_consumer_task_definition(
    region: str,
    family: str,
    *,
    network_mode: str = "awsvpc",
    log_group: str | None = None,
    stop_timeout: int | None = None,
    image: str | None = None,
) -> str:
    container: dict[str, Any] = {
        "name": "consumer",
        "image": image or "123456789012.dkr.ecr.us-east-1.amazonaws.com/sqs-demo:abc123",
        "memory": 512,
        "cpu": 256,
        "essential": True,
    }
    if log_group:
        container["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": "ecs",
            },
        }
    if stop_timeout is not None:
        container["stopTimeout"] = stop_timeout
    ecs: Any = boto3.client("ecs", region_name=region)
    return str(
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[container],
            networkMode=network_mode,
            requiresCompatibilities=["FARGATE"] if network_mode == "awsvpc" else ["EC2"],
            cpu="256",
            memory="512",
        )["taskDefinition"]["taskDefinitionArn"]
    )


@pytest.fixture
def ecs_stack(moto_account: None) -> EcsStack:
    region = "us-east-1"
    prefix = f"sqskit-{secrets.token_hex(3)}"
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/20")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
        for i in range(2)
    ]
    sg = ec2.create_security_group(GroupName=f"{prefix}-tasks", Description="t", VpcId=vpc)[
        "GroupId"
    ]
    boto3.client("ecs", region_name=region).create_cluster(clusterName=f"{prefix}-cluster")
    log_group = f"/ecs/{prefix}"
    boto3.client("logs", region_name=region).create_log_group(logGroupName=log_group)
    td = register_consumer_task_definition(
        region, f"{prefix}-consumer", log_group=log_group, stop_timeout=30
    )
    return EcsStack(
        region=region,
        cluster=f"{prefix}-cluster",
        task_definition_arn=td,
        subnets=subnets,
        security_groups=[sg],
        log_group=log_group,
        prefix=prefix,
        calls=CallLog(),
    )


def moto_task(region: str, cluster: str, task_arn: str) -> Any:
    """moto's model of a task, to play the part of the container (exit, crash)."""
    from moto.ecs.models import ecs_backends

    return ecs_backends["123456789012"][region].tasks[cluster][task_arn]


def stop_like_container(region: str, cluster: str, task_arn: str, exit_code: int | None) -> None:
    """Make a task STOPPED as if its container exited with ``exit_code`` (None: never ran)."""
    task = moto_task(region, cluster, task_arn)
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = "Essential container in task exited"
    for container in task.containers:
        container.exitCode = exit_code
