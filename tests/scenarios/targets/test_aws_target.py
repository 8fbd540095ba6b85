"""AwsTarget against in-process moto with a stand-in for the Terraform provisioner: the
variables a run's workspace gets, the outputs it reads, the consumer env, and teardown."""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from typing import Any

import boto3
import pytest

from core.errors import ConfigError, ProvisionError
from core.provisioners.api import ApiProvisioner
from core.provisioners.base import Provisioner
from core.stack import StackHandle, StackSpec
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.targets.aws import AwsStackExtras, AwsTarget, AwsTargetConfig
from scenarios.targets.base import Workload
from tests.scenarios.aws.fis_template import create_request
from tests.scenarios.conftest import EcsStack, register_consumer_task_definition

pytestmark = pytest.mark.unit

_BOTO_CLIENT: Any = boto3.client  # boto3's overloads want a literal service name

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sqs-demo"


class WorkspaceProvisioner(Provisioner):
    """Plays the Terraform provisioner: one 'workspace' per prefix, outputs, destroy."""

    name = "terraform"

    def __init__(self, region: str, *, fail_destroy: bool = False) -> None:
        self.region = region
        self.variables: dict[str, Any] = {}
        self.api = ApiProvisioner(endpoint_url=None, region=region)
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.destroyed: list[str] = []
        self.fail_destroy = fail_destroy
        self.seen_variables: dict[str, Any] = {}

    def configured(self, variables: Mapping[str, Any]) -> WorkspaceProvisioner:
        """The target's provisioner factory: this stand-in, given the run's variables."""
        self.variables = dict(variables)
        return self

    def _create(self, spec: StackSpec) -> StackHandle:
        self.seen_variables = dict(self.variables)
        handle = self.api._create(spec)
        td = None
        if self.variables.get("create_task_definition") is True:
            td = register_consumer_task_definition(
                self.region,
                f"{spec.prefix}-consumer",
                log_group=self.variables.get("log_group_name"),
                image=self.variables.get("container_image"),  # as the stack module does
            )
        self.workspaces[spec.prefix] = {"task_definition_arn": td, "workspace": spec.prefix}
        return handle

    def outputs(self, handle: StackHandle) -> dict[str, Any]:
        return self.workspaces[handle.prefix]

    def _delete(self, handle: StackHandle) -> None:
        if self.fail_destroy:
            raise ProvisionError("terraform destroy failed: state lock")
        self.api._delete(handle)
        self.destroyed.append(handle.prefix)


def _main_outputs(stack: EcsStack) -> dict[str, Any]:
    # `terraform output -json` of the main infrastructure, as the target reads it.
    return {
        "cluster_name": {"value": stack.cluster},
        "subnet_ids": {"value": stack.subnets},
        "security_group_id": {"value": stack.security_groups[0]},
        "log_group_name": {"value": stack.log_group},
        "execution_role_arn": {"value": "arn:aws:iam::123456789012:role/sqs-demo-execution"},
        "ecr_repository_url": {"value": ECR},
        "task_definition_arn": {
            "value": "arn:aws:ecs:us-east-1:123456789012:task-definition/main:1"
        },
    }


def _target(
    stack: EcsStack,
    provisioner: WorkspaceProvisioner,
    *,
    more_clients: Mapping[str, Any] | None = None,
    **config: Any,
) -> AwsTarget:
    settings: dict[str, Any] = {
        "region": stack.region,
        "image_tag": "abc1234",
        "main_outputs": _main_outputs(stack),
        "describe_interval_s": 0,
        "logs_interval_s": 0,
        "log_settle_s": 0,
        **config,
    }
    clients: dict[str, Any] = {"ecs": stack.ecs(), "logs": stack.logs(), **(more_clients or {})}
    return AwsTarget(
        AwsTargetConfig(**settings),
        provisioner_factory=provisioner.configured,
        client_factory=lambda service: (
            clients.get(service) or _BOTO_CLIENT(service, region_name=stack.region)
        ),
    )


def test_a_run_gets_its_own_task_definition_wired_to_the_main_infrastructure(
    ecs_stack: EcsStack,
) -> None:
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(ecs_stack, provisioner)
    spec = StackSpec(prefix=f"{ecs_stack.prefix}x")
    try:
        handle = target.provision(spec)
        # THEN the workspace got the image, role and log group of the main infrastructure
        assert provisioner.seen_variables == {
            "create_task_definition": True,
            "container_image_tag": "abc1234",
            "container_image": f"{ECR}:abc1234",
            "execution_role_arn": "arn:aws:iam::123456789012:role/sqs-demo-execution",
            "log_group_name": ecs_stack.log_group,
        }
        # AND tasks run from the run's task definition, not the main service's
        assert target.extras is not None
        assert target.extras.task_definition.endswith(f"task-definition/{spec.prefix}-consumer:1")
        assert target.extras.cluster == ecs_stack.cluster
        assert target.extras.workspace == spec.prefix

        # WHEN consumers start with the scenario's env
        handles = target.start_consumers(
            2, ConsumerSettings(sleep_min_seconds=3.0), restart=RestartPolicy.NEVER
        )
        assert len(handles) == 2
        run_tasks = ecs_stack.calls.of("RunTask")
        env = {
            e["name"]: e["value"]
            for e in run_tasks[0]["overrides"]["containerOverrides"][0]["environment"]
        }
        # THEN each task gets the stack's addresses plus the scenario's knobs, no endpoint
        assert env["QUEUE_URL"] == handle.queue_url
        assert env["MESSAGE_STATUS_TABLE"] == spec.status_table
        assert env["MESSAGE_COMPLETED_TABLE"] == spec.completed_table
        assert env["SLEEP_MIN_SECONDS"] == "3.0"
        assert "AWS_ENDPOINT_URL" not in env
        assert run_tasks[0]["startedBy"] == spec.prefix
        assert {"key": "sqs-kit-stack", "value": spec.prefix} in run_tasks[0]["tags"]
        assert {"key": "managed-by", "value": "sqs-kit"} in run_tasks[0]["tags"]

        target.signal(handles[0], signal.SIGKILL)
        assert ecs_stack.calls.of("StopTask")[0]["task"] == handles[0].current.native_id

        described = target.describe()
        assert described["target"] == "aws"
        assert described["runner"] == "ecs"
        assert described["launch_type"] == "FARGATE"
        assert described["image_tag"] == "abc1234"
        assert described["workspace"] == spec.prefix
        assert "SIGKILL" in described["kill_semantics"]
    finally:
        target.teardown()
    # AND teardown stopped every task and destroyed the workspace, once
    stopped = {s["task"] for s in ecs_stack.calls.of("StopTask")}
    assert {h.current.native_id for h in handles} <= stopped
    assert provisioner.destroyed == [spec.prefix]
    target.teardown()
    assert provisioner.destroyed == [spec.prefix]
    sqs = boto3.client("sqs", region_name=ecs_stack.region)
    assert not sqs.list_queues(QueueNamePrefix=spec.prefix).get("QueueUrls")


def test_no_image_on_aws_is_refused_before_anything_is_created(ecs_stack: EcsStack) -> None:
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(ecs_stack, provisioner, image_tag=None)
    with pytest.raises(ConfigError, match="--image-tag"):
        target.provision(StackSpec(prefix=f"{ecs_stack.prefix}y"))
    assert provisioner.workspaces == {}


def test_a_stack_whose_outputs_lack_the_cluster_is_destroyed_not_leaked(
    ecs_stack: EcsStack,
) -> None:
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    main = _main_outputs(ecs_stack)
    del main["cluster_name"]
    target = _target(ecs_stack, provisioner, main_outputs=main)
    spec = StackSpec(prefix=f"{ecs_stack.prefix}z")
    with pytest.raises(ConfigError, match="cluster"):
        target.provision(spec)
    assert provisioner.destroyed == [spec.prefix]


def test_a_failed_destroy_names_the_cleanup_command(ecs_stack: EcsStack) -> None:
    provisioner = WorkspaceProvisioner(ecs_stack.region, fail_destroy=True)
    target = _target(ecs_stack, provisioner)
    spec = StackSpec(prefix=f"{ecs_stack.prefix}w")
    target.provision(spec)
    with pytest.raises(
        ProvisionError, match=f"scenario cleanup --target aws --prefix {spec.prefix}"
    ):
        target.teardown()
    provisioner.fail_destroy = False
    assert target.handle is not None
    provisioner.api._delete(target.handle)


def test_ecs_report_fields_appear_once_provisioned_and_outlive_teardown(
    ecs_stack: EcsStack,
) -> None:
    # GIVEN an aws target described before anything exists (as the engine first sees it)
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(ecs_stack, provisioner)
    ecs_fields = {"cluster", "task_definition", "launch_type"}
    assert not ecs_fields & target.describe().keys()
    spec = StackSpec(prefix=f"{ecs_stack.prefix}d")
    try:
        target.provision(spec)
    finally:
        target.teardown()
    # THEN once the phase is over (stack destroyed) the target still names where tasks ran,
    # so the engine's describe() after the phases gives the report its ECS fields
    after = target.describe()
    assert after["cluster"] == ecs_stack.cluster
    assert after["task_definition"].endswith(f"task-definition/{spec.prefix}-consumer:1")
    assert after["launch_type"] == "FARGATE"


def test_stack_extras_read_terraform_json_aliases_and_env_overrides() -> None:
    outputs = {
        "cluster_name": {"value": "sqs-demo-cluster", "type": "string", "sensitive": False},
        "task_definition_arn": "arn:td:1",
        "subnet_ids": {"value": ["subnet-a", "subnet-b"]},
        "security_group_id": "sg-1",
        "log_group_name": None,
    }
    extras = AwsStackExtras.from_outputs(outputs, environ={})
    assert extras == AwsStackExtras(
        cluster="sqs-demo-cluster",
        task_definition="arn:td:1",
        subnets=("subnet-a", "subnet-b"),
        security_groups=("sg-1",),
        log_group=None,
    )
    overridden = AwsStackExtras.from_outputs(
        outputs, environ={"SQSKIT_ECS_SUBNETS": "subnet-x, subnet-y", "SQSKIT_ECS_CLUSTER": "other"}
    )
    assert overridden.subnets == ("subnet-x", "subnet-y")
    assert overridden.cluster == "other"


def test_stack_extras_missing_fields_are_named() -> None:
    with pytest.raises(ConfigError, match=r"cluster .*SQSKIT_ECS_CLUSTER.*task_definition"):
        AwsStackExtras.from_outputs({"task_definition_arn": None}, environ={})


def test_host_network_copy_for_an_emulator_and_its_removal(ecs_stack: EcsStack) -> None:
    # GIVEN an emulator run whose Terraform stack registered an awsvpc task definition
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(
        ecs_stack,
        provisioner,
        endpoint_url="http://127.0.0.1:1",
        network_mode="host",
        container_image="sqs-kit-consumer:local",
    )
    spec = StackSpec(prefix=f"{ecs_stack.prefix}h")
    try:
        target.provision(spec)
        assert provisioner.seen_variables["task_network_mode"] == "host"
        assert provisioner.seen_variables["container_image"] == "sqs-kit-consumer:local"
        # THEN tasks run from a host-network copy with the same containers, launch type EC2
        (registered,) = ecs_stack.calls.of("RegisterTaskDefinition")
        assert registered["family"] == f"{spec.prefix}-consumer-host"
        assert registered["networkMode"] == "host"
        assert registered["requiresCompatibilities"] == ["EC2"]
        assert registered["containerDefinitions"][0]["logConfiguration"]["logDriver"] == "awslogs"
        assert target.runner is not None
        request = target.runner.run_task_request("c-0-1", {})
        assert request["launchType"] == "EC2"
        assert "networkConfiguration" not in request
        assert "host-network copy" in target.describe()["task_definition_network_copy"]
    finally:
        target.teardown()
    # AND teardown removed the copy before destroying the stack
    assert ecs_stack.calls.of("DeregisterTaskDefinition")[0]["taskDefinition"].endswith(
        f"{spec.prefix}-consumer-host:1"
    )
    assert provisioner.destroyed == [spec.prefix]


def test_host_network_mode_is_refused_on_real_aws() -> None:
    with pytest.raises(ConfigError, match="awsvpc only"):
        AwsTargetConfig(network_mode="host")
    with pytest.raises(ConfigError, match="awsvpc or host"):
        AwsTargetConfig(network_mode="bridge", endpoint_url="http://127.0.0.1:1")


def test_the_report_records_task_start_up_stops_and_log_delays(ecs_stack: EcsStack) -> None:
    # GIVEN a run on "AWS" (moto): the recorder measures what only AWS can tell
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(ecs_stack, provisioner)
    spec = StackSpec(prefix=f"{ecs_stack.prefix}r")
    try:
        target.provision(spec)
        (handle,) = target.start_consumers(1, ConsumerSettings(), restart=RestartPolicy.NEVER)
        deadline = time.monotonic() + 5
        while not handle.current.has_started and time.monotonic() < deadline:
            time.sleep(0.02)
        target.signal(handle, signal.SIGTERM)
    finally:
        target.teardown()
    recorded = target.describe()["aws_timings"]
    # THEN the report carries the measurements, labelled as AWS's
    assert recorded["measured_on"] == "aws" and recorded["tasks"] == 1
    assert recorded["metrics"]["startup_s"]["n"] == 1
    assert recorded["metrics"]["stop_s"]["n"] == 1
    assert "replays these timings" in recorded["note"]


def test_an_emulator_run_labels_its_timings_and_can_model_aws(
    ecs_stack: EcsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQSKIT_AWS_TIMINGS", "aws")
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(ecs_stack, provisioner, endpoint_url="http://127.0.0.1:1")
    assert target.config.timings is not None
    spec = StackSpec(prefix=f"{ecs_stack.prefix}m")
    try:
        target.provision(spec)
        described = target.describe()
    finally:
        target.teardown()
    assert described["aws_timings"]["measured_on"] == "emulator"
    assert "with the timing model" in described["aws_timings"]["note"]
    assert described["timing_model"]["log_batch_s"] == 5.0
    # AND against AWS itself the model is refused
    with pytest.raises(ConfigError, match="SQSKIT_AWS_TIMINGS=aws"):
        AwsTargetConfig()


# -- --consumer-image: the user's image in the task definition ---------------------------------


def test_consumer_image_becomes_the_task_definition_image_on_aws(
    ecs_stack: EcsStack, tmp_path: Any
) -> None:
    from scenarios.settings import RunSettings
    from scenarios.targets import Workload, get_target

    # GIVEN `scenario run ... --target aws --consumer-image me/consumer:1.2 --yes`
    settings = RunSettings(target="aws", consumer_image="me/consumer:1.2", image_tag="abc1234")
    built = get_target(settings, run_dir=tmp_path)
    assert isinstance(built, AwsTarget) and built.config.container_image == "me/consumer:1.2"
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(ecs_stack, provisioner, container_image="me/consumer:1.2")
    assert "me/consumer:1.2" in str(
        target.preflight(Workload(scenarios=1, consumers=2, messages=5))
    )
    spec = StackSpec(prefix=f"{ecs_stack.prefix}i")
    try:
        target.provision(spec)
        # THEN the run's task definition is the user's image, not the kit's ECR image
        assert provisioner.seen_variables["container_image"] == "me/consumer:1.2"
        target.start_consumers(1, ConsumerSettings(), restart=RestartPolicy.NEVER)
        [run_task] = ecs_stack.calls.of("RunTask")
        described = ecs_stack.ecs().describe_task_definition(
            taskDefinition=run_task["taskDefinition"]
        )["taskDefinition"]
        assert described["containerDefinitions"][0]["image"] == "me/consumer:1.2"
        env = run_task["overrides"]["containerOverrides"][0]["environment"]
        assert {"name": "EFFECTS_TABLE", "value": spec.effects_table} in env
    finally:
        target.teardown()


def test_consumer_image_in_the_host_network_copy_for_an_emulator(ecs_stack: EcsStack) -> None:
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(
        ecs_stack,
        provisioner,
        endpoint_url="http://127.0.0.1:1",
        network_mode="host",
        container_image="me/consumer:1.2",
    )
    spec = StackSpec(prefix=f"{ecs_stack.prefix}j")
    try:
        target.provision(spec)
        # THEN the RegisterTaskDefinition call the target made carries the user's image
        (registered,) = ecs_stack.calls.of("RegisterTaskDefinition")
        assert registered["containerDefinitions"][0]["image"] == "me/consumer:1.2"
        assert target.runner is not None
        request = target.runner.run_task_request("c-0-1", {})
        assert request["taskDefinition"].endswith(f"{spec.prefix}-consumer-host:1")
    finally:
        target.teardown()


# -- AWS FIS network faults (SQSKIT_AWS_FIS_NETWORK_FAULTS=on) ---------------------------------

MANAGED_INSTANCE_ROLE = {
    "name": "sqs-demo-fis-managed-instance",
    "arn": "arn:aws:iam::123456789012:role/sqs-demo-fis-managed-instance",
}


def _fis_main_outputs(stack: EcsStack, template_id: str | None) -> dict[str, Any]:
    on = template_id is not None
    return {
        **_main_outputs(stack),
        "fis_experiment_template_id": {"value": template_id},
        "fis_managed_instance_role": {"value": MANAGED_INSTANCE_ROLE if on else None},
    }


def test_network_faults_run_the_modules_fis_template_on_the_runs_tasks(ecs_stack: EcsStack) -> None:
    from moto.moto_api import state_manager

    # GIVEN the main infrastructure applied with enable_fis_network_faults=true
    fis = _BOTO_CLIENT("fis", region_name=ecs_stack.region)
    declared = create_request(cluster=ecs_stack.cluster, service="sqs-demo-consumer")
    module_id = fis.create_experiment_template(**declared)["experimentTemplate"]["id"]
    ecs_stack.calls.attach(fis)
    state_manager.set_transition(  # one step per GetExperiment
        model_name="fis::experiment", transition={"progression": "manual", "times": 1}
    )
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(
        ecs_stack,
        provisioner,
        more_clients={"fis": fis},
        main_outputs=_fis_main_outputs(ecs_stack, module_id),
        network_faults=True,
        fis_start_wait_s=0,
        fis_poll_interval_s=0,
    )
    spec = StackSpec(prefix=f"{ecs_stack.prefix}f")
    # THEN the plan shown before --yes says FIS experiments will run, from which template
    plan = target.preflight(Workload(scenarios=1, consumers=2, messages=5)) or ""
    assert "SQSKIT_AWS_FIS_NETWORK_FAULTS=on): each phase runs a copy" in plan
    assert f"experiment template {module_id} on its own tasks" in plan
    try:
        target.provision(spec)
        # AND the run's stack gets the SSM sidecar's role (its task definition carries it)
        assert provisioner.seen_variables["fis_managed_instance_role"] == MANAGED_INSTANCE_ROLE
        assert not ecs_stack.calls.of("StartExperiment")  # nothing before the consumers run
        # WHEN the consumers start
        target.start_consumers(2, ConsumerSettings(), restart=RestartPolicy.NEVER)
        target.start_consumers(1, ConsumerSettings(), restart=RestartPolicy.NEVER)
        # THEN one experiment runs the module's actions on every task tagged with the run
        [created] = ecs_stack.calls.of("CreateExperimentTemplate")
        assert created["actions"] == declared["actions"]
        assert created["roleArn"] == declared["roleArn"]
        assert created["targets"]["consumer-tasks"]["resourceTags"] == {
            "sqs-kit-stack": spec.prefix
        }
        [started] = ecs_stack.calls.of("StartExperiment")
        assert target.describe()["fis_network_faults"]["status"] == "initiating"
    finally:
        target.teardown()
        state_manager.unset_transition("fis::experiment")
    # AND teardown stopped the experiment before the tasks, and deleted the run's template only
    names = [name for name, _ in ecs_stack.calls.calls]
    assert names.index("StopExperiment") < names.index("StopTask")
    assert ecs_stack.calls.of("DeleteExperimentTemplate") == [
        {"id": started["experimentTemplateId"]}
    ]
    assert fis.get_experiment_template(id=module_id)["experimentTemplate"]["id"] == module_id
    assert target.describe()["fis_network_faults"]["status"] == "stopped"
    assert provisioner.destroyed == [spec.prefix]


def test_network_faults_with_fis_off_say_which_variable_to_set_before_anything(
    ecs_stack: EcsStack,
) -> None:
    provisioner = WorkspaceProvisioner(ecs_stack.region)
    target = _target(
        ecs_stack,
        provisioner,
        main_outputs=_fis_main_outputs(ecs_stack, None),
        network_faults=True,
    )
    with pytest.raises(ConfigError, match="-var enable_fis_network_faults=true"):
        target.provision(StackSpec(prefix=f"{ecs_stack.prefix}g"))
    assert provisioner.workspaces == {}


@pytest.mark.parametrize(
    ("env", "endpoint", "message"),
    [
        ("maybe", None, "SQSKIT_AWS_FIS_NETWORK_FAULTS='maybe' is not allowed: choose on or off"),
        ("on", "http://127.0.0.1:4566", "SQSKIT_AWS_FIS_NETWORK_FAULTS=on runs AWS FIS"),
    ],
)
def test_the_network_faults_variable_is_validated(
    monkeypatch: pytest.MonkeyPatch, env: str, endpoint: str | None, message: str
) -> None:
    monkeypatch.setenv("SQSKIT_AWS_FIS_NETWORK_FAULTS", env)
    with pytest.raises(ConfigError) as err:
        AwsTargetConfig(endpoint_url=endpoint, main_outputs={})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_network_faults_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQSKIT_AWS_FIS_NETWORK_FAULTS", raising=False)
    assert AwsTargetConfig(main_outputs={}).network_faults is False
    monkeypatch.setenv("SQSKIT_AWS_FIS_NETWORK_FAULTS", "ON")
    assert AwsTargetConfig(main_outputs={}).network_faults is True
