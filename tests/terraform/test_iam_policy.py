"""terraform/iam/sqs-kit-runner-policy.json: the exact policy for the principal that runs the kit.

A small evaluator (allow statements, IAM wildcards, no conditions) checks that the policy grants
what the kit calls (scanned from its code), what Terraform needs for every resource type in the
roots, and the permissions real accounts need that emulators never check. checkov scans it through
terraform/iam/checkov_wrap.py, as `make security` does.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from tests.terraform.conftest import REPO_ROOT
from tests.terraform.test_static import _checkov

POLICY_FILE = REPO_ROOT / "terraform" / "iam" / "sqs-kit-runner-policy.json"
#: the opt-in AWS FIS network faults (enable_fis_network_faults): a second policy, for the
#: principal that switches them on - the runner's policy is at IAM's size limit
FIS_POLICY_FILE = REPO_ROOT / "terraform" / "iam" / "sqs-kit-fis-policy.json"
#: resource types only the FIS opt-in creates, and the actions they need
FIS_TERRAFORM_ACTIONS: dict[str, list[str]] = {
    "aws_fis_experiment_template": [
        "fis:CreateExperimentTemplate",
        "fis:GetExperimentTemplate",
        "fis:UpdateExperimentTemplate",
        "fis:DeleteExperimentTemplate",
        "fis:TagResource",
        "fis:ListTagsForResource",
    ],
    "aws_iam_role_policy_attachment": [
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:ListAttachedRolePolicies",
    ],
}
WRAP = REPO_ROOT / "terraform" / "iam" / "checkov_wrap.py"
#: IAM's limit for a managed policy, counted without whitespace.
MANAGED_POLICY_MAX_CHARS = 6144

#: IAM service prefix -> botocore service name.
SERVICES = {
    "application-autoscaling": "application-autoscaling",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "ec2": "ec2",
    "ecr": "ecr",
    "ecs": "ecs",
    "iam": "iam",
    "logs": "logs",
    "sqs": "sqs",
    "sts": "sts",
    "tag": "resourcegroupstaggingapi",
}
#: IAM actions that authorise something other than an API call of the same name.
PERMISSION_ONLY = {"iam:PassRole"}
#: API operations authorised by another action (the SQS batch calls).
AUTHORISED_BY = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

# Representative names: the main stack (project_name sqs-demo) and a per-run stack.
ACCOUNT, REGION = "123456789012", "us-west-1"
MAIN, RUN = "sqs-demo", "sqskit-happy-3f9a1c"

#: Terraform resource type -> the calls its create/read/update/delete make (hashicorp/aws 5.x).
TERRAFORM_ACTIONS: dict[str, list[str]] = {
    "aws_vpc": ["ec2:CreateVpc", "ec2:DescribeVpcs", "ec2:ModifyVpcAttribute", "ec2:DeleteVpc"],
    "aws_default_security_group": [
        "ec2:DescribeSecurityGroups",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
    ],
    "aws_internet_gateway": [
        "ec2:CreateInternetGateway",
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:DeleteInternetGateway",
    ],
    "aws_subnet": ["ec2:CreateSubnet", "ec2:ModifySubnetAttribute", "ec2:DeleteSubnet"],
    "aws_route_table": ["ec2:CreateRouteTable", "ec2:DeleteRouteTable"],
    "aws_route": ["ec2:CreateRoute", "ec2:DeleteRoute"],
    "aws_route_table_association": ["ec2:AssociateRouteTable", "ec2:DisassociateRouteTable"],
    "aws_security_group": [
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
    ],
    "aws_flow_log": ["ec2:CreateFlowLogs", "ec2:DescribeFlowLogs", "ec2:DeleteFlowLogs"],
    "aws_cloudwatch_log_group": [
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DescribeLogGroups",
        "logs:ListTagsForResource",
        "logs:TagResource",
        "logs:DeleteLogGroup",
    ],
    "aws_iam_role": ["iam:CreateRole", "iam:GetRole", "iam:TagRole", "iam:DeleteRole"],
    "aws_iam_role_policy": ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
    "aws_iam_service_linked_role": [
        "iam:CreateServiceLinkedRole",
        "iam:DeleteServiceLinkedRole",
        "iam:GetServiceLinkedRoleDeletionStatus",
    ],
    "aws_ecr_repository": [
        "ecr:CreateRepository",
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",
        "ecr:DeleteRepository",
    ],
    "aws_ecr_lifecycle_policy": [
        "ecr:PutLifecyclePolicy",
        "ecr:GetLifecyclePolicy",
        "ecr:DeleteLifecyclePolicy",
    ],
    "aws_ecs_cluster": ["ecs:CreateCluster", "ecs:DescribeClusters", "ecs:DeleteCluster"],
    "aws_ecs_service": [
        "ecs:CreateService",
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:DeleteService",
        "ecs:TagResource",
    ],
    "aws_ecs_task_definition": [
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "ecs:DeregisterTaskDefinition",
        "iam:PassRole",
    ],
    "aws_appautoscaling_target": [
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DeregisterScalableTarget",
    ],
    "aws_appautoscaling_policy": [
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:DeleteScalingPolicy",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    ],
    "aws_sqs_queue": [
        "sqs:CreateQueue",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:ListQueueTags",
        "sqs:TagQueue",
        "sqs:DeleteQueue",
    ],
    "aws_dynamodb_table": [
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:DeleteTable",
    ],
}
TERRAFORM_DATA_ACTIONS = {
    "aws_availability_zones": ["ec2:DescribeAvailabilityZones"],
    "aws_caller_identity": ["sts:GetCallerIdentity"],
    "aws_partition": [],
    "aws_region": [],
    "aws_iam_policy_document": [],
}


# -- a small evaluator ------------------------------------------------------------------------


def _listify(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(pattern: str, value: str) -> bool:
    """IAM wildcard match (`*`, `?`), case-insensitive as IAM compares actions."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def allows(policy: dict[str, Any], action: str, resource: str = "*") -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` (conditions are ignored).

    ``resource="*"`` asks only about the action. The policy has no Deny and no NotAction.
    """
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st
        if not any(_matches(p, action) for p in _listify(st["Action"])):
            continue
        if resource == "*" or any(_matches(p, resource) for p in _listify(st["Resource"])):
            return True
    return False


def missing(policy: dict[str, Any], needed: Iterable[tuple[str, str]]) -> list[str]:
    """The (action, resource) pairs ``policy`` does not allow, as readable lines."""
    return [f"{a} on {r}" for a, r in needed if not allows(policy, a, r)]


def _policy() -> dict[str, Any]:
    return json.loads(POLICY_FILE.read_text())


def _operations() -> dict[str, set[str]]:
    """IAM action (``svc:Operation``) for every botocore operation of the listed services."""
    session = botocore.session.get_session()
    ops: dict[str, set[str]] = {}
    for prefix, service in SERVICES.items():
        for op in session.get_service_model(service).operation_names:
            ops.setdefault(xform_name(op), set()).add(f"{prefix}:{op}")
    return ops


def _kit_calls() -> set[str]:
    """IAM actions of the boto3 calls in scenarios/ and producer/ (the principal's side)."""
    ops = _operations()
    calls: set[str] = set()
    for package in ("scenarios", "producer"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            text = path.read_text()
            names = re.findall(r"\.([a-z][a-z0-9_]*)\(", text)
            names += re.findall(r'get_paginator\("([a-z][a-z0-9_]*)"\)', text)
            for name in set(names):
                calls |= ops.get(name, set())
    return {AUTHORISED_BY.get(c, c) for c in calls}


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_policy_is_a_valid_managed_policy():
    policy = _policy()
    assert policy["Version"] == "2012-10-17"
    sids = [st["Sid"] for st in policy["Statement"]]
    assert len(sids) == len(set(sids)), sids
    compact = json.dumps(policy, separators=(",", ":"))
    assert len(compact) <= MANAGED_POLICY_MAX_CHARS, len(compact)
    assert not allows(policy, "iam:CreateUser") and not allows(policy, "s3:GetObject")


@pytest.mark.unit
def test_every_action_exists():
    # A typo (ecs:TagResources) would be silently useless in IAM; botocore knows every API.
    ops = {a.lower() for actions in _operations().values() for a in actions}
    unknown = []
    for st in _policy()["Statement"]:
        for action in _listify(st["Action"]):
            prefix = action.split(":", 1)[0]
            assert prefix in SERVICES, action
            if action in PERMISSION_ONLY:
                continue
            if not any(_matches(action, op) for op in ops if op.startswith(prefix + ":")):
                unknown.append(action)
    assert not unknown, unknown


@pytest.mark.unit
def test_the_permissions_real_accounts_need_are_granted():
    # What the emulators never check: tagging tasks at RunTask, passing the task and execution
    # roles, ECS's service-linked role, reading the consumers' log streams.
    stream = (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{MAIN}/consumer:log-stream:consumer/c/1"
    )
    needed = [
        ("ecs:TagResource", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{MAIN}/0f1e2d"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{RUN}-task"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{MAIN}-execution"),
        (
            "iam:CreateServiceLinkedRole",
            f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        ),
        ("logs:GetLogEvents", stream),
        ("ecs:RunTask", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{RUN}-consumer:1"),
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{RUN}-queue"),
        ("dynamodb:Scan", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{RUN}-message-status"),
        ("ecr:PutImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{MAIN}"),
        ("ecr:DescribeImages", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{MAIN}"),
    ]
    assert missing(_policy(), needed) == []


@pytest.mark.unit
def test_every_call_the_kit_makes_is_granted():
    calls = _kit_calls()
    # The scan finds direct calls and paginated ones.
    assert {"ecs:RunTask", "logs:GetLogEvents", "dynamodb:Scan", "tag:GetResources"} <= calls
    assert missing(_policy(), [(c, "*") for c in sorted(calls)]) == []


@pytest.mark.unit
def test_every_terraform_resource_type_is_covered():
    # A resource type added to the roots without its permissions fails here first.
    declared: set[str] = set()
    data: set[str] = set()
    for tf in [*REPO_ROOT.glob("terraform/**/*.tf"), *REPO_ROOT.glob("scenarios/terraform/*.tf")]:
        text = tf.read_text()
        declared |= set(re.findall(r'^resource "(aws_\w+)"', text, re.MULTILINE))
        data |= set(re.findall(r'^data "(aws_\w+)"', text, re.MULTILINE))
    fis = declared & FIS_TERRAFORM_ACTIONS.keys()
    declared -= fis
    assert declared <= TERRAFORM_ACTIONS.keys(), declared - TERRAFORM_ACTIONS.keys()
    assert data <= TERRAFORM_DATA_ACTIONS.keys(), data - TERRAFORM_DATA_ACTIONS.keys()
    needed = {a for t in declared for a in TERRAFORM_ACTIONS[t]}
    needed |= {a for t in data for a in TERRAFORM_DATA_ACTIONS[t]}
    assert missing(_policy(), [(a, "*") for a in sorted(needed)]) == []
    # the FIS opt-in's resources: the runner's policy and the FIS policy together
    both = _policy()
    both["Statement"] = [*both["Statement"], *_fis_policy()["Statement"]]
    fis_needed = {a for t in fis for a in FIS_TERRAFORM_ACTIONS[t]}
    fis_needed.add("iam:PassRole")
    assert missing(both, [(a, "*") for a in sorted(fis_needed)]) == []


@pytest.mark.unit
def test_the_fis_policy_is_valid_and_kit_scoped():
    policy = _fis_policy()
    size = len(json.dumps(policy, separators=(",", ":")))
    assert size <= MANAGED_POLICY_MAX_CHARS
    fis_ops = set(botocore.session.get_session().get_service_model("fis").operation_names)
    iam_ops = set(botocore.session.get_session().get_service_model("iam").operation_names)
    for action in {a for st in policy["Statement"] for a in _listify(st["Action"])}:
        prefix, op = action.split(":", 1)
        assert action in PERMISSION_ONLY or op in {"fis": fis_ops, "iam": iam_ops}[prefix], (
            action
        )  # a typo is useless in IAM
    assert not allows(policy, "iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert not allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")


def _fis_policy() -> dict[str, Any]:
    return json.loads(FIS_POLICY_FILE.read_text())


@pytest.mark.unit
def test_kit_resources_only():
    # The write statements name the kit's resources: another team's queue or role is out of reach.
    policy = _policy()
    assert not allows(policy, "sqs:DeleteQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-queue")
    assert not allows(policy, "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert not allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert not allows(
        policy, "dynamodb:DeleteTable", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/x"
    )
    assert allows(policy, "sqs:DeleteQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{RUN}-dlq")


@pytest.mark.unit
def test_the_checker_reports_a_missing_permission():
    # GIVEN the policy without logs:GetLogEvents
    broken = _policy()
    for st in broken["Statement"]:
        st["Action"] = [a for a in _listify(st["Action"]) if a != "logs:GetLogEvents"]
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{MAIN}/consumer:log-stream:s"
    # THEN both the targeted check and the scan of the kit's calls report it
    assert missing(broken, [("logs:GetLogEvents", stream)]) == [f"logs:GetLogEvents on {stream}"]
    assert "logs:GetLogEvents on *" in missing(broken, [(c, "*") for c in _kit_calls()])


@pytest.mark.terraform
def test_checkov_passes_the_policy(require_checkov, tmp_path):
    subprocess.run([sys.executable, str(WRAP), str(tmp_path)], check=True, timeout=60)
    summary = _checkov(require_checkov, "-d", str(tmp_path))
    assert summary["failed"] == 0, summary["failed_ids"]
    assert summary["passed"] >= 8  # both wrappers were scanned (5 CloudFormation + 3 Terraform)


@pytest.mark.terraform
def test_checkov_passes_the_fis_policy(require_checkov, tmp_path):
    subprocess.run(
        [sys.executable, str(WRAP), str(tmp_path), str(FIS_POLICY_FILE)], check=True, timeout=60
    )
    summary = _checkov(require_checkov, "-d", str(tmp_path))
    assert summary["failed"] == 0, summary["failed_ids"]
    assert summary["passed"] > 0


@pytest.mark.terraform
def test_checkov_fails_an_admin_policy(require_checkov, tmp_path):
    admin = tmp_path / "admin.json"
    admin.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        )
    )
    out = tmp_path / "wrapped"
    subprocess.run([sys.executable, str(WRAP), str(out), str(admin)], check=True, timeout=60)
    summary = _checkov(require_checkov, "-d", str(out))
    ids = {i.split()[0] for i in summary["failed_ids"]}
    assert {"CKV_AWS_62", "CKV_AWS_110", "CKV_AWS_111"} <= ids, ids


@pytest.mark.unit
def test_the_real_account_checklist_points_at_the_policy():
    docs = (REPO_ROOT / "docs" / "aws.md").read_text()
    assert "terraform/iam/sqs-kit-runner-policy.json" in docs
    for permission in (
        "ecs:TagResource",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "logs:GetLogEvents",
    ):
        assert permission in docs, permission
    for heading in ("### The IAM policy", "### First run in a new account", "## Costs"):
        assert heading in docs, heading
    assert "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com" in docs
    assert "usw1-az1" in docs and "$0.005 per address-hour" in docs
