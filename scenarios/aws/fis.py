"""AWS FIS network faults on one run's ECS tasks: the AWS side of issue 16.

The main infrastructure (``terraform/``, ``-var enable_fis_network_faults=true``) declares one
experiment template: ``aws:ecs:task-network-latency``, then ``-packet-loss``, then
``-blackhole-port`` on TCP 443 egress, as the FIS role, with its stop condition. That template
targets the main *service*'s tasks; a scenario's consumers are RunTask tasks of its own stack,
tagged ``sqs-kit-stack=<prefix>``. So for a run the kit copies the module's template -
actions, parameters, order, role, stop conditions, as Terraform declared them - into a
per-run template whose one target selects the run's tasks by that tag, and then:

- ``start()``: CreateExperimentTemplate (the copy), StartExperiment;
- ``poll()`` / ``wait()``: GetExperiment until a terminal state (completed, stopped, failed,
  cancelled), or until it runs;
- ``close()``: StopExperiment if it still runs (teardown, Ctrl-C), wait for it to stop, and
  DeleteExperimentTemplate on the copy. Safe to call twice.

The FIS client is injected (``core.aws.client("fis")`` in the target). What only a real
account shows - the SSM agent sidecar registering and injecting, the latency the consumer
sees - is listed in docs/faults.md (On AWS).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import ConfigError, InfrastructureError

log = logging.getLogger(__name__)

#: the Terraform variable that creates the module's template, and the outputs the kit reads
ENABLE_VARIABLE: Final = "enable_fis_network_faults"
TEMPLATE_OUTPUT: Final = "fis_experiment_template_id"
MANAGED_INSTANCE_ROLE_OUTPUT: Final = "fis_managed_instance_role"
#: what the module's template runs, in order (terraform/main.tf, aws_fis_experiment_template)
NETWORK_ACTIONS: Final = (
    "aws:ecs:task-network-latency",
    "aws:ecs:task-network-packet-loss",
    "aws:ecs:task-network-blackhole-port",
)
TASK_RESOURCE_TYPE: Final = "aws:ecs:task"
#: the tag every task of a run carries (core.stack.StackSpec.all_tags)
RUN_TAG: Final = "sqs-kit-stack"
#: experiment states after which nothing moves any more
TERMINAL: Final = frozenset({"completed", "stopped", "failed", "cancelled"})
RUNNING: Final = "running"
#: FIS's limits on a template's description and tag values
_MAX_DESCRIPTION = 512

_FIS_OFF = (
    f"the main infrastructure has no FIS experiment template (output {TEMPLATE_OUTPUT} is "
    f"null): apply terraform/ with -var {ENABLE_VARIABLE}=true (docs/faults.md, On AWS)"
)


@dataclass(frozen=True)
class ExperimentState:
    """Where one experiment stands, as GetExperiment says."""

    experiment_id: str
    status: str
    reason: str = ""

    @property
    def terminal(self) -> bool:
        """True once the experiment can no longer change (completed, stopped, failed, ...)."""
        return self.status in TERMINAL


def template_id_from_outputs(outputs: Mapping[str, Any]) -> str:
    """The module's template id from the main outputs; a one-line error when FIS is off."""
    value = outputs.get(TEMPLATE_OUTPUT)
    if isinstance(value, Mapping) and "value" in value:  # `terraform output -json` shape
        value = value["value"]
    if not value:
        raise ConfigError(_FIS_OFF)
    return str(value)


class NetworkFaultExperiment:
    """The module's FIS network faults, started on one run's ECS tasks and stopped at the end.

    ``fis`` is a boto3 FIS client; ``module_template_id`` the template Terraform created;
    ``prefix`` the run's stack prefix (its tasks carry ``sqs-kit-stack=<prefix>``).
    """

    def __init__(
        self,
        fis: Any,
        *,
        module_template_id: str,
        prefix: str,
        tags: Mapping[str, str] | None = None,
        poll_interval_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fis = fis
        self.module_template_id = module_template_id
        self.prefix = prefix
        self.tags = {**(tags or {}), RUN_TAG: prefix}
        self.poll_interval_s = poll_interval_s
        self._sleep = sleep
        self._clock = clock
        #: the per-run copy of the module's template, once created
        self.template_id: str | None = None
        #: the experiment, once started; its last known state
        self.state: ExperimentState | None = None

    # -- the template ---------------------------------------------------------------------------

    def run_template(self) -> dict[str, Any]:
        """CreateExperimentTemplate's parameters: the module's template, aimed at this run.

        Actions, their parameters and order, the role and the stop conditions are the module's,
        unchanged; the one ``aws:ecs:task`` target selects every task tagged with the run's
        prefix instead of the main service's tasks.
        """
        module = self._call(
            "GetExperimentTemplate",
            self.fis.get_experiment_template,
            id=self.module_template_id,
            missing=(
                f"FIS experiment template {self.module_template_id} (output {TEMPLATE_OUTPUT}) "
                f"does not exist: apply terraform/ again with -var {ENABLE_VARIABLE}=true"
            ),
        )["experimentTemplate"]
        actions: dict[str, Any] = module.get("actions") or {}
        found = sorted({str(a.get("actionId")) for a in actions.values()})
        if sorted(NETWORK_ACTIONS) != found:
            runs = ", ".join(found) or "no action"
            raise ConfigError(
                f"FIS experiment template {self.module_template_id} runs {runs}, not the kit's "
                f"network faults ({', '.join(NETWORK_ACTIONS)}): check output {TEMPLATE_OUTPUT}"
            )
        targets: dict[str, Any] = module.get("targets") or {}
        tasks = [n for n, t in targets.items() if t.get("resourceType") == TASK_RESOURCE_TYPE]
        if len(tasks) != 1 or len(targets) != 1:
            raise ConfigError(
                f"FIS experiment template {self.module_template_id} must have one "
                f"{TASK_RESOURCE_TYPE} target, has {sorted(targets) or 'none'}"
            )
        request: dict[str, Any] = {
            "clientToken": str(uuid.uuid4()),
            "description": (
                f"sqs-kit run {self.prefix}: {module.get('description', '')}"[:_MAX_DESCRIPTION]
            ),
            "roleArn": module["roleArn"],
            "stopConditions": module.get("stopConditions") or [{"source": "none"}],
            "actions": {name: _action_input(a) for name, a in actions.items()},
            "targets": {
                tasks[0]: {
                    "resourceType": TASK_RESOURCE_TYPE,
                    "resourceTags": {RUN_TAG: self.prefix},
                    "selectionMode": "ALL",
                }
            },
            "tags": dict(self.tags),
        }
        for key in ("logConfiguration", "experimentOptions"):
            if module.get(key):
                request[key] = module[key]
        return request

    # -- the experiment -------------------------------------------------------------------------

    def start(self) -> ExperimentState:
        """Create the run's template and start the experiment on the run's tasks."""
        if self.state is not None:
            return self.state
        request = self.run_template()
        created = self._call(
            "CreateExperimentTemplate", self.fis.create_experiment_template, **request
        )
        self.template_id = str(created["experimentTemplate"]["id"])
        started = self._call(
            "StartExperiment",
            self.fis.start_experiment,
            clientToken=str(uuid.uuid4()),
            experimentTemplateId=self.template_id,
            tags=dict(self.tags),
        )["experiment"]
        self.state = _state(started)
        log.info(
            "fis.experiment_started",
            extra={
                "experiment_id": self.state.experiment_id,
                "template_id": self.template_id,
                "module_template_id": self.module_template_id,
                "prefix": self.prefix,
            },
        )
        return self.state

    def poll(self) -> ExperimentState:
        """The experiment's state now (GetExperiment)."""
        if self.state is None:
            raise InfrastructureError("the FIS experiment was never started: call start() first")
        got = self._call("GetExperiment", self.fis.get_experiment, id=self.state.experiment_id)[
            "experiment"
        ]
        self.state = _state(got)
        return self.state

    def wait(self, timeout_s: float, *, until: frozenset[str] = TERMINAL) -> ExperimentState:
        """Poll until the state is one of ``until`` (or terminal), or ``timeout_s`` passed."""
        deadline = self._clock() + timeout_s
        state = self.poll()
        while state.status not in until and not state.terminal and self._clock() < deadline:
            self._sleep(self.poll_interval_s)
            state = self.poll()
        return state

    def stop(self, timeout_s: float = 60.0) -> ExperimentState | None:
        """StopExperiment if it still runs, then wait for a terminal state; None: never started."""
        if self.state is None:
            return None
        state = self.poll()
        if not state.terminal:
            self._call("StopExperiment", self.fis.stop_experiment, id=state.experiment_id)
            log.info("fis.experiment_stopping", extra={"experiment_id": state.experiment_id})
            state = self.wait(timeout_s)
        log.info(
            "fis.experiment_ended",
            extra={"experiment_id": state.experiment_id, "status": state.status},
        )
        return state

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop the experiment and delete the run's template; safe to call twice."""
        try:
            self.stop(timeout_s)
        finally:
            template, self.template_id = self.template_id, None
            if template is not None:
                try:
                    self.fis.delete_experiment_template(id=template)
                except ClientError as exc:
                    if _code(exc) != "ResourceNotFoundException":
                        raise InfrastructureError(
                            f"FIS DeleteExperimentTemplate {template} failed: {_message(exc)}; "
                            f"delete it with `aws fis delete-experiment-template --id {template}`"
                        ) from exc

    def describe(self) -> dict[str, Any]:
        """Report fields: the templates, the experiment and its last known state."""
        return {
            "module_template_id": self.module_template_id,
            "template_id": self.template_id,
            "experiment_id": self.state.experiment_id if self.state else None,
            "status": self.state.status if self.state else "not started",
            "reason": self.state.reason if self.state else "",
            "actions": list(NETWORK_ACTIONS),
        }

    # -- plumbing -------------------------------------------------------------------------------

    def _call(
        self, operation: str, fn: Callable[..., Any], *, missing: str | None = None, **kwargs: Any
    ) -> Any:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if missing is not None and _code(exc) == "ResourceNotFoundException":
                raise ConfigError(missing) from exc
            raise InfrastructureError(f"FIS {operation} failed: {_message(exc)}") from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"FIS {operation} failed: {exc}") from exc


def _action_input(action: Mapping[str, Any]) -> dict[str, Any]:
    # GetExperimentTemplate's action shape, minus what CreateExperimentTemplate does not take.
    keys = ("actionId", "description", "parameters", "targets", "startAfter")
    return {k: action[k] for k in keys if action.get(k)}


def _state(experiment: Mapping[str, Any]) -> ExperimentState:
    state = experiment.get("state") or {}
    return ExperimentState(
        experiment_id=str(experiment["id"]),
        status=str(state.get("status", "pending")),
        reason=str(state.get("reason", "")),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', exc)}"
