"""`local up`'s main infrastructure: terraform/ applied once, reused while it answers (unit).

The decisions are tested with a fake MainInfrastructure and a fake "does it answer" probe;
``main_answers`` itself runs against in-process moto.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from moto import mock_aws

from core.errors import ProvisionError
from local import infra

EMULATOR_OUTPUTS: dict[str, Any] = {
    "queue_url": "http://127.0.0.1:4566/000000000000/sqs-demo-queue",
    "queue_arn": "arn:aws:sqs:us-east-1:000000000000:sqs-demo-queue",
    "aws_region": "us-east-1",
    "cluster_name": "sqs-demo",
    "stack_settings": {
        "prefix": "sqs-demo",
        "queue_name": "sqs-demo-queue",
        "dlq_name": "sqs-demo-dlq",
        "status_table": "sqs-demo-message-status",
        "completed_table": "sqs-demo-message-completed",
    },
}
AWS_OUTPUTS = {
    **EMULATOR_OUTPUTS,
    "queue_url": "https://sqs.us-west-1.amazonaws.com/123456789012/sqs-demo-queue",
    "queue_arn": "arn:aws:sqs:us-west-1:123456789012:sqs-demo-queue",
}


def _state(path: Path, outputs: dict[str, Any]) -> Path:
    path.write_text(
        json.dumps({"version": 4, "outputs": {k: {"value": v} for k, v in outputs.items()}})
    )
    return path


class FakeInfra:
    """Stands in for MainInfrastructure: records what it was built with and applied."""

    made: ClassVar[list[FakeInfra]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.applied = self.destroyed = False
        FakeInfra.made.append(self)

    def apply(self) -> dict[str, Any]:
        self.applied = True
        _state(self.kwargs["state_file"], EMULATOR_OUTPUTS)
        return dict(EMULATOR_OUTPUTS)

    def destroy(self) -> None:
        self.destroyed = True


@pytest.fixture
def fake_infra(monkeypatch: pytest.MonkeyPatch) -> type[FakeInfra]:
    FakeInfra.made = []
    monkeypatch.setattr(infra, "terraform_ready", lambda: (True, "terraform (fake)"))
    return FakeInfra


def _ensure(tmp_path: Path, *, answers: tuple[bool, str] = (True, "answers"), **kw: Any):
    return infra.ensure_main_infrastructure(
        "http://127.0.0.1:4566",
        project="sqs-demo",
        state_file=tmp_path / "terraform.tfstate",
        workdir=tmp_path / "work",
        region="us-east-1",
        infra_factory=FakeInfra,
        answers=lambda outputs, endpoint: answers,
        **{"fresh_emulator": False, **kw},
    )


@pytest.mark.unit
def test_no_state_applies_terraform_with_no_consumer_task(tmp_path, fake_infra):
    result = _ensure(tmp_path)
    assert result.applied and "applied terraform/ with tflocal" in result.how
    (made,) = fake_infra.made
    assert made.kwargs["variables"]["desired_count"] == 0
    assert made.kwargs["variables"]["project_name"] == "sqs-demo"
    assert made.kwargs["state_file"] == tmp_path / "terraform.tfstate"
    # the apply runs in a private copy (tflocal writes an override file there), not terraform/
    assert (made.kwargs["workdir"] / "main.tf").is_file()


@pytest.mark.unit
def test_a_state_that_answers_with_the_same_configuration_skips_terraform(tmp_path, fake_infra):
    first = _ensure(tmp_path)
    # WHEN up runs again with what it recorded
    again = _ensure(tmp_path, applied_digest=first.digest)
    # THEN nothing is applied, and the outputs come from the state
    assert not again.applied and "skipped terraform" in again.how
    assert again.outputs["queue_url"] == EMULATOR_OUTPUTS["queue_url"]
    assert len(fake_infra.made) == 1


@pytest.mark.unit
def test_a_changed_configuration_or_variables_applies_again(tmp_path, fake_infra):
    _ensure(tmp_path)
    result = _ensure(tmp_path, applied_digest="something-else")
    assert result.applied and "differ from what local-up last applied" in result.how
    assert len(fake_infra.made) == 2


@pytest.mark.unit
def test_a_state_for_an_emulator_that_is_gone_is_moved_aside(tmp_path, fake_infra):
    state = _state(tmp_path / "terraform.tfstate", EMULATOR_OUTPUTS)
    result = _ensure(tmp_path, answers=(False, "QueueDoesNotExist"), fresh_emulator=True)
    assert result.applied and "emulator that is gone" in result.how
    assert (tmp_path / "terraform.tfstate.stale").is_file()
    assert state.is_file()  # written again by the fresh apply


@pytest.mark.unit
def test_a_live_emulator_missing_resources_is_reconciled_with_its_state(tmp_path, fake_infra):
    _state(tmp_path / "terraform.tfstate", EMULATOR_OUTPUTS)
    result = _ensure(tmp_path, answers=(False, "QueueDoesNotExist"), fresh_emulator=False)
    assert result.applied and "reconciling" in result.how
    assert not (tmp_path / "terraform.tfstate.stale").exists()


@pytest.mark.unit
def test_a_real_aws_state_is_never_applied_over(tmp_path, fake_infra):
    state = _state(tmp_path / "terraform.tfstate", AWS_OUTPUTS)
    before = state.read_text()
    with pytest.raises(ProvisionError, match=r"holds a deployment on AWS.*SQSKIT_MAIN_STATE"):
        _ensure(tmp_path, fresh_emulator=True)
    assert fake_infra.made == [] and state.read_text() == before
    assert infra.forget_main_infrastructure(state) is False and state.is_file()


@pytest.mark.unit
def test_without_terraform_the_error_names_the_opt_in_fast_path(tmp_path, monkeypatch):
    monkeypatch.setattr(infra, "terraform_ready", lambda: (False, "terraform is not on PATH"))
    with pytest.raises(ProvisionError, match=r"terraform is not on PATH.*SQSKIT_PROVISIONER=api"):
        _ensure(tmp_path)


@pytest.mark.unit
def test_emulator_deployments_are_told_from_real_ones():
    assert infra.is_emulator_deployment(EMULATOR_OUTPUTS)
    assert infra.is_emulator_deployment({"queue_url": "http://localhost:4566/1/q"})
    assert not infra.is_emulator_deployment(AWS_OUTPUTS)
    assert not infra.is_emulator_deployment({})


@pytest.mark.unit
def test_forget_and_destroy_remove_only_an_emulator_state(tmp_path, fake_infra):
    state = _state(tmp_path / "terraform.tfstate", EMULATOR_OUTPUTS)
    (tmp_path / "terraform.tfstate.backup").write_text("{}")
    assert infra.forget_main_infrastructure(state) is True
    assert not state.exists() and not (tmp_path / "terraform.tfstate.backup").exists()
    assert infra.forget_main_infrastructure(state) is False  # nothing left to forget

    _state(state, EMULATOR_OUTPUTS)
    destroyed = infra.destroy_main_infrastructure(
        "http://127.0.0.1:4566", state_file=state, workdir=tmp_path / "w", infra_factory=FakeInfra
    )
    assert destroyed and fake_infra.made[-1].destroyed and not state.exists()
    assert fake_infra.made[-1].kwargs["variables"]["project_name"] == "sqs-demo"


@pytest.mark.unit
def test_main_answers_names_what_is_missing():
    with mock_aws():
        settings = EMULATOR_OUTPUTS["stack_settings"]
        sqs = boto3.client("sqs", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ecs = boto3.client("ecs", region_name="us-east-1")
        for name in (settings["queue_name"], settings["dlq_name"]):
            sqs.create_queue(QueueName=name)
        for table in (settings["status_table"], settings["completed_table"]):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        ecs.create_cluster(clusterName="sqs-demo")

        def factory(service: str, **_: Any) -> Any:
            make: Any = boto3.client
            return make(service, region_name="us-east-1")

        ok, why = infra.main_answers(EMULATOR_OUTPUTS, "http://e", client_factory=factory)
        assert ok, why
        # a checker that cannot fail proves nothing: remove the DLQ and it must say so
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=settings["dlq_name"])["QueueUrl"])
        ok, why = infra.main_answers(EMULATOR_OUTPUTS, "http://e", client_factory=factory)
        assert not ok and ("NonExistentQueue" in why or "QueueDoesNotExist" in why), why
        ok, why = infra.main_answers({"queue_url": "x"}, "http://e", client_factory=factory)
        assert not ok and "stack_settings" in why


@pytest.mark.unit
def test_the_fast_path_creates_then_reuses_and_says_what_it_skipped():
    with mock_aws():
        first = infra.provision_main("sqs-demo", None)
        assert "API provisioner" in first.how and "skipped terraform/" in first.how
        sqs = boto3.client("sqs", region_name="us-east-1")
        attrs = sqs.get_queue_attributes(QueueUrl=first.handle.queue_url, AttributeNames=["All"])
        policy = json.loads(attrs["Attributes"]["RedrivePolicy"])
        assert int(policy["maxReceiveCount"]) == 5
        assert policy["deadLetterTargetArn"] == first.handle.dlq_arn
        # WHEN up runs again THEN the existing stack is reused, not recreated or destroyed
        second = infra.provision_main("sqs-demo", None)
        assert "reused" in second.how and "skipped terraform/" in second.how
        assert second.handle.queue_url == first.handle.queue_url
