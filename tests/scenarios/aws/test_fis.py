"""FIS network faults for one run, asserted in moto: the calls, their parameters against what
terraform/ declares, the experiment's life (start, poll, stop, delete) and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api import state_manager

from core.errors import ConfigError, InfrastructureError
from scenarios.aws.fis import (
    NETWORK_ACTIONS,
    RUN_TAG,
    TEMPLATE_OUTPUT,
    ExperimentState,
    NetworkFaultExperiment,
    template_id_from_outputs,
)
from tests.scenarios.aws.fis_template import ROLE_ARN, create_request
from tests.scenarios.conftest import CallLog

pytestmark = pytest.mark.unit

REGION = "us-east-1"
PREFIX = "sqskit-happy-1a2b3c"
_BOTO_CLIENT: Any = boto3.client  # boto3's overloads want a literal service name


@pytest.fixture
def fis() -> Iterator[Any]:
    with mock_aws():
        # each GetExperiment moves the experiment one step: pending, initiating, running, ...
        state_manager.set_transition(
            model_name="fis::experiment", transition={"progression": "manual", "times": 1}
        )
        try:
            yield _BOTO_CLIENT("fis", region_name=REGION)
        finally:
            state_manager.unset_transition("fis::experiment")


def _module_template(fis: Any) -> str:
    """The template `terraform apply -var enable_fis_network_faults=true` creates."""
    request = create_request(cluster="sqs-demo", service="sqs-demo-consumer")
    return str(fis.create_experiment_template(**request)["experimentTemplate"]["id"])


def _experiment(fis: Any, template_id: str, **kwargs: Any) -> NetworkFaultExperiment:
    return NetworkFaultExperiment(
        fis, module_template_id=template_id, prefix=PREFIX, poll_interval_s=0, **kwargs
    )


def test_the_declared_template_is_the_kits_three_network_faults_in_order() -> None:
    # Guards the check below against a vacuous translation of the HCL.
    request = create_request(cluster="c", service="s")
    actions = request["actions"]
    order: list[str] = []
    after: str | None = None
    while len(order) < len(actions):
        name = next(n for n, a in actions.items() if a.get("startAfter", [None])[0] == after)
        order.append(actions[name]["actionId"])
        after = name
    assert tuple(order) == NETWORK_ACTIONS
    assert actions["blackhole-https"]["parameters"] == {
        "duration": "PT2M",
        "port": "443",
        "protocol": "tcp",
        "trafficType": "egress",
        "useEcsFaultInjectionEndpoints": "true",
    }
    assert actions["latency"]["parameters"]["delayMilliseconds"] == "200"
    assert actions["packet-loss"]["parameters"]["lossPercent"] == "10"
    assert request["targets"]["consumer-tasks"]["parameters"] == {"cluster": "c", "service": "s"}


def test_a_run_gets_the_modules_template_aimed_at_its_own_tasks(fis: Any) -> None:
    # GIVEN the template terraform/ declares, created as Terraform would
    module_id = _module_template(fis)
    declared = create_request(cluster="sqs-demo", service="sqs-demo-consumer")
    calls = CallLog()
    calls.attach(fis)
    # WHEN the kit starts the network faults for a run
    experiment = _experiment(fis, module_id, tags={"managed-by": "sqs-kit"})
    state = experiment.start()
    # THEN it read the module's template, created the run's copy and started that
    assert [name for name, _ in calls.calls] == [
        "GetExperimentTemplate",
        "CreateExperimentTemplate",
        "StartExperiment",
    ]
    [created] = calls.of("CreateExperimentTemplate")
    # AND the copy's actions, parameters, order, role and stop condition are terraform's
    assert created["actions"] == declared["actions"]
    assert created["roleArn"] == ROLE_ARN
    assert created["stopConditions"] == declared["stopConditions"] == [{"source": "none"}]
    # AND its one target is every task tagged with the run's prefix, not the main service
    assert created["targets"] == {
        "consumer-tasks": {
            "resourceType": "aws:ecs:task",
            "resourceTags": {RUN_TAG: PREFIX},
            "selectionMode": "ALL",
        }
    }
    assert created["tags"] == {"managed-by": "sqs-kit", RUN_TAG: PREFIX}
    [start] = calls.of("StartExperiment")
    assert start["experimentTemplateId"] == experiment.template_id != module_id
    assert start["clientToken"] and start["tags"][RUN_TAG] == PREFIX
    # AND FIS holds exactly that: the started experiment runs the module's actions
    got = fis.get_experiment(id=state.experiment_id)["experiment"]
    assert {a["actionId"] for a in got["actions"].values()} == set(NETWORK_ACTIONS)
    assert got["experimentTemplateId"] == experiment.template_id


def test_a_running_experiment_is_stopped_and_its_template_deleted_at_teardown(
    fis: Any,
) -> None:
    experiment = _experiment(fis, _module_template(fis))
    experiment.start()
    assert experiment.poll().status == "initiating"
    calls = CallLog()
    calls.attach(fis)
    # WHEN the run ends (teardown) while it runs
    experiment.close()
    # THEN StopExperiment, polled to a terminal state, then the run's template deleted
    names = [name for name, _ in calls.calls]
    assert names == ["GetExperiment", "StopExperiment", "GetExperiment", "DeleteExperimentTemplate"]
    assert calls.of("StopExperiment") == [{"id": experiment.describe()["experiment_id"]}]
    assert experiment.state is not None and experiment.state.status == "stopped"
    assert experiment.describe()["status"] == "stopped"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        fis.get_experiment_template(id=calls.of("DeleteExperimentTemplate")[0]["id"])
    # AND closing twice is harmless: it only looks
    before = len(calls.calls)
    experiment.close()
    assert [n for n, _ in calls.calls[before:]] == ["GetExperiment"]


def test_an_experiment_is_polled_to_running_and_a_finished_one_is_not_stopped(fis: Any) -> None:
    experiment = _experiment(fis, _module_template(fis))
    experiment.start()
    assert experiment.wait(30, until=frozenset({"running"})).status == "running"
    assert experiment.wait(30).status == "completed"
    calls = CallLog()
    calls.attach(fis)
    experiment.close()
    assert [n for n, _ in calls.calls] == ["GetExperiment", "DeleteExperimentTemplate"]


def test_waiting_gives_up_at_its_timeout() -> None:
    # GIVEN an experiment FIS keeps pending (a stand-in client: the clock is fake)
    now = [0.0]

    class Pending:
        def get_experiment(self, id: str) -> dict[str, Any]:
            return {"experiment": {"id": id, "state": {"status": "pending"}}}

    experiment = NetworkFaultExperiment(
        Pending(),
        module_template_id="t",
        prefix=PREFIX,
        poll_interval_s=5,
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
    )
    with pytest.raises(InfrastructureError, match="never started"):
        experiment.poll()
    experiment.state = ExperimentState("exp-1", "pending")
    state = experiment.wait(12)
    assert state.status == "pending" and not state.terminal
    assert now[0] == 15.0  # polled at 0, 5, 10, 15: then past the timeout


@pytest.mark.parametrize(
    "outputs", [{}, {TEMPLATE_OUTPUT: None}, {TEMPLATE_OUTPUT: {"value": None}}]
)
def test_fis_off_says_which_variable_to_set(outputs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        template_id_from_outputs(outputs)
    line = str(err.value)
    assert "\n" not in line
    assert "-var enable_fis_network_faults=true" in line and TEMPLATE_OUTPUT in line
    assert template_id_from_outputs({TEMPLATE_OUTPUT: {"value": "EXT1"}}) == "EXT1"


def test_a_template_gone_from_fis_says_which_variable_to_set(fis: Any) -> None:
    experiment = _experiment(fis, "EXTdoesnotexist")
    with pytest.raises(
        ConfigError, match=r"EXTdoesnotexist .*does not exist.*enable_fis_network_faults=true"
    ):
        experiment.start()
    assert experiment.template_id is None and experiment.state is None
    experiment.close()  # nothing to stop or delete


def test_a_template_without_the_network_faults_is_refused(fis: Any) -> None:
    request = create_request(cluster="c", service="s")
    request["actions"] = {"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}}
    other = fis.create_experiment_template(**request)["experimentTemplate"]["id"]
    with pytest.raises(ConfigError, match="runs aws:fis:wait, not the kit's network faults"):
        _experiment(fis, other).start()


def test_a_failing_fis_call_is_an_infrastructure_error_naming_the_operation(fis: Any) -> None:
    experiment = _experiment(fis, _module_template(fis))

    def refuse(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ServiceQuotaExceededException", "Message": "too many"}},
            "StartExperiment",
        )

    fis.start_experiment = refuse
    with pytest.raises(
        InfrastructureError,
        match="FIS StartExperiment failed: ServiceQuotaExceededException: too many",
    ):
        experiment.start()
    # the run's template was created, and teardown still deletes it
    assert experiment.template_id is not None
    template = experiment.template_id
    experiment.close()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        fis.get_experiment_template(id=template)


def test_a_template_without_one_task_target_is_refused(fis: Any) -> None:
    request = create_request(cluster="c", service="s")
    request["targets"]["more-tasks"] = dict(request["targets"]["consumer-tasks"])
    other = fis.create_experiment_template(**request)["experimentTemplate"]["id"]
    with pytest.raises(ConfigError, match=r"must have one aws:ecs:task target, has \['consumer"):
        _experiment(fis, other).start()
