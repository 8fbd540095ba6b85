"""ECS checks: the API the aws target calls, and whether RunTask really runs a container."""

from __future__ import annotations

import secrets
import time
from typing import Any

from core import capabilities as cap
from local.conformance.registry import (
    ECS_API,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    registrar,
)

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)


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


@check("ecs.run_task_accepted", cap.ECS_API, cite=ECS_API + "API_RunTask.html")
def _ecs_api(ctx: ProbeContext) -> str:
    """CreateCluster, RegisterTaskDefinition and a Fargate RunTask (awsvpc) are accepted and
    RunTask returns the task."""
    cluster, task = _run_probe_task(ctx)
    described = ctx.ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"]
    if not described:
        raise CheckFailed("DescribeTasks does not know the task RunTask returned")
    return f"task {described[0].get('lastStatus')}"


@check("ecs.run_task_runs_container", cap.ECS_RUNS_CONTAINERS, cite=ECS_API + "API_Container.html")
def _ecs_runs(ctx: ProbeContext) -> str:
    """RunTask really runs the container: once STOPPED, DescribeTasks reports the container's
    exitCode, here the 7 of its `exit 7`."""
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
