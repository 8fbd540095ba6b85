"""`local up`'s provisioning: the main stack, idempotent, API fallback (unit, in-process moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local import infra


@pytest.mark.unit
def test_main_stack_is_created_then_reused(monkeypatch):
    monkeypatch.setattr(infra, "terraform_ready", lambda: (False, "terraform is not on PATH"))
    with mock_aws():
        first = infra.provision_main("sqs-demo", None, provisioner="auto")
        assert "terraform is not on PATH" in first.how and "API" in first.how
        sqs = boto3.client("sqs", region_name="us-east-1")
        attrs = sqs.get_queue_attributes(QueueUrl=first.handle.queue_url, AttributeNames=["All"])
        policy = json.loads(attrs["Attributes"]["RedrivePolicy"])
        assert int(policy["maxReceiveCount"]) == 5
        assert policy["deadLetterTargetArn"] == first.handle.dlq_arn

        # WHEN up runs again THEN the existing stack is reused, not recreated or destroyed
        second = infra.provision_main("sqs-demo", None, provisioner="auto")
        assert "reused" in second.how
        assert second.handle.queue_url == first.handle.queue_url
        assert second.handle.dlq_arn == first.handle.dlq_arn


@pytest.mark.unit
def test_terraform_asked_for_but_unavailable_is_an_error(monkeypatch):
    from core.errors import ProvisionError

    monkeypatch.setattr(infra, "terraform_ready", lambda: (False, "terraform is not on PATH"))
    with mock_aws(), pytest.raises(ProvisionError, match="terraform is not on PATH"):
        infra.provision_main("sqs-demo", None, provisioner="terraform")
