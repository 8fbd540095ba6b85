"""Per-service endpoints in the foundation: clients, provisioners and the consumer's environment."""

from __future__ import annotations

import pytest

from consumer.contract import (
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_ENDPOINT_URL_DYNAMODB,
    ENV_AWS_ENDPOINT_URL_SQS,
)
from core import aws
from core.aws import Endpoints, endpoint_for
from core.errors import ConfigError
from core.provisioners import get_provisioner
from core.provisioners.api import ApiProvisioner
from core.provisioners.terraform import TerraformProvisioner
from core.stack import StackHandle

pytestmark = pytest.mark.unit

LS = "http://127.0.0.1:4601"
MS = "http://127.0.0.1:4602"
SPLIT = Endpoints(LS, (("sqs", LS), ("dynamodb", MS)))


def test_each_service_has_its_endpoint_and_the_rest_the_default():
    assert SPLIT.url("sqs") == LS
    assert SPLIT.url("dynamodb") == MS
    assert SPLIT.url("logs") == LS  # not split: the default
    assert SPLIT.split
    assert SPLIT.by_service() == {"sqs": LS, "dynamodb": MS}
    assert endpoint_for("dynamodb", SPLIT) == MS
    assert endpoint_for("dynamodb", LS) == LS
    assert endpoint_for("dynamodb", None) is None


def test_one_endpoint_for_every_service_is_not_a_split():
    assert not Endpoints(LS).split
    assert not Endpoints(LS, (("sqs", LS), ("dynamodb", LS))).split
    assert Endpoints(None).env() == {}


def test_only_the_splittable_services_take_an_endpoint():
    with pytest.raises(ConfigError, match="'sns': allowed sqs, dynamodb"):
        Endpoints(LS, (("sns", MS),))


def test_the_sdk_variables_route_each_service():
    assert SPLIT.env() == {
        ENV_AWS_ENDPOINT_URL: LS,
        ENV_AWS_ENDPOINT_URL_SQS: LS,
        ENV_AWS_ENDPOINT_URL_DYNAMODB: MS,
    }


def test_the_client_factory_sends_each_service_to_its_endpoint():
    assert aws.client("sqs", endpoint_url=SPLIT, region="us-east-1").meta.endpoint_url == LS
    ddb = aws.client("dynamodb", endpoint_url=SPLIT, region="us-east-1")
    assert ddb.meta.endpoint_url == MS
    one = aws.client("dynamodb", endpoint_url=LS, region="us-east-1")
    assert one.meta.endpoint_url == LS


def test_a_per_service_endpoint_alone_gets_the_emulator_credentials():
    env = aws.with_emulator_credentials({ENV_AWS_ENDPOINT_URL_DYNAMODB: MS})
    assert ENV_AWS_ACCESS_KEY_ID in env
    assert ENV_AWS_ACCESS_KEY_ID not in aws.with_emulator_credentials({})


def _handle(**kwargs: object) -> StackHandle:
    base: dict[str, object] = {
        "prefix": "stk-split",
        "region": "us-east-1",
        "queue_url": f"{LS}/000000000000/stk-split-queue",
        "queue_arn": "arn:aws:sqs:us-east-1:000000000000:stk-split-queue",
        "dlq_url": f"{LS}/000000000000/stk-split-dlq",
        "dlq_arn": "arn:aws:sqs:us-east-1:000000000000:stk-split-dlq",
        "status_table": "stk-split-message-status",
        "completed_table": "stk-split-message-completed",
        "effects_table": "stk-split-effects",
        "endpoint_url": LS,
    }
    return StackHandle(**{**base, **kwargs})  # type: ignore[arg-type]


def test_consumers_of_a_split_stack_get_each_services_endpoint():
    env = _handle(service_endpoints=SPLIT.services).consumer_env()
    # AWS_ENDPOINT_URL stays the SQS one; botocore prefers the per-service variables
    assert env[ENV_AWS_ENDPOINT_URL] == LS
    assert env[ENV_AWS_ENDPOINT_URL_SQS] == LS
    assert env[ENV_AWS_ENDPOINT_URL_DYNAMODB] == MS
    assert _handle(service_endpoints=SPLIT.services).endpoints == SPLIT


def test_consumers_of_a_single_endpoint_stack_get_no_per_service_variable():
    env = _handle().consumer_env()
    assert env[ENV_AWS_ENDPOINT_URL] == LS
    assert ENV_AWS_ENDPOINT_URL_DYNAMODB not in env
    assert ENV_AWS_ENDPOINT_URL_SQS not in env
    assert ENV_AWS_ENDPOINT_URL not in _handle(endpoint_url=None).consumer_env()


def test_the_api_provisioner_creates_queues_and_tables_on_their_own_endpoints():
    prov = get_provisioner("api", endpoint_url=SPLIT, region="us-east-1")
    assert isinstance(prov, ApiProvisioner)
    assert prov._sqs.meta.endpoint_url == LS
    assert prov._ddb.meta.endpoint_url == MS
    assert prov.endpoint_url == LS


def test_the_terraform_provisioner_refuses_a_split_and_names_the_api_one():
    with pytest.raises(ConfigError, match="use --provisioner api"):
        get_provisioner("terraform", endpoint_url=SPLIT, region="us-east-1")
    same = Endpoints(LS, (("sqs", LS), ("dynamodb", LS)))
    prov = get_provisioner("terraform", endpoint_url=same, region="us-east-1")
    assert isinstance(prov, TerraformProvisioner)
    assert prov.endpoint_url == LS
