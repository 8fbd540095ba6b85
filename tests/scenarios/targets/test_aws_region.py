"""One region for the whole aws-target run, against in-process moto.

With no region exported and the main infrastructure in us-west-1, everything the run touches
(the workspace's provider, the clients, RunTask, the task's awslogs-region, the preflight and
`scenario cleanup`) is in us-west-1; a region the user chose that disagrees is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from core.provisioners.api import ApiProvisioner
from core.provisioners.base import Provisioner
from core.stack import StackHandle, StackSpec
from scenarios.aws.region import known_main_outputs, run_region
from scenarios.cli import cleanup as cleanup_cli
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.ecs import EcsRunner, EcsTaskConfig
from scenarios.targets.aws import AwsTarget, AwsTargetConfig
from scenarios.targets.base import Workload
from tests.scenarios.conftest import register_consumer_task_definition

pytestmark = pytest.mark.unit

MAIN_REGION = "us-west-1"


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing exported and an empty ~/.aws/config: only the main infrastructure knows."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))


class RegionalWorkspace(Provisioner):
    """Plays the Terraform workspace: its provider region is the one the target gives it."""

    name = "terraform"

    def __init__(self, region: str, variables: Mapping[str, Any]) -> None:
        super().__init__(variables=variables)
        self.region = region
        self.api = ApiProvisioner(endpoint_url=None, region=region)
        self.task_definition = ""

    def _create(self, spec: StackSpec) -> StackHandle:
        handle = self.api._create(spec)
        # the stack module: awslogs-region = coalesce(log_region, the provider's region)
        self.task_definition = register_consumer_task_definition(
            self.region, f"{spec.prefix}-consumer", log_group=self.variables["log_group_name"]
        )
        return handle

    def outputs(self, handle: StackHandle) -> dict[str, Any]:
        return {"task_definition_arn": self.task_definition, "region": self.region}

    def _delete(self, handle: StackHandle) -> None:
        self.api._delete(handle)


def _main_infrastructure(region: str = MAIN_REGION) -> dict[str, Any]:
    """The main infrastructure in ``region``, and its `terraform output -json`."""
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/20")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="main", Description="m", VpcId=vpc)["GroupId"]
    boto3.client("ecs", region_name=region).create_cluster(clusterName="sqs-demo-cluster")
    boto3.client("logs", region_name=region).create_log_group(logGroupName="/ecs/sqs-demo")
    plain = {
        "aws_region": region,
        "cluster_name": "sqs-demo-cluster",
        "subnet_ids": [subnet],
        "security_group_id": sg,
        "log_group_name": "/ecs/sqs-demo",
        "execution_role_arn": "arn:aws:iam::123456789012:role/sqs-demo-execution",
        "ecr_repository_url": f"123456789012.dkr.ecr.{region}.amazonaws.com/sqs-demo",
        "queue_url": f"https://sqs.{region}.amazonaws.com/123456789012/sqs-demo-queue",
    }
    return {k: {"value": v} for k, v in plain.items()}


# us-west-1 is the case (and the kit's default); eu-west-1 proves the outputs decide
@pytest.mark.parametrize("region", [MAIN_REGION, "eu-west-1"])
def test_no_region_exported_and_a_main_stack_in_us_west_1_puts_everything_there(
    moto_account: None,
    no_region: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    region: str,
) -> None:
    main = _main_infrastructure(region)
    workspaces: list[RegionalWorkspace] = []
    target: AwsTarget

    def provisioner(variables: Mapping[str, Any]) -> Provisioner:
        # the target's own factory decides the region; the stand-in only plays Terraform
        real = target._default_provisioner(variables)
        workspaces.append(RegionalWorkspace(real.region, variables))  # type: ignore[attr-defined]
        return workspaces[-1]

    target = AwsTarget(
        AwsTargetConfig(
            image_tag="abc1234",
            main_outputs=main,
            yes=True,
            describe_interval_s=0,
            logs_interval_s=0,
            log_settle_s=0,
        ),
        provisioner_factory=provisioner,
    )
    # WHEN a run resolves its region
    assert target.region == region
    assert "main infrastructure" in target.region_choice.source
    target.open()
    # THEN the clients, the identity in the plan and the workspace are all in us-west-1
    assert {target.client(s).meta.region_name for s in ("ecs", "logs", "sqs", "sts")} == {region}
    spec = StackSpec(prefix="sqskit-region1")
    try:
        handle = target.provision(spec)
        assert workspaces[0].region == region
        assert handle.region == region and f"sqs.{region}." in handle.queue_url
        # AND the task logs to us-west-1, and RunTask finds the us-west-1 cluster
        assert target.runner is not None
        assert target.runner.task_definition.log_region == region
        (consumer,) = target.start_consumers(1, ConsumerSettings(), restart=RestartPolicy.NEVER)
        assert f":{region}:" in consumer.current.native_id
        assert target.describe()["region"] == region
    finally:
        target.teardown()

    # AND `scenario cleanup` looks in us-west-1 too, with nothing exported
    outputs_file = tmp_path / "main.json"
    outputs_file.write_text(json.dumps(main))
    monkeypatch.setenv("SQSKIT_AWS_MAIN_OUTPUTS", str(outputs_file))
    result = CliRunner().invoke(cleanup_cli.command, ["--target", "aws"])
    assert result.exit_code == 0, result.output
    assert f"in AWS {region}" in result.output


def test_the_preflight_names_the_main_infrastructures_region(
    moto_account: None, no_region: None
) -> None:
    target = AwsTarget(AwsTargetConfig(image_tag="abc1234", main_outputs=_main_infrastructure()))
    plan = target.preflight(Workload(scenarios=1, consumers=2, messages=20))
    assert plan is not None and f"in {MAIN_REGION}" in plan


def test_a_chosen_region_that_disagrees_with_the_main_infrastructure_is_refused(
    no_region: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = {"aws_region": MAIN_REGION}
    # --region
    with pytest.raises(ConfigError, match=r"region mismatch: .*us-east-1.*us-west-1.*--region"):
        run_region("us-east-1", main)
    # an exported AWS_DEFAULT_REGION
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with pytest.raises(ConfigError, match="unset AWS_DEFAULT_REGION"):
        run_region(None, main)
    # AND the target refuses before anything is created
    target = AwsTarget(AwsTargetConfig(region="us-east-1", main_outputs=main, yes=True))
    with pytest.raises(ConfigError, match="region mismatch"):
        target.open()
    assert target.describe()["region"] is None
    # AND the same region, or none chosen, agrees
    assert run_region(MAIN_REGION, main).region == MAIN_REGION
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert run_region(None, main).region == MAIN_REGION


def test_a_profile_default_yields_to_the_main_infrastructure(
    no_region: None, tmp_path: Path
) -> None:
    # A profile's region is a default, not a choice: the cluster's region decides.
    (tmp_path / "aws-config").write_text("[default]\nregion = eu-central-1\n")
    assert run_region(None, {}).region == "eu-central-1"
    assert run_region(None, {"aws_region": MAIN_REGION}).region == MAIN_REGION


def test_cleanup_reads_the_aws_main_state_but_not_an_emulators(tmp_path: Path) -> None:
    state = tmp_path / "terraform.tfstate"
    emulator = {"outputs": {"queue_url": {"value": "http://127.0.0.1:4566/000/q"}}}
    state.write_text(json.dumps(emulator | {"version": 4}))
    assert known_main_outputs(endpoint_url=None, environ={}, state_file=state) == {}
    on_aws = {
        "outputs": {
            "queue_url": {"value": "https://sqs.us-west-1.amazonaws.com/1/q"},
            "aws_region": {"value": MAIN_REGION},
        }
    }
    state.write_text(json.dumps(on_aws | {"version": 4}))
    assert known_main_outputs(endpoint_url=None, environ={}, state_file=state)["aws_region"] == (
        MAIN_REGION
    )
    # an emulator run never takes AWS's region from the repository's state
    assert known_main_outputs(endpoint_url="http://127.0.0.1:1", environ={}, state_file=state) == {}


def test_a_task_definition_logging_to_another_region_is_refused(
    moto_account: None, no_region: None
) -> None:
    td = register_consumer_task_definition("us-east-1", "elsewhere", log_group="/ecs/x")
    with pytest.raises(ConfigError, match="awslogs-region us-east-1, but the run is in us-west-1"):
        EcsRunner(
            EcsTaskConfig(cluster="c", task_definition=td, subnets=("s",), region=MAIN_REGION),
            ecs=boto3.client("ecs", region_name="us-east-1"),
            logs=boto3.client("logs", region_name="us-east-1"),
        )
