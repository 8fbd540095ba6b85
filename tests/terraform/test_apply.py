"""tflocal against the embedded emulator: the main infrastructure, and provisioner parity.

Each SQS queue creation costs ~25 s (the AWS provider waits for attribute propagation), so the
main infrastructure and the Terraform-provisioned parity stack are applied concurrently by one
module fixture, and destroyed concurrently at the end.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from core.aws import client
from core.provisioners.api import ApiProvisioner
from core.provisioners.terraform import PROVIDER_MAX_MESSAGE_SIZE, TerraformProvisioner
from core.stack import (
    DEDUP_SCOPE_MESSAGE_GROUP,
    THROUGHPUT_PER_MESSAGE_GROUP,
    StackHandle,
    StackSpec,
    unique_prefix,
)
from core.terraform import MAIN_ROOT
from core.terraform.cli import copy_config
from core.terraform.main_infra import MainInfrastructure
from scenarios.tfenv import DOTENV_KEYS, write_env
from scenarios.validate_infra import expected_from_outputs, expected_from_spec, validate

MAIN_REGION = "us-west-1"
STACK_REGION = "us-east-1"


@pytest.fixture(scope="module")
def runs(require_terraform, emulator_endpoint, tmp_path_factory):
    """Start the main apply and the Terraform parity stack at once; destroy both at the end."""
    base = tmp_path_factory.mktemp("tf")
    main = MainInfrastructure(
        workdir=copy_config(MAIN_ROOT, base / "main"),
        endpoint_url=emulator_endpoint,
        variables={
            "project_name": f"tfmain-{secrets.token_hex(3)}",
            "aws_region": MAIN_REGION,
            "desired_count": 0,  # no task is started on the emulator
        },
    )
    provisioner = TerraformProvisioner(
        endpoint_url=emulator_endpoint,
        region=STACK_REGION,
        state_dir=base / "states",
        # The aws target's variables: a task definition too, on the host network.
        variables={
            "create_task_definition": True,
            "task_network_mode": "host",
            "execution_role_arn": "arn:aws:iam::000000000000:role/tf-test-execution",
            "log_group_name": "/ecs/tf-test",
        },
    )
    spec = StackSpec(prefix=unique_prefix("tfpar"), max_message_size=PROVIDER_MAX_MESSAGE_SIZE)
    fifo_spec = _fifo_spec("tffifo")
    pool = ThreadPoolExecutor(max_workers=3)
    futures: dict[str, Future] = {
        "main": pool.submit(main.apply),
        "stack": pool.submit(provisioner.provision, spec),
        "fifo": pool.submit(provisioner.provision, fifo_spec),
    }
    state = {
        "main": main,
        "provisioner": provisioner,
        "spec": spec,
        "fifo_spec": fifo_spec,
        "futures": futures,
    }
    try:
        yield state
    finally:
        cleanup: list[Future] = [pool.submit(main.destroy)]
        for key in ("stack", "fifo"):
            try:
                handle = futures[key].result()
            except Exception:
                handle = None
            if handle is not None:
                cleanup.append(pool.submit(provisioner.destroy, handle))
        for f in cleanup:
            f.result()
        pool.shutdown()


def _fifo_spec(base: str) -> StackSpec:
    """A FIFO stack with every FIFO setting away from its default (high throughput)."""
    return StackSpec(
        prefix=unique_prefix(base),
        max_message_size=PROVIDER_MAX_MESSAGE_SIZE,
        fifo=True,
        content_based_deduplication=True,
        deduplication_scope=DEDUP_SCOPE_MESSAGE_GROUP,
        fifo_throughput_limit=THROUGHPUT_PER_MESSAGE_GROUP,
    )


def _queue_exists(endpoint: str, region: str, name: str) -> bool:
    try:
        client("sqs", endpoint_url=endpoint, region=region).get_queue_url(QueueName=name)
    except ClientError:
        return False
    return True


@pytest.mark.terraform
@pytest.mark.slow
def test_tflocal_applies_and_destroys_the_main_infrastructure(runs, emulator_endpoint, tmp_path):
    main: MainInfrastructure = runs["main"]
    # WHEN the main infrastructure is applied with tflocal
    outputs = runs["futures"]["main"].result()
    name = main.variables["project_name"]
    # THEN the outputs name the seed's resources
    assert outputs["queue_url"].endswith(f"/{name}-queue")
    assert outputs["message_status_table"] == f"{name}-message-status"
    assert outputs["message_completed_table"] == f"{name}-message-completed"
    assert outputs["aws_region"] == MAIN_REGION
    assert outputs["task_definition_arn"]
    # AND the deployed resources match their declared settings
    report = validate(
        expected_from_outputs(outputs), endpoint_url=emulator_endpoint, region=MAIN_REGION
    )
    assert report.ok, report.render()
    assert any(c.name.startswith("ecr ") for c in report.checks)
    assert any(c.name.startswith("ecs ") for c in report.checks)
    # AND the task definition runs as non-root with a read-only root filesystem and awslogs
    ecs = client("ecs", endpoint_url=emulator_endpoint, region=MAIN_REGION)
    td = ecs.describe_task_definition(taskDefinition=outputs["task_definition_arn"])
    container = td["taskDefinition"]["containerDefinitions"][0]
    assert container["user"] not in {"0", "root", "0:0"}
    assert container["readonlyRootFilesystem"] is True
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    # AND .env can be written from the outputs
    env_file = tmp_path / ".env"
    values = write_env(outputs, env_file, endpoint_url=emulator_endpoint)
    text = env_file.read_text()
    for key in DOTENV_KEYS:
        assert f"{key}={values[key]}\n" in text
    # WHEN it is destroyed THEN the queue is gone
    main.destroy()
    assert not _queue_exists(emulator_endpoint, MAIN_REGION, f"{name}-queue")
    main.state_file.unlink()  # nothing left for the fixture to destroy


# -- parity ------------------------------------------------------------------------------------

_VOLATILE_QUEUE_ATTRS = {"QueueArn", "CreatedTimestamp", "LastModifiedTimestamp"}


def _normalise(value: Any, prefix: str) -> Any:
    """Replace the stack prefix (and ARN account/region noise stays) so stacks compare."""
    if isinstance(value, str):
        return value.replace(prefix, "<prefix>")
    if isinstance(value, list):
        return [_normalise(v, prefix) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v, prefix) for k, v in value.items()}
    return value


def _describe(handle: StackHandle, endpoint: str) -> dict[str, Any]:
    sqs = client("sqs", endpoint_url=endpoint, region=handle.region)
    ddb = client("dynamodb", endpoint_url=endpoint, region=handle.region)
    out: dict[str, Any] = {}
    for label, url in (("queue", handle.queue_url), ("dlq", handle.dlq_url)):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        attrs = {
            k: v
            for k, v in attrs.items()
            if k not in _VOLATILE_QUEUE_ATTRS and not k.startswith("Approximate")
        }
        for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
            if policy in attrs:
                attrs[policy] = json.loads(attrs[policy])
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        attrs["tags"] = {k: v for k, v in tags.items() if k in {"managed-by", "sqs-kit-stack"}}
        out[label] = attrs
    tables = (
        ("status", handle.status_table),
        ("completed", handle.completed_table),
        ("effects", handle.effects_table),
    )
    for label, table in tables:
        assert table, f"the stack has no {label} table"
        desc = ddb.describe_table(TableName=table)["Table"]
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        out[label] = {
            "KeySchema": desc["KeySchema"],
            # a set in Terraform, a list in the API: compare them in one order
            "AttributeDefinitions": sorted(
                desc["AttributeDefinitions"], key=lambda a: a["AttributeName"]
            ),
            "BillingMode": desc.get("BillingModeSummary", {}).get("BillingMode"),
            "SSE": desc.get("SSEDescription", {}).get("Status"),
            "TTL": {k: ttl.get(k) for k in ("TimeToLiveStatus", "AttributeName")},
            "PITR": backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        }
    return _normalise(out, handle.prefix)


@pytest.mark.terraform
@pytest.mark.slow
def test_terraform_and_api_provisioners_build_equal_stacks(runs, emulator_endpoint):
    # GIVEN one stack from tflocal (the module) and one from the API provisioner, same settings.
    # max_message_size is pinned to what hashicorp/aws 5.100 can declare (262144).
    tf_handle: StackHandle = runs["futures"]["stack"].result()
    api = ApiProvisioner(endpoint_url=emulator_endpoint, region=STACK_REGION)
    api_spec = StackSpec(prefix=unique_prefix("apipar"), max_message_size=PROVIDER_MAX_MESSAGE_SIZE)
    api_handle = api.provision(api_spec)
    try:
        # WHEN both are described
        tf_desc = _describe(tf_handle, emulator_endpoint)
        api_desc = _describe(api_handle, emulator_endpoint)
        # THEN they are equal except for names
        assert tf_desc["queue"]["RedrivePolicy"]["maxReceiveCount"] == 5
        # Per-run stacks turn PITR off (no system backup per deleted table), on both provisioners
        assert {tf_desc[t]["PITR"] for t in ("status", "completed", "effects")} == {"DISABLED"}
        assert tf_desc["status"]["TTL"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires_at",
        }
        # The effects table: hash message_id, range effect_id (consumer.contract)
        assert [k["KeyType"] for k in tf_desc["effects"]["KeySchema"]] == ["HASH", "RANGE"]
        for part in ("queue", "dlq", "status", "completed", "effects"):
            assert tf_desc[part] == api_desc[part], part
        # AND both pass the same validation
        for spec in (runs["spec"], api_spec):
            report = validate(
                expected_from_spec(spec), endpoint_url=emulator_endpoint, region=STACK_REGION
            )
            assert report.ok, report.render()
    finally:
        api.destroy(api_handle)


@pytest.mark.terraform
@pytest.mark.slow
def test_terraform_and_api_provisioners_build_equal_fifo_stacks(runs, emulator_endpoint):
    # GIVEN a FIFO stack (content-based deduplication, high throughput) from each provisioner
    tf_handle: StackHandle = runs["futures"]["fifo"].result()
    api = ApiProvisioner(endpoint_url=emulator_endpoint, region=STACK_REGION)
    api_spec = _fifo_spec("apififo")
    api_handle = api.provision(api_spec)
    try:
        # WHEN both are described
        tf_desc = _describe(tf_handle, emulator_endpoint)
        api_desc = _describe(api_handle, emulator_endpoint)
        # THEN both queues are FIFO, named .fifo, with the spec's FIFO settings
        assert tf_handle.queue_url.endswith("-queue.fifo")
        assert tf_handle.dlq_arn.endswith("-dlq.fifo")
        assert tf_desc["queue"]["FifoQueue"] == tf_desc["dlq"]["FifoQueue"] == "true"
        assert tf_desc["queue"]["ContentBasedDeduplication"] == "true"
        assert tf_desc["queue"]["DeduplicationScope"] == DEDUP_SCOPE_MESSAGE_GROUP
        assert tf_desc["queue"]["FifoThroughputLimit"] == THROUGHPUT_PER_MESSAGE_GROUP
        # AND the two provisioners built the same thing
        for part in ("queue", "dlq", "status", "completed", "effects"):
            assert tf_desc[part] == api_desc[part], part
        for spec in (runs["fifo_spec"], api_spec):
            report = validate(
                expected_from_spec(spec), endpoint_url=emulator_endpoint, region=STACK_REGION
            )
            assert report.ok, report.render()
    finally:
        api.destroy(api_handle)


@pytest.mark.terraform
@pytest.mark.slow
def test_terraform_provisioner_keeps_a_workspace_per_run(runs):
    provisioner: TerraformProvisioner = runs["provisioner"]
    handle: StackHandle = runs["futures"]["stack"].result()
    # The run's state lives in its own workspace, named after the prefix.
    assert handle.provisioner == "terraform"
    fifo: StackHandle = runs["futures"]["fifo"].result()
    assert provisioner.workspaces() == sorted([handle.prefix, fifo.prefix])
    outputs = provisioner.outputs(handle)
    assert outputs["workspace"] == handle.prefix
    assert outputs["queue_url"] == handle.queue_url
    # The aws target's variables reached the module: a non-root, read-only, host-network task.
    ecs = client("ecs", endpoint_url=provisioner.endpoint_url, region=STACK_REGION)
    td = ecs.describe_task_definition(taskDefinition=outputs["task_definition_arn"])
    td = td["taskDefinition"]
    assert td["networkMode"] == "host"
    assert td["family"] == f"{handle.prefix}-consumer"
    container = td["containerDefinitions"][0]
    assert container["user"] == "10001:10001"
    assert container["readonlyRootFilesystem"] is True
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["QUEUE_URL"] == handle.queue_url
    assert env["MESSAGE_STATUS_TABLE"] == handle.status_table
