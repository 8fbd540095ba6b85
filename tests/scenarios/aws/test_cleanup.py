"""`scenario cleanup --target aws`: finds leftovers by tag (never the main infrastructure)
and removes them only when confirmed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from scenarios.aws.cleanup import classify_arn, find_leftovers, remove_leftover
from scenarios.cli.cleanup import command as cleanup
from tests.scenarios.aws.fis_template import create_request
from tests.scenarios.conftest import EcsStack

pytestmark = pytest.mark.unit

_BOTO_CLIENT: Any = boto3.client  # boto3's overloads want a literal service name

REGION = "us-east-1"


def _tags(stack: str, managed_by: str = "sqs-kit") -> dict[str, str]:
    return {"managed-by": managed_by, "sqs-kit-stack": stack}


def _make_stack(stack: str, managed_by: str = "sqs-kit") -> None:
    tags = _tags(stack, managed_by)
    boto3.client("sqs", region_name=REGION).create_queue(QueueName=f"{stack}-queue", tags=tags)
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=f"{stack}-message-status",
        KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    boto3.client("logs", region_name=REGION).create_log_group(
        logGroupName=f"/ecs/{stack}", tags=tags
    )
    boto3.client("ecs", region_name=REGION).register_task_definition(
        family=f"{stack}-consumer",
        containerDefinitions=[{"name": "consumer", "image": "i", "memory": 512}],
        tags=[{"key": k, "value": v} for k, v in tags.items()],
    )
    boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"{stack}-task",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    boto3.client("iam", region_name=REGION).put_role_policy(
        RoleName=f"{stack}-task",
        PolicyName="sqs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
            }
        ),
    )


def _client(service: str) -> Any:
    return _BOTO_CLIENT(service, region_name=REGION)


def test_finds_every_kind_for_run_stacks_and_never_the_main_infrastructure(
    moto_account: None,
) -> None:
    # GIVEN two run stacks, the main infrastructure, and look-alikes that are not ours
    _make_stack("sqskit-aaaaaa")
    _make_stack("sqskit-bbbbbb")
    _make_stack("sqs-demo")  # the main infrastructure: same tags, other stack name
    _make_stack("sqskit-cccccc", managed_by="someone-else")  # broken input: not ours
    leftovers = find_leftovers(_client)
    stacks = {item.stack for item in leftovers}
    assert stacks == {"sqskit-aaaaaa", "sqskit-bbbbbb"}
    kinds = [item.kind for item in leftovers if item.stack == "sqskit-aaaaaa"]
    # removal order: tasks, services, task definitions, clusters, queues, tables, logs, roles
    assert kinds == ["task-definition", "queue", "table", "log-group", "role"]
    only_a = find_leftovers(_client, stack_glob="sqskit-aaaaaa")
    assert {item.stack for item in only_a} == {"sqskit-aaaaaa"}


def test_running_tasks_are_found_by_tag_and_stopped(ecs_stack: EcsStack) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    task = ecs.run_task(
        cluster=ecs_stack.cluster,
        taskDefinition=ecs_stack.task_definition_arn,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": ecs_stack.subnets,
                "securityGroups": ecs_stack.security_groups,
                "assignPublicIp": "ENABLED",
            }
        },
        tags=[{"key": k, "value": v} for k, v in _tags(ecs_stack.prefix).items()],
    )["tasks"][0]["taskArn"]
    (found,) = [i for i in find_leftovers(_client) if i.kind == "task"]
    assert found.arn == task
    assert found.name.startswith(f"{ecs_stack.cluster}/")
    remove_leftover(_client, found)
    described = ecs.describe_tasks(cluster=ecs_stack.cluster, tasks=[task])["tasks"][0]
    assert described["desiredStatus"] == "STOPPED"


def test_cli_is_a_dry_run_by_default_and_removes_with_yes(moto_account: None) -> None:
    _make_stack("sqskit-dddddd")
    _make_stack("sqs-demo")
    runner = CliRunner()
    dry = runner.invoke(cleanup, ["--target", "aws", "--region", REGION])
    assert dry.exit_code == 0, dry.output
    assert "sqskit-dddddd-queue" in dry.output and "dry run" in dry.output
    assert "sqs-demo" not in dry.output
    assert find_leftovers(_client)  # nothing removed

    refused = runner.invoke(
        cleanup, ["--target", "aws", "--region", REGION, "--delete"], env={"SQSKIT_AWS_CONFIRM": ""}
    )
    assert refused.exit_code == 2
    assert find_leftovers(_client)

    done = runner.invoke(cleanup, ["--target", "aws", "--region", REGION, "--yes"])
    assert done.exit_code == 0, done.output
    assert find_leftovers(_client) == []
    sqs = boto3.client("sqs", region_name=REGION)
    assert sqs.list_queues(QueueNamePrefix="sqs-demo").get("QueueUrls")  # main untouched
    again = runner.invoke(cleanup, ["--target", "aws", "--region", REGION])
    assert "no leftovers" in again.output


def test_classify_arn() -> None:
    assert classify_arn("arn:aws:sqs:us-east-1:1:sqskit-a-queue") == ("queue", "sqskit-a-queue")
    assert classify_arn("arn:aws:logs:us-east-1:1:log-group:/ecs/x:*") == ("log-group", "/ecs/x")
    assert classify_arn("arn:aws:ecs:us-east-1:1:service/c/s") == ("service", "c/s")
    assert classify_arn("arn:aws:s3:::bucket") is None
    assert classify_arn("not-an-arn") is None


def _fis_template(stack: str, managed_by: str = "sqs-kit") -> str:
    """A run's FIS template as a SIGKILLed run leaves it: tagged, with its experiment running."""
    fis = _client("fis")
    request = create_request(cluster="sqs-demo", service="sqs-demo-consumer")
    request["tags"] = _tags(stack, managed_by)
    template = str(fis.create_experiment_template(**request)["experimentTemplate"]["id"])
    fis.start_experiment(experimentTemplateId=template, tags=_tags(stack, managed_by))
    return template


def test_a_killed_runs_fis_template_is_found_and_its_experiment_stopped_first(
    moto_account: None,
) -> None:
    # GIVEN a run's template with a running experiment, and a template that is not ours
    ours = _fis_template("sqskit-eeeeee")
    _fis_template("sqskit-ffffff", managed_by="someone-else")
    _make_stack("sqskit-eeeeee")
    leftovers = find_leftovers(_client)
    # THEN it is listed first: its experiment acts on the tasks, which go next
    assert (leftovers[0].kind, leftovers[0].name) == ("fis-template", ours)
    assert {i.name for i in leftovers if i.kind == "fis-template"} == {ours}
    remove_leftover(_client, leftovers[0])
    fis = _client("fis")
    [experiment] = [
        e for e in fis.list_experiments()["experiments"] if e["experimentTemplateId"] == ours
    ]
    assert experiment["state"]["status"] in {"stopping", "stopped"}
    assert ours not in {t["id"] for t in fis.list_experiment_templates()["experimentTemplates"]}
    # removing it again is not an error
    remove_leftover(_client, leftovers[0])


def test_cleanup_without_fis_permissions_still_lists_the_rest(moto_account: None) -> None:
    # GIVEN a caller whose policy has no fis:* (the FIS policy is opt-in)
    _make_stack("sqskit-gggggg")

    def denied_fis(service: str) -> Any:
        client = _client(service)
        if service == "fis":
            stubber = Stubber(client)
            stubber.add_client_error(
                "list_experiment_templates", "AccessDeniedException", http_status_code=403
            )
            stubber.activate()
        return client

    leftovers = find_leftovers(denied_fis)
    # THEN the other leftovers are still listed, and no FIS template is claimed
    assert {i.kind for i in leftovers} == {"task-definition", "queue", "table", "log-group", "role"}
