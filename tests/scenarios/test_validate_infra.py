"""validate_infra (library, script and `scenario validate`) against moto, in process."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from core.errors import ConfigError
from core.provisioners.api import ApiProvisioner
from core.stack import StackSpec, unique_prefix
from core.terraform.outputs import read_state_outputs
from scenarios import tfenv, validate_infra
from scenarios.cli.validate import command as validate_command
from scenarios.validate_infra import expected_from_outputs, expected_from_spec, validate

REGION = "us-east-1"


@pytest.fixture
def aws():
    with mock_aws():
        yield


def _stack(spec: StackSpec):
    sqs = boto3.client("sqs", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    handle = ApiProvisioner(endpoint_url=None, region=REGION, sqs=sqs, dynamodb=ddb).provision(spec)
    return handle, sqs, ddb


def _state(tmp_path: Path, spec: StackSpec, handle, **extra) -> Path:
    settings = {
        "prefix": spec.prefix,
        "queue_name": spec.queue_name,
        "dlq_name": spec.dlq_name,
        "status_table": spec.status_table,
        "completed_table": spec.completed_table,
        "visibility_timeout": spec.visibility_timeout,
        "receive_wait": spec.receive_wait,
        "max_receive_count": spec.max_receive_count,
        "message_retention": spec.message_retention,
        "dlq_retention": spec.dlq_retention,
        "max_message_size": spec.max_message_size,
        "ttl_attribute": spec.ttl_attribute,
        "point_in_time_recovery": None,
    }
    outputs = {"stack_settings": settings, "region": REGION, **extra}
    state = {"version": 4, "outputs": {k: {"value": v, "type": "x"} for k, v in outputs.items()}}
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(state))
    return path


@pytest.mark.unit
def test_a_correct_stack_passes_every_check(aws):
    spec = StackSpec(prefix=unique_prefix("val"))
    _stack(spec)
    report = validate(expected_from_spec(spec), region=REGION)
    assert report.ok, report.render()
    names = [c.name for c in report.checks]
    assert f"sqs {spec.queue_name} maxReceiveCount" in names
    assert f"dynamodb {spec.status_table} TTL" in names
    assert report.render().endswith(f"{len(names)}/{len(names)} checks passed")


@pytest.mark.unit
def test_a_wrong_visibility_timeout_and_redrive_are_reported(aws):
    # GIVEN a deployed queue whose settings drifted from what was declared
    spec = StackSpec(prefix=unique_prefix("val"))
    handle, sqs, _ = _stack(spec)
    sqs.set_queue_attributes(
        QueueUrl=handle.queue_url,
        Attributes={
            "VisibilityTimeout": "99",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": handle.dlq_arn, "maxReceiveCount": 2}
            ),
        },
    )
    # WHEN validated
    report = validate(expected_from_spec(spec), region=REGION)
    # THEN exactly those two checks fail, with expected and observed values
    assert not report.ok
    failed = {c.name: (c.expected, c.observed) for c in report.failures}
    assert failed == {
        f"sqs {spec.queue_name} VisibilityTimeout": (10, 99),
        f"sqs {spec.queue_name} maxReceiveCount": (5, 2),
    }
    assert "FAIL sqs" in report.render()


@pytest.mark.unit
def test_missing_resources_and_a_wrong_table_are_reported(aws):
    spec = StackSpec(prefix=unique_prefix("val"))
    handle, sqs, ddb = _stack(spec)
    # The DLQ is gone, and the status table was recreated with the wrong key and no TTL.
    sqs.delete_queue(QueueUrl=handle.dlq_url)
    ddb.delete_table(TableName=spec.status_table)
    ddb.create_table(
        TableName=spec.status_table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    report = validate(expected_from_spec(spec), region=REGION)
    failed = {c.name for c in report.failures}
    assert f"sqs {spec.dlq_name} exists" in failed
    assert f"sqs {spec.queue_name} redrive target" in failed
    assert f"dynamodb {spec.status_table} key schema" in failed
    assert f"dynamodb {spec.status_table} billing mode" in failed
    assert f"dynamodb {spec.status_table} TTL" in failed
    assert f"dynamodb {spec.completed_table} key schema" not in failed


@pytest.mark.unit
def test_main_outputs_add_ecr_ecs_and_log_checks(aws, tmp_path):
    spec = StackSpec(prefix=unique_prefix("val"))
    handle, _, _ = _stack(spec)
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(
        repositoryName=spec.prefix,
        imageTagMutability="MUTABLE",  # drifted: the module declares IMMUTABLE
        imageScanningConfiguration={"scanOnPush": True},
    )
    boto3.client("ecs", region_name=REGION).create_cluster(clusterName=spec.prefix)
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=f"/ecs/{spec.prefix}")
    logs.put_retention_policy(logGroupName=f"/ecs/{spec.prefix}", retentionInDays=14)
    state = _state(
        tmp_path,
        spec,
        handle,
        ecr_repository_url=f"123.dkr.ecr.{REGION}.amazonaws.com/{spec.prefix}",
        cluster_name=spec.prefix,
        service_name=f"{spec.prefix}-consumer",
        log_group_name=f"/ecs/{spec.prefix}",
        log_retention_days=14,
    )
    report = validate(expected_from_outputs(read_state_outputs(state)), region=REGION)
    failed = {c.name for c in report.failures}
    assert failed == {
        f"ecr {spec.prefix} tag mutability",
        f"ecs service {spec.prefix}-consumer status",  # the service was never created
    }
    assert f"logs /ecs/{spec.prefix} retention days" in {c.name for c in report.checks}


@pytest.mark.unit
def test_outputs_without_settings_are_a_config_error():
    with pytest.raises(ConfigError, match="stack_settings"):
        expected_from_outputs({"queue_url": "x"})


@pytest.mark.unit
def test_scenario_validate_command(aws, tmp_path, monkeypatch):
    spec = StackSpec(prefix=unique_prefix("val"))
    handle, sqs, _ = _stack(spec)
    workspaces = tmp_path / "terraform.tfstate.d"
    (workspaces / spec.prefix).mkdir(parents=True)
    _state(workspaces / spec.prefix, spec, handle)
    monkeypatch.setattr(validate_infra, "WORKSPACES_DIR", workspaces)
    monkeypatch.setenv("SQSKIT_MAIN_STATE", str(tmp_path / "none.tfstate"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    runner = CliRunner()
    # A good workspace: exit 0.
    result = runner.invoke(validate_command, ["--workspace", spec.prefix])
    assert result.exit_code == 0, result.output
    assert "checks passed" in result.output
    # Drift: exit 1 with the failing check named.
    sqs.set_queue_attributes(QueueUrl=handle.queue_url, Attributes={"VisibilityTimeout": "3"})
    result = runner.invoke(validate_command, ["--workspace", spec.prefix])
    assert result.exit_code == 1
    assert f"FAIL sqs {spec.queue_name} VisibilityTimeout" in result.output
    # Usage errors: exit 2 with a one-line message.
    assert runner.invoke(validate_command, []).exit_code == 2
    result = runner.invoke(validate_command, ["--workspace", "nope"])
    assert result.exit_code == 2
    assert "no workspace 'nope'" in result.output
    result = runner.invoke(validate_command, ["--main"])
    assert result.exit_code == 2
    assert "apply the main infrastructure first" in result.output


@pytest.mark.unit
def test_seed_script_form(aws, tmp_path, monkeypatch, capsys):
    spec = StackSpec(prefix=unique_prefix("val"))
    handle, _, _ = _stack(spec)
    monkeypatch.setenv("SQSKIT_MAIN_STATE", str(_state(tmp_path, spec, handle)))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert validate_infra.main([]) == validate_infra.EXIT_OK
    assert "checks passed" in capsys.readouterr().out


# -- tfenv ---------------------------------------------------------------------------------------


@pytest.mark.unit
def test_tfenv_writes_the_seed_keys(tmp_path):
    outputs = {
        "dotenv": {
            "QUEUE_URL": "http://q",
            "DLQ_ARN": "arn:dlq",
            "ECR_REPO": "1.dkr.ecr/x",
            "AWS_REGION": "us-west-1",
            "MESSAGE_STATUS_TABLE": "x-message-status",
            "MESSAGE_COMPLETED_TABLE": "x-message-completed",
            "EFFECTS_TABLE": "x-effects",
        },
        "dlq_url": "http://dlq",
    }
    state = tmp_path / "terraform.tfstate"
    state.write_text(json.dumps({"outputs": {k: {"value": v} for k, v in outputs.items()}}))
    env = tmp_path / ".env"
    rc = tfenv.main(
        ["--state", str(state), "--output", str(env), "--endpoint-url", "http://127.0.0.1:1"]
    )
    assert rc == 0
    lines = env.read_text().splitlines()
    assert "QUEUE_URL=http://q" in lines
    assert "AWS_REGION=us-west-1" in lines
    assert "DLQ_URL=http://dlq" in lines
    assert "EFFECTS_TABLE=x-effects" in lines
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:1" in lines
    keys = [line.split("=", 1)[0] for line in lines if "=" in line]
    assert keys[: len(tfenv.DOTENV_KEYS)] == list(tfenv.DOTENV_KEYS)


@pytest.mark.unit
def test_tfenv_refuses_incomplete_outputs(tmp_path, capsys):
    state = tmp_path / "terraform.tfstate"
    state.write_text(json.dumps({"outputs": {"queue_url": {"value": "http://q"}}}))
    env = tmp_path / ".env"
    assert tfenv.main(["--state", str(state), "--output", str(env)]) == 2
    assert "lack DLQ_ARN" in capsys.readouterr().err
    assert not env.exists()
    assert tfenv.main(["--state", str(tmp_path / "missing"), "--output", str(env)]) == 2


# -- after `make local-up`: the endpoint of an emulator's state comes from .env ----------------


def _emulator_state(tmp_path: Path) -> Path:
    spec = StackSpec(prefix="sqs-demo")
    return _state(tmp_path, spec, None, queue_arn="arn:aws:sqs:us-east-1:000000000000:q")


@pytest.fixture
def seen_endpoints(monkeypatch):
    seen: list[str | None] = []

    def fake_validate(expected, *, endpoint_url=None, region=None):
        seen.append(endpoint_url)
        return validate_infra.ValidationReport([validate_infra.ResourceCheck("x", True)])

    monkeypatch.setattr(validate_infra, "validate", fake_validate)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return seen


@pytest.mark.unit
def test_an_emulator_state_is_validated_at_the_endpoint_in_dotenv(
    tmp_path, monkeypatch, seen_endpoints
):
    monkeypatch.setenv("SQSKIT_MAIN_STATE", str(_emulator_state(tmp_path)))
    env = tmp_path / ".env"
    env.write_text("# local-up\nAWS_ENDPOINT_URL=http://127.0.0.1:4599\n")
    monkeypatch.setenv("SQSKIT_ENV_FILE", str(env))
    # the seed's script form and the CLI, with nothing exported
    assert validate_infra.main(["--main"]) == validate_infra.EXIT_OK
    assert CliRunner().invoke(validate_command, ["--main"]).exit_code == 0
    assert seen_endpoints == ["http://127.0.0.1:4599", "http://127.0.0.1:4599"]
    # an exported endpoint wins over the file
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4600")
    assert validate_infra.main(["--main"]) == validate_infra.EXIT_OK
    assert seen_endpoints[-1] == "http://127.0.0.1:4600"


@pytest.mark.unit
def test_an_emulator_state_without_a_known_endpoint_is_a_usage_error(
    tmp_path, monkeypatch, seen_endpoints, capsys
):
    monkeypatch.setenv("SQSKIT_MAIN_STATE", str(_emulator_state(tmp_path)))
    monkeypatch.setenv("SQSKIT_ENV_FILE", str(tmp_path / "absent.env"))
    assert validate_infra.main(["--main"]) == validate_infra.EXIT_USAGE
    err = capsys.readouterr().err
    assert "account 000000000000" in err and "--endpoint" in err and "make local-up" in err
    assert seen_endpoints == []


@pytest.mark.unit
def test_a_real_deployment_never_takes_the_endpoint_from_dotenv(
    tmp_path, monkeypatch, seen_endpoints
):
    # GIVEN a .env left by local-up, and the state of a deployment on AWS
    spec = StackSpec(prefix="sqs-demo")
    state = _state(tmp_path, spec, None, queue_arn="arn:aws:sqs:us-west-1:123456789012:q")
    monkeypatch.setenv("SQSKIT_MAIN_STATE", str(state))
    env = tmp_path / ".env"
    env.write_text("AWS_ENDPOINT_URL=http://127.0.0.1:4599\n")
    monkeypatch.setenv("SQSKIT_ENV_FILE", str(env))
    # THEN it is validated on AWS
    assert validate_infra.main(["--main"]) == validate_infra.EXIT_OK
    assert seen_endpoints == [None]
