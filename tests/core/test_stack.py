"""The stack every scenario runs on: the effects table, PITR, FIFO, and what consumers are told."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from consumer.contract import (
    EFFECT_HASH_KEY,
    EFFECT_RANGE_KEY,
    ENV_EFFECTS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_RUN_ID,
)
from core.errors import ConfigError
from core.provisioners import terraform as tfp
from core.provisioners.api import ApiProvisioner
from core.stack import (
    DEDUP_SCOPE_MESSAGE_GROUP,
    DEDUP_SCOPE_QUEUE,
    THROUGHPUT_PER_MESSAGE_GROUP,
    THROUGHPUT_PER_QUEUE,
    StackHandle,
    StackSpec,
)

pytestmark = pytest.mark.unit

REGION = "us-east-1"


def _pitr(ddb, table: str) -> str:
    desc = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return str(desc["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"])


def test_the_api_provisioner_creates_the_effects_table_and_tells_consumers():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        spec = StackSpec(prefix="stk-fx")
        handle = ApiProvisioner(endpoint_url=None, region=REGION).provision(spec)
        # THEN the effects table is keyed (message_id, effect_id), as consumer.contract says
        assert handle.effects_table == spec.effects_table == "stk-fx-effects"
        keys = ddb.describe_table(TableName=spec.effects_table)["Table"]["KeySchema"]
        assert keys == [
            {"AttributeName": EFFECT_HASH_KEY, "KeyType": "HASH"},
            {"AttributeName": EFFECT_RANGE_KEY, "KeyType": "RANGE"},
        ]
        # AND a run's tables leave no system backup behind: PITR is off, as in Terraform
        assert {_pitr(ddb, t) for t in spec.tables} == {"DISABLED"}
        # AND every consumer is told the effects table and the run id
        env = handle.consumer_env()
        assert env[ENV_EFFECTS_TABLE] == spec.effects_table
        assert env[ENV_RUN_ID] == "stk-fx"
        # AND destroy removes it with the rest
        ApiProvisioner(endpoint_url=None, region=REGION).destroy(handle)
        assert spec.effects_table not in ddb.list_tables()["TableNames"]


def test_pitr_follows_the_spec():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        spec = StackSpec(prefix="stk-pitr", point_in_time_recovery=True)
        ApiProvisioner(endpoint_url=None, region=REGION).provision(spec)
        assert {_pitr(ddb, t) for t in spec.tables} == {"ENABLED"}


def test_dotenv_names_the_effects_table_but_no_run():
    handle = StackHandle(
        prefix="main",
        region=REGION,
        queue_url="http://q",
        queue_arn="arn:q",
        dlq_url="http://d",
        dlq_arn="arn:d",
        status_table="s",
        completed_table="c",
        effects_table="e",
    )
    lines = handle.dotenv().splitlines()
    assert f"{ENV_EFFECTS_TABLE}=e" in lines
    assert f"{ENV_MESSAGE_COMPLETED_TABLE}=c" in lines
    assert not any(line.startswith(f"{ENV_RUN_ID}=") for line in lines)
    # A stack made before the effects table existed tells its consumers nothing about one.
    old = StackHandle(**{**handle.__dict__, "effects_table": None})
    assert ENV_EFFECTS_TABLE not in old.consumer_env()


def test_terraform_outputs_carry_the_effects_table_and_pitr(tmp_path):
    p = tfp.TerraformProvisioner(endpoint_url="http://e:1", region=REGION, state_dir=tmp_path)
    outputs = {
        "queue_url": "http://e:1/0/x-queue",
        "queue_arn": "arn:aws:sqs:us-east-1:0:x-queue",
        "dlq_url": "http://e:1/0/x-dlq",
        "dlq_arn": "arn:aws:sqs:us-east-1:0:x-dlq",
        "status_table": "x-message-status",
        "completed_table": "x-message-completed",
    }
    # An older state without the output: no effects table, not an error
    assert p.handle_from_outputs(outputs, "x1").effects_table is None
    outputs["effects_table"] = "x-effects"
    assert p.handle_from_outputs(outputs, "x1").effects_table == "x-effects"
    assert p.tfvars(StackSpec(prefix="x1"))["point_in_time_recovery"] is False
    assert p.tfvars(StackSpec(prefix="x1", point_in_time_recovery=True))["point_in_time_recovery"]


# -- FIFO stacks ---------------------------------------------------------------------------------


def test_a_fifo_stack_names_both_queues_fifo():
    spec = StackSpec(prefix="stk-f", fifo=True)
    assert (spec.queue_name, spec.dlq_name) == ("stk-f-queue.fifo", "stk-f-dlq.fifo")
    assert (StackSpec(prefix="stk-s").queue_name, StackSpec(prefix="stk-s").dlq_name) == (
        "stk-s-queue",
        "stk-s-dlq",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # AWS: perMessageGroupId is allowed only with DeduplicationScope=messageGroup
        (
            {"fifo": True, "fifo_throughput_limit": THROUGHPUT_PER_MESSAGE_GROUP},
            "needs deduplication_scope=messageGroup, not queue",
        ),
        ({"fifo": True, "deduplication_scope": "group"}, "deduplication_scope='group' is invalid"),
        ({"fifo": True, "fifo_throughput_limit": "fast"}, "fifo_throughput_limit='fast' is"),
        ({"content_based_deduplication": True}, "applies to FIFO queues only"),
        ({"deduplication_scope": DEDUP_SCOPE_MESSAGE_GROUP}, "deduplication_scope applies to FIFO"),
    ],
)
def test_fifo_settings_sqs_would_refuse_are_refused_up_front(fields, message):
    with pytest.raises(ConfigError, match=message):
        StackSpec(prefix="stk-bad", **fields)


def test_high_throughput_is_accepted_with_the_message_group_scope():
    spec = StackSpec(
        prefix="stk-ht",
        fifo=True,
        deduplication_scope=DEDUP_SCOPE_MESSAGE_GROUP,
        fifo_throughput_limit=THROUGHPUT_PER_MESSAGE_GROUP,
    )
    assert spec.fifo_attributes()["FifoThroughputLimit"] == THROUGHPUT_PER_MESSAGE_GROUP
    assert StackSpec(prefix="stk-std").fifo_attributes() == {}


def test_the_api_provisioner_builds_a_fifo_queue_with_a_fifo_dlq():
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        spec = StackSpec(
            prefix="stk-fifo",
            fifo=True,
            content_based_deduplication=True,
            deduplication_scope=DEDUP_SCOPE_MESSAGE_GROUP,
            fifo_throughput_limit=THROUGHPUT_PER_MESSAGE_GROUP,
        )
        handle = ApiProvisioner(endpoint_url=None, region=REGION).provision(spec)
        assert handle.queue_url.endswith("/stk-fifo-queue.fifo")
        assert handle.dlq_arn.endswith(":stk-fifo-dlq.fifo")
        queue = sqs.get_queue_attributes(QueueUrl=handle.queue_url, AttributeNames=["All"])
        attrs = queue["Attributes"]
        assert attrs["FifoQueue"] == "true"
        assert attrs["ContentBasedDeduplication"] == "true"
        assert attrs["DeduplicationScope"] == DEDUP_SCOPE_MESSAGE_GROUP
        assert attrs["FifoThroughputLimit"] == THROUGHPUT_PER_MESSAGE_GROUP
        assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == handle.dlq_arn
        dlq = sqs.get_queue_attributes(QueueUrl=handle.dlq_url, AttributeNames=["FifoQueue"])
        assert dlq["Attributes"]["FifoQueue"] == "true"
        ApiProvisioner(endpoint_url=None, region=REGION).destroy(handle)


def test_the_terraform_variables_carry_the_fifo_settings(tmp_path):
    p = tfp.TerraformProvisioner(endpoint_url="http://e:1", region=REGION, state_dir=tmp_path)
    values = p.tfvars(StackSpec(prefix="x1", fifo=True, content_based_deduplication=True))
    assert values["fifo"] is True
    assert values["content_based_deduplication"] is True
    assert values["deduplication_scope"] == DEDUP_SCOPE_QUEUE
    assert values["fifo_throughput_limit"] == THROUGHPUT_PER_QUEUE
    assert p.tfvars(StackSpec(prefix="x2"))["fifo"] is False
