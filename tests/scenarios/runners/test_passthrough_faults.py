"""The pass-through with a fault plan: every slot's proxy injects it and reports what fired."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from consumer.contract import EMULATOR_CREDENTIALS
from local.faultproxy import Plan
from scenarios.judging.facts import RETRIED_BY_CALLER, RETRIED_BY_SDK
from scenarios.runners.passthrough import HOLD_RULE, PassThrough

pytestmark = pytest.mark.integration

REGION = "us-east-1"
THROTTLE_FIRST_RECEIVE = Plan.from_dict(
    {
        "name": "t",
        "rules": [
            {
                "service": "sqs",
                "operation": "ReceiveMessage",
                "fault": "throttle",
                "sequence": [1, 0],
                "max_fires": 1,
            }
        ],
    }
)


def sqs(endpoint: str, retries: int):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # botocore's ``max_attempts`` here counts the retries, not the first attempt
        config=Config(retries={"mode": "standard", "max_attempts": retries}),
    )


@pytest.fixture
def queue(emulator_endpoint: str) -> Iterator[str]:
    direct = sqs(emulator_endpoint, 0)
    url = direct.create_queue(QueueName=f"ptf-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        yield url
    finally:
        direct.delete_queue(QueueUrl=url)


@pytest.fixture
def passthrough(emulator_endpoint: str) -> Iterator[PassThrough]:
    p = PassThrough(emulator_endpoint, plan=THROTTLE_FIRST_RECEIVE)
    try:
        yield p
    finally:
        p.stop()


def test_every_slot_runs_the_plan_and_a_retried_fault_is_reported(
    passthrough: PassThrough, queue: str
) -> None:
    # GIVEN two slots whose first receive is throttled, and a client that retries
    for slot in (0, 1):
        sqs(passthrough.endpoint(slot), 2).receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    # THEN each slot's proxy fired once, answered 403 RequestThrottled, and botocore retried
    fired = passthrough.fired()
    assert [(f.slot, f.kind, f.operation, f.status) for f in fired] == [
        (0, "throttle", "ReceiveMessage", 403),
        (1, "throttle", "ReceiveMessage", 403),
    ]
    assert all(f.retried for f in fired)
    assert [f.retried_by for f in fired] == [RETRIED_BY_SDK, RETRIED_BY_SDK]
    assert passthrough.describe()["fault_plan"] == "t"


def test_a_client_that_repeats_the_call_itself_is_the_caller_not_the_sdk(
    passthrough: PassThrough, queue: str
) -> None:
    # GIVEN a scripted client with botocore's retries off, which calls again on an error
    client = sqs(passthrough.endpoint(0), 0)
    for _ in range(2):
        try:
            client.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
            break
        except ClientError:
            continue
    # THEN the fault was retried, by the caller: its second call is a new invocation
    [fired] = passthrough.fired()
    assert (fired.retried, fired.retried_by, fired.sdk_evidence) == (True, RETRIED_BY_CALLER, True)
    calls = passthrough._proxies[0].records()
    assert len({c.sdk_invocation_id for c in calls}) == 2


def test_a_fault_nobody_retried_is_reported_as_not_retried(
    passthrough: PassThrough, queue: str
) -> None:
    # GIVEN a client that makes one attempt only
    with pytest.raises(ClientError, match="RequestThrottled"):
        sqs(passthrough.endpoint(0), 0).receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    # THEN the fault fired, and no successful receive followed
    [fired] = passthrough.fired()
    assert fired.retried is False and fired.retried_by is None


def test_a_held_delete_keeps_the_plan_in_force_and_is_not_a_plan_fault(
    passthrough: PassThrough, queue: str
) -> None:
    passthrough.endpoint(0)
    passthrough.hold_next_delete(0, after=5)
    # the hold comes first, the run's plan after it
    [proxy] = passthrough._proxies.values()
    assert [r.name for r in proxy.plan.rules][:1] == [HOLD_RULE]
    assert [r.fault.value for r in proxy.plan.rules] == ["stall", "throttle"]
    with pytest.raises(ClientError):
        sqs(passthrough.endpoint(0), 0).receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    assert [f.kind for f in passthrough.fired()] == ["throttle"]
