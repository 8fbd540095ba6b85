"""What an external LocalStack is assumed to support before the probe runs."""

from __future__ import annotations

import pytest

from core import capabilities as cap
from local.emulators import external
from local.emulators.external import ExternalEmulator


@pytest.fixture
def localstack(monkeypatch: pytest.MonkeyPatch) -> ExternalEmulator:
    monkeypatch.setattr(ExternalEmulator, "name", property(lambda self: "localstack"))
    return ExternalEmulator("http://127.0.0.1:4599")


@pytest.mark.unit
def test_a_localstack_without_dynamodb_is_not_assumed_to_have_it(localstack, monkeypatch):
    # GIVEN LocalStack on the host: SQS runs, DynamoDB is disabled (it needs a jar offline)
    monkeypatch.setattr(
        external, "localstack_services", lambda url: {"sqs": "running", "dynamodb": "disabled"}
    )
    known = localstack.capabilities()
    # THEN the scenarios' DynamoDB needs are not claimed, nor ECS (a paid feature)
    assert cap.DDB_TRANSACTIONS not in known and cap.DDB_CONDITIONAL not in known
    assert cap.ECS_API not in known
    assert {cap.SQS_DLQ, cap.SQS_MOVE_TASK, cap.SQS_FIFO_GROUP_ORDER} <= known
    # what the probe saw LocalStack get wrong is not claimed either
    assert cap.SQS_VISIBILITY_LIMIT not in known and cap.SQS_FIFO_RECEIVE_ATTEMPT not in known


@pytest.mark.unit
def test_a_localstack_whose_dynamodb_runs_gets_the_dynamodb_capabilities(localstack, monkeypatch):
    monkeypatch.setattr(
        external, "localstack_services", lambda url: {"sqs": "running", "dynamodb": "available"}
    )
    assert {cap.DDB_TRANSACTIONS, cap.DDB_CONDITIONAL, cap.DDB_TTL} <= localstack.capabilities()


@pytest.mark.unit
def test_nothing_readable_at_the_health_url_means_no_services():
    assert external.localstack_services("http://127.0.0.1:9", timeout=0.2) == {}
