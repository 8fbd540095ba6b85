"""The `aws` target: a Terraform workspace per run, consumers as ECS tasks, events from CloudWatch.

The same scenario runs here unchanged: the stack comes from the per-scenario Terraform root
(``scenarios/terraform``, one workspace per run, destroyed at the end), consumers are tasks
started with RunTask, and their JSON events are read back from CloudWatch Logs, so the oracle
judges an AWS run exactly like a local one.

With ``endpoint_url`` set, an emulator stands in for AWS (MiniStack runs the tasks on Docker).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.aws import RegionChoice
from core.aws import client as make_client
from core.errors import ConfigError, InfrastructureError, KitError, ProvisionError
from core.provisioners import Provisioner, get_provisioner
from core.stack import KIT_TAG, StackHandle, StackSpec
from core.terraform import MAIN_ROOT
from core.terraform.outputs import plain_outputs, read_outputs_file, terraform_outputs
from scenarios.aws.fis import (
    ENABLE_VARIABLE,
    MANAGED_INSTANCE_ROLE_OUTPUT,
    NetworkFaultExperiment,
    template_id_from_outputs,
)
from scenarios.aws.guardrails import (
    caller_identity,
    estimate_cost,
    preflight_text,
    require_confirmation,
)
from scenarios.aws.recorder import MEASURED_ON_AWS, MEASURED_ON_EMULATOR, TimingRecorder
from scenarios.aws.region import ENV_MAIN_OUTPUTS, run_region
from scenarios.aws.timings import ENV_TIMINGS, REPORT_KEY, AwsTimings, timings_from_spec
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.base import ConsumerHandle
from scenarios.runners.ecs import KILL_SEMANTICS, MAX_STARTED_BY, EcsRunner, EcsTaskConfig
from scenarios.targets.base import Target, Workload

log = logging.getLogger(__name__)

#: Terraform output names the target reads, with the aliases it accepts for each.
OUTPUT_ALIASES: dict[str, tuple[str, ...]] = {
    "cluster": ("ecs_cluster_name", "cluster_name", "ecs_cluster_arn", "cluster_arn", "cluster"),
    "task_definition": ("task_definition_arn", "ecs_task_definition_arn", "task_definition"),
    "subnets": ("public_subnet_ids", "subnet_ids", "subnets"),
    "security_groups": (
        "security_group_ids",
        "task_security_group_ids",
        "security_group_id",
        "task_security_group_id",
    ),
    "log_group": ("log_group_name", "cloudwatch_log_group_name", "log_group"),
    "workspace": ("workspace", "terraform_workspace"),
}
#: Environment overrides, for stacks whose outputs lack a field (e.g. an existing cluster).
ENV_OVERRIDES = {
    "cluster": "SQSKIT_ECS_CLUSTER",
    "task_definition": "SQSKIT_ECS_TASK_DEFINITION",
    "subnets": "SQSKIT_ECS_SUBNETS",
    "security_groups": "SQSKIT_ECS_SECURITY_GROUPS",
}


#: RegisterTaskDefinition's parameters, as DescribeTaskDefinition returns them.
_REGISTER_FIELDS = frozenset(
    {
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "containerDefinitions",
        "volumes",
        "placementConstraints",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "pidMode",
        "ipcMode",
        "proxyConfiguration",
        "inferenceAccelerators",
        "ephemeralStorage",
        "runtimePlatform",
    }
)


@dataclass(frozen=True)
class AwsStackExtras:
    """Where the consumer tasks run, read from the Terraform outputs of the stack."""

    cluster: str
    task_definition: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    log_group: str | None = None
    workspace: str | None = None

    @classmethod
    def from_outputs(
        cls, outputs: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> AwsStackExtras:
        """Read Terraform outputs (``terraform output -json`` shape or plain values)."""
        env = environ if environ is not None else os.environ
        plain = plain_outputs(outputs)
        found: dict[str, Any] = {}
        for key, aliases in OUTPUT_ALIASES.items():
            for alias in aliases:
                if alias in plain:
                    value = plain[alias]
                    if value not in (None, "", []):
                        found[key] = value
                        break
        for key, var in ENV_OVERRIDES.items():
            if env.get(var):
                found[key] = env[var]
        missing = [k for k in ("cluster", "task_definition") if not found.get(k)]
        if missing:
            names = ", ".join(
                f"{k} (output {OUTPUT_ALIASES[k][0]} or {ENV_OVERRIDES[k]})" for k in missing
            )
            raise ConfigError(f"the stack outputs lack {names}")
        return cls(
            cluster=str(found["cluster"]),
            task_definition=str(found["task_definition"]),
            subnets=_as_tuple(found.get("subnets")),
            security_groups=_as_tuple(found.get("security_groups")),
            log_group=str(found["log_group"]) if found.get("log_group") else None,
            workspace=str(found["workspace"]) if found.get("workspace") else None,
        )


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


#: Environment variables that fill AwsTargetConfig fields left unset (read at construction).
ENV_NETWORK_MODE = "SQSKIT_AWS_NETWORK_MODE"
ENV_CONTAINER_IMAGE = "SQSKIT_AWS_CONTAINER_IMAGE"
ENV_MAIN_DIR = "SQSKIT_AWS_MAIN_DIR"
#: run the main infrastructure's FIS network faults on each phase's tasks: on | off (default)
ENV_FIS = "SQSKIT_AWS_FIS_NETWORK_FAULTS"
FIS_CHOICES = ("on", "off")
NETWORK_MODES = ("awsvpc", "host")
#: the rough duration the cost estimate assumes for one scenario
MINUTES_PER_SCENARIO = 5.0
#: task restarts the cost estimate assumes per scenario (a crash run restarts about five)
RESTARTS_PER_SCENARIO = 5


@dataclass
class AwsTargetConfig:
    """Choices for one aws-target run (the CLI builds this from its options).

    Fields left unset come from the environment: ``SQSKIT_AWS_NETWORK_MODE``,
    ``SQSKIT_AWS_CONTAINER_IMAGE``, ``SQSKIT_AWS_MAIN_OUTPUTS`` (a ``terraform output -json``
    file of the main infrastructure), ``SQSKIT_AWS_MAIN_DIR``, ``SQSKIT_AWS_TIMINGS``
    (AWS's timings injected into an emulator: ``off``, ``aws`` or a real run's report) and
    ``SQSKIT_AWS_FIS_NETWORK_FAULTS`` (``on``: the FIS network faults on every phase's tasks).
    """

    region: str | None = None
    endpoint_url: str | None = None
    image_tag: str | None = None
    provisioner: str = "terraform"
    keep: bool = False
    #: the explicit confirmation to create resources on AWS (``--yes``)
    yes: bool = False
    #: Terraform variables passed to the per-scenario stack (network mode, ...)
    variables: dict[str, Any] = field(default_factory=dict)
    #: the main infrastructure's outputs (cluster, subnets, ...); None reads them from
    #: ``terraform output -json`` in ``main_dir``
    main_outputs: Mapping[str, Any] | None = None
    main_dir: Path | None = None
    #: full image reference; default ``<ecr_repository_url>:<image_tag>``
    container_image: str | None = None
    #: the task definition's network mode: ``awsvpc`` (Fargate, AWS) or ``host`` (an emulator
    #: that runs tasks on a Docker engine without a bridge network, e.g. MiniStack in CI)
    network_mode: str | None = None
    describe_interval_s: float = 2.0
    logs_interval_s: float = 2.0
    log_settle_s: float = 5.0
    #: AWS's timings injected into an emulator's clients (None: as the emulator is)
    timings: AwsTimings | None = None
    #: run the main infrastructure's FIS network faults on each phase's tasks (docs/faults.md)
    network_faults: bool | None = None
    #: how long to wait, after StartExperiment, for FIS to leave pending/initiating
    fis_start_wait_s: float = 60.0
    fis_poll_interval_s: float = 5.0

    def __post_init__(self) -> None:
        env = os.environ
        if self.network_faults is None:
            raw = env.get(ENV_FIS, "").strip().lower() or "off"
            if raw not in FIS_CHOICES:
                raise ConfigError(
                    f"{ENV_FIS}={raw!r} is not allowed: choose {' or '.join(FIS_CHOICES)}"
                )
            self.network_faults = raw == "on"
        if self.network_faults and self.endpoint_url:
            raise ConfigError(
                f"{ENV_FIS}=on runs AWS FIS experiments: it needs AWS, not an emulator "
                "(--endpoint); unset it for a rehearsal"
            )
        if self.timings is None:
            self.timings = timings_from_spec(env.get(ENV_TIMINGS), endpoint_url=self.endpoint_url)
        if self.network_mode is None:
            self.network_mode = env.get(ENV_NETWORK_MODE, "").strip() or "awsvpc"
        if self.network_mode not in NETWORK_MODES:
            raise ConfigError(
                f"network mode {self.network_mode!r} ({ENV_NETWORK_MODE}) is not allowed: "
                "choose awsvpc or host"
            )
        if self.network_mode == "host" and not self.endpoint_url:
            raise ConfigError(
                f"{ENV_NETWORK_MODE}=host is for an emulator (--endpoint): Fargate runs awsvpc only"
            )
        if self.container_image is None:
            self.container_image = env.get(ENV_CONTAINER_IMAGE, "").strip() or None
        if self.main_dir is None:
            raw_dir = env.get(ENV_MAIN_DIR, "").strip()
            self.main_dir = Path(raw_dir) if raw_dir else MAIN_ROOT
        if self.main_outputs is None and env.get(ENV_MAIN_OUTPUTS, "").strip():
            path = Path(env[ENV_MAIN_OUTPUTS].strip())
            try:
                self.main_outputs = read_outputs_file(path)
            except ConfigError as exc:
                raise ConfigError(f"{ENV_MAIN_OUTPUTS}={path}: {exc}") from exc
        elif self.main_outputs is not None:
            self.main_outputs = plain_outputs(self.main_outputs)


class AwsTarget(Target):
    """Terraform-provisioned stack + ECS consumers + CloudWatch events."""

    name = "aws"

    def __init__(
        self,
        config: AwsTargetConfig | None = None,
        *,
        provisioner_factory: Callable[[Mapping[str, Any]], Provisioner] | None = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self.config = config or AwsTargetConfig()
        self._region: RegionChoice | None = None
        self._main: Mapping[str, Any] | None = None
        self._client_factory = client_factory
        self._provisioner_factory = provisioner_factory or self._default_provisioner
        self._provisioner: Provisioner | None = None
        self.handle: StackHandle | None = None
        self.extras: AwsStackExtras | None = None
        self.runner: EcsRunner | None = None
        #: every task of every phase on this target: start-up, stops, log delays
        self.recorder = TimingRecorder(
            measured_on=MEASURED_ON_EMULATOR if self.config.endpoint_url else MEASURED_ON_AWS,
            note=self._recorder_note(),
        )
        self._shim_task_definition: str | None = None
        self._torn_down = False
        #: the current stack's FIS experiment (network faults on), once its consumers started
        self.fis: NetworkFaultExperiment | None = None
        self._fis_report: dict[str, Any] | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _recorder_note(self) -> str:
        if not self.config.endpoint_url:
            return (
                f"measured on AWS: {ENV_TIMINGS}=<this report> replays these timings in a rehearsal"
            )
        timings = self.config.timings
        model = f"with the timing model ({timings.source})" if timings else "without a timing model"
        return (
            f"measured against the emulator at {self.config.endpoint_url} {model}: these "
            "describe the emulator and the model, not AWS"
        )

    @property
    def region_choice(self) -> RegionChoice:
        """The run's one region and its source (scenarios.aws.region.run_region)."""
        if self._region is None:
            try:
                main = self.main_outputs()
            except ConfigError:
                main = {}  # no main infrastructure (yet): provision says so; the SDK decides
            self._region = run_region(self.config.region, main)
        return self._region

    @property
    def region(self) -> str:
        """The region of everything this run touches: the stack, the tasks, their logs."""
        return self.region_choice.region

    def client(self, service: str) -> Any:
        if self._client_factory is not None:
            return self._client_factory(service)
        return make_client(service, endpoint_url=self.config.endpoint_url, region=self.region)

    def _default_provisioner(self, variables: Mapping[str, Any]) -> Provisioner:
        return get_provisioner(
            self.config.provisioner,
            endpoint_url=self.config.endpoint_url,
            region=self.region,
            variables=variables,
        )

    def main_outputs(self) -> Mapping[str, Any]:
        """The main infrastructure's outputs: given, or `terraform output -json` in main_dir."""
        if self.config.main_outputs is not None:
            return self.config.main_outputs
        if self._main is not None:
            return self._main
        try:
            assert self.config.main_dir is not None
            self._main = terraform_outputs(self.config.main_dir)
        except ConfigError:
            if self.config.endpoint_url:
                self._main = {}  # an emulator run may get everything from the run's own outputs
                return self._main
            raise
        return self._main

    def terraform_variables(self, main: Mapping[str, Any]) -> dict[str, Any]:
        """What the per-scenario stack needs to create the consumer's task definition.

        The execution role, log group and image repository come from the main
        infrastructure; the image tag from ``--image-tag``.
        """
        variables: dict[str, Any] = {"create_task_definition": True}
        if self.config.image_tag:
            variables["container_image_tag"] = self.config.image_tag
        if self.config.network_mode != "awsvpc":
            variables["task_network_mode"] = self.config.network_mode
        image = self.config.container_image
        repo = main.get("ecr_repository_url")
        if image is None and repo and self.config.image_tag:
            image = f"{repo}:{self.config.image_tag}"
        if image is None and not self.config.endpoint_url:
            raise ConfigError(
                "no consumer image: pass --image-tag (pushed with `make aws-build-push`) "
                "or set the container image explicitly"
            )
        if image:
            variables["container_image"] = image
        for name in ("execution_role_arn", "log_group_name"):
            value = main.get(name)
            if value:
                variables[name] = str(value)
        if self.config.network_faults:
            variables["fis_managed_instance_role"] = self._fis_managed_instance_role(main)
        variables.update(self.config.variables)
        return variables

    def _fis_managed_instance_role(self, main: Mapping[str, Any]) -> dict[str, str]:
        """The role the SSM sidecar registers the run's tasks with (FIS reaches them so)."""
        template_id_from_outputs(main)  # FIS off: say which variable to set, before anything
        role = main.get(MANAGED_INSTANCE_ROLE_OUTPUT)
        if not isinstance(role, Mapping) or not role.get("name") or not role.get("arn"):
            raise ConfigError(
                f"{ENV_FIS}=on: the main infrastructure's output {MANAGED_INSTANCE_ROLE_OUTPUT} "
                f"is missing: apply terraform/ again with -var {ENABLE_VARIABLE}=true"
            )
        return {"name": str(role["name"]), "arn": str(role["arn"])}

    # -- Target -----------------------------------------------------------------------------

    def preflight(self, workload: Workload) -> str | None:
        """The plan: account, region, what will be created and a rough cost."""
        if self.config.endpoint_url:
            return f"aws target against {self.config.endpoint_url}: an emulator stands in for AWS"
        identity = caller_identity(self.client("sts"), self.region)
        text = preflight_text(
            identity,
            prefix="sqskit-<scenario>-<hex>",
            consumers=workload.consumers,
            image=self.config.container_image or f"consumer:{self.config.image_tag or 'latest'}",
            estimate=estimate_cost(
                consumers=workload.consumers,
                minutes=MINUTES_PER_SCENARIO * workload.scenarios,
                messages=workload.messages,
                region=self.region,
                restarts=RESTARTS_PER_SCENARIO * workload.scenarios,
                startup_s=AwsTimings().startup_s,
                task_families=workload.scenarios,
            ),
        )
        if self.config.network_faults:
            template = template_id_from_outputs(self.main_outputs())
            text += (
                f"\nFIS network faults ({ENV_FIS}=on): each phase runs a copy of experiment "
                f"template {template} on its own tasks (latency, packet loss, then a blackholed "
                "HTTPS port), stopped at its end; FIS bills per action-minute"
            )
        return text

    def open(self) -> None:
        """Refuse to create anything on AWS without an explicit confirmation or in two regions."""
        require_confirmation(
            target=self.name, yes=self.config.yes, endpoint_url=self.config.endpoint_url
        )
        log.info("aws.region", extra={"region": self.region, "source": self.region_choice.source})

    def provision(self, spec: StackSpec) -> StackHandle:
        main = self.main_outputs()
        provisioner = self._provisioner_factory(self.terraform_variables(main))
        self._provisioner = provisioner
        self._torn_down = False
        handle = provisioner.provision(spec)
        self.handle = handle
        try:
            # The run's own outputs win: its task definition, not the main service's.
            run_outputs = provisioner.outputs(handle)
            if not run_outputs:
                raise ConfigError(
                    f"the {provisioner.name} provisioner returned no outputs for "
                    f"{handle.prefix}: the aws target needs the ECS cluster and task definition "
                    "(use --provisioner terraform)"
                )
            outputs = {**main, **{k: v for k, v in run_outputs.items() if v is not None}}
            self.extras = AwsStackExtras.from_outputs(outputs)
            task_definition = self._task_definition_for_network(spec)
            self.runner = EcsRunner(
                EcsTaskConfig(
                    cluster=self.extras.cluster,
                    task_definition=task_definition,
                    subnets=self.extras.subnets,
                    security_groups=self.extras.security_groups,
                    started_by=spec.prefix[:MAX_STARTED_BY],
                    tags=dict(spec.all_tags),
                    describe_interval_s=self.config.describe_interval_s,
                    logs_interval_s=self.config.logs_interval_s,
                    log_settle_s=self.config.log_settle_s,
                    region=self.region,
                    timings=self.config.timings,
                ),
                ecs=self.client("ecs"),
                logs=self.client("logs"),
                recorder=self.recorder,
            )
        except Exception:
            # The stack exists; never leave it behind because the runner could not be built.
            self.teardown()
            raise
        return handle

    def start_consumers(
        self,
        n: int,
        settings: ConsumerSettings,
        *,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
    ) -> list[ConsumerHandle]:
        """Start the consumers; with network faults on, the stack's FIS experiment after the
        first ones (FIS resolves its targets when the experiment starts)."""
        handles = super().start_consumers(n, settings, restart=restart)
        if self.config.network_faults and self.fis is None and self.handle is not None:
            self._start_network_faults(self.handle)
        return handles

    def _start_network_faults(self, handle: StackHandle) -> None:
        experiment = NetworkFaultExperiment(
            self.client("fis"),
            module_template_id=template_id_from_outputs(self.main_outputs()),
            prefix=handle.prefix,
            tags={"managed-by": KIT_TAG},
            poll_interval_s=self.config.fis_poll_interval_s,
        )
        self.fis = experiment
        experiment.start()
        state = experiment.wait(self.config.fis_start_wait_s, until=frozenset({"running"}))
        if state.status == "failed":
            raise InfrastructureError(
                f"FIS experiment {state.experiment_id} on {handle.prefix}'s tasks failed: "
                f"{state.reason or 'no reason given'} (docs/faults.md, On AWS)"
            )

    def _task_definition_for_network(self, spec: StackSpec) -> str:
        """The stack's task definition, or, for ``network_mode=host``, a host-network copy.

        An emulator whose Docker engine has no bridge network (CI runs dockerd with
        ``--bridge=none``) cannot give an awsvpc task a route to the emulator, so the
        consumer could not reach the queue. When the Terraform stack registered an awsvpc
        definition, the target registers the same definition with ``networkMode=host``
        (launch type EC2) and deregisters it at teardown. Everything else (image, env, log
        configuration, roles) is the stack's own. With a stack that already honours
        ``task_network_mode``, no copy is made.
        """
        assert self.extras is not None
        if self.config.network_mode == "awsvpc":
            return self.extras.task_definition
        ecs = self.client("ecs")
        td = ecs.describe_task_definition(taskDefinition=self.extras.task_definition)[
            "taskDefinition"
        ]
        if td.get("networkMode") == self.config.network_mode:
            return self.extras.task_definition
        register = {k: v for k, v in td.items() if k in _REGISTER_FIELDS}
        register.update(
            family=f"{td['family']}-{self.config.network_mode}",
            networkMode=self.config.network_mode,
            requiresCompatibilities=["EC2"],
            tags=[{"key": k, "value": v} for k, v in sorted(spec.all_tags.items())],
        )
        arn = str(ecs.register_task_definition(**register)["taskDefinition"]["taskDefinitionArn"])
        self._shim_task_definition = arn
        log.info(
            "aws.task_definition_network_copy",
            extra={"source": self.extras.task_definition, "copy": arn},
        )
        return arn

    def _drop_shim_task_definition(self) -> None:
        arn, self._shim_task_definition = self._shim_task_definition, None
        if arn is None:
            return
        ecs = self.client("ecs")
        ecs.deregister_task_definition(taskDefinition=arn)
        delete = getattr(ecs, "delete_task_definitions", None)
        if delete is not None:
            try:
                delete(taskDefinitions=[arn])
            except Exception:  # older emulators lack DeleteTaskDefinitions; deregistered is enough
                log.info("aws.delete_task_definition_unsupported", extra={"arn": arn})

    def stop_timeout(self, timeout: float) -> float:
        """How long a drain may take on ECS: at least stopTimeout plus CloudWatch's delay."""
        if self.runner is None:
            return timeout
        td = self.runner.task_definition
        slack = self.config.log_settle_s + 2 * self.config.describe_interval_s + 5
        return max(timeout, td.stop_timeout_s + slack)

    def teardown(self) -> None:
        """Stop every task, then destroy the workspace; safe to call twice."""
        if self._torn_down:
            return
        errors: list[str] = []
        if self.fis is not None:
            # the faults end first: the drain below should not run under them
            experiment, self.fis = self.fis, None
            try:
                experiment.close()
            except Exception as exc:
                log.exception("aws.fis_stop_failed")
                errors.append(f"stopping the FIS experiment: {exc}")
            finally:
                self._fis_report = experiment.describe()
        if self.runner is not None:
            try:
                self.stop_consumers()
            except Exception as exc:
                log.exception("aws.stop_consumers_failed")
                errors.append(f"stopping tasks: {exc}")
        if self._shim_task_definition is not None and not self.config.keep:
            try:
                self._drop_shim_task_definition()
            except Exception as exc:
                log.exception("aws.deregister_failed")
                errors.append(f"deregistering the host-network task definition: {exc}")
        if self.handle is not None and self._provisioner is not None and not self.config.keep:
            try:
                self._provisioner.destroy(self.handle)
            except Exception as exc:
                log.exception("aws.destroy_failed")
                errors.append(f"destroying {self.handle.prefix}: {exc}")
        self._torn_down = True
        if errors:
            prefix = self.handle.prefix if self.handle else "<prefix>"
            raise ProvisionError(
                "teardown incomplete (" + "; ".join(errors) + "). Remove leftovers with "
                f"`scenario cleanup --target aws --prefix {prefix} --yes`"
            )

    def describe(self) -> dict[str, Any]:
        try:
            region: str | None = self.region
            region_source: str | None = self.region_choice.source
        except KitError as exc:  # a region mismatch: the report says why nothing ran
            region, region_source = None, str(exc)
        fields: dict[str, Any] = {
            "target": self.name,
            "region": region,
            "region_source": region_source,
            "endpoint": self.config.endpoint_url or "aws",
            "emulator": "external" if self.config.endpoint_url else None,
            "provisioner": self.config.provisioner,
            "image_tag": self.config.image_tag,
        }
        if self.extras is not None and self.extras.workspace:
            fields["workspace"] = self.extras.workspace
        if self._shim_task_definition is not None and self.extras is not None:
            source = self.extras.task_definition
            fields["task_definition_network_copy"] = (
                f"{self.config.network_mode}-network copy of {source}"
            )
        fields.update(
            runner=EcsRunner.name,
            network_mode=self.config.network_mode,
            kill_semantics=KILL_SEMANTICS,
        )
        if self.runner is not None:
            fields.update(self.runner.describe())
        if self.config.network_faults:
            fis = self.fis.describe() if self.fis is not None else self._fis_report
            fields["fis_network_faults"] = fis or {"status": "not started"}
        fields[REPORT_KEY] = self.recorder.summary()
        return fields
