"""The API provisioner: boto3 creates what `terraform/modules/stack` declares, in under a second."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from consumer.contract import EFFECT_HASH_KEY, EFFECT_RANGE_KEY
from core.aws import Endpoints, client, resolve_region
from core.provisioners.base import Provisioner
from core.stack import StackHandle, StackSpec

log = logging.getLogger(__name__)

_TABLE_ACTIVE_TIMEOUT_S = 30.0


class ApiProvisioner(Provisioner):
    """Creates the queue, its DLQ, the idempotency tables and the effects table via the AWS API."""

    name = "api"

    def __init__(
        self,
        *,
        endpoint_url: str | Endpoints | None,
        region: str | None = None,
        sqs: Any = None,
        dynamodb: Any = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(variables=variables)
        if self.variables:
            # Terraform variables describe resources this provisioner does not create.
            log.warning(
                "provisioner.variables_ignored", extra={"variables": sorted(self.variables)}
            )
        #: per service: with a split, the queues and the tables live on different endpoints
        self.endpoints = (
            endpoint_url if isinstance(endpoint_url, Endpoints) else Endpoints(endpoint_url)
        )
        self.endpoint_url = self.endpoints.default
        self.region = resolve_region(region)
        self._sqs = sqs or client("sqs", endpoint_url=self.endpoints, region=self.region)
        self._ddb = dynamodb or client("dynamodb", endpoint_url=self.endpoints, region=self.region)

    # -- create ------------------------------------------------------------------------------

    def _create(self, spec: StackSpec) -> StackHandle:
        # A FIFO queue's DLQ must be FIFO too; it needs no deduplication settings of its own
        # (SQS moves messages into it, nothing sends to it), as in the Terraform module.
        dlq_url = self._create_queue(
            spec.dlq_name,
            {
                "MessageRetentionPeriod": str(spec.dlq_retention),
                **({"FifoQueue": "true"} if spec.fifo else {}),
            },
            spec,
        )
        dlq_arn = self._queue_arn(dlq_url)
        queue_url = self._create_queue(
            spec.queue_name,
            {
                "VisibilityTimeout": str(spec.visibility_timeout),
                "ReceiveMessageWaitTimeSeconds": str(spec.receive_wait),
                "MessageRetentionPeriod": str(spec.message_retention),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
                ),
                **spec.fifo_attributes(),
            },
            spec,
        )
        # Only this queue may dead-letter into the DLQ, as in the Terraform module.
        self._sqs.set_queue_attributes(
            QueueUrl=dlq_url,
            Attributes={
                "RedriveAllowPolicy": json.dumps(
                    {
                        "redrivePermission": "byQueue",
                        "sourceQueueArns": [self._queue_arn(queue_url)],
                    }
                )
            },
        )
        for table in (spec.status_table, spec.completed_table):
            self._create_table(table, spec, key=_IDEMPOTENCY_KEY)
        self._create_table(spec.effects_table, spec, key=_EFFECTS_KEY)
        for table in spec.tables:
            self._wait_active(table)
            if spec.point_in_time_recovery:  # as the module's point_in_time_recovery variable
                self._ddb.update_continuous_backups(
                    TableName=table,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
        self._ddb.update_time_to_live(
            TableName=spec.status_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
        return StackHandle(
            prefix=spec.prefix,
            region=self.region,
            queue_url=queue_url,
            queue_arn=self._queue_arn(queue_url),
            dlq_url=dlq_url,
            dlq_arn=dlq_arn,
            status_table=spec.status_table,
            completed_table=spec.completed_table,
            effects_table=spec.effects_table,
            endpoint_url=self.endpoint_url,
            service_endpoints=self.endpoints.services,
            provisioner=self.name,
        )

    def _create_queue(self, name: str, attributes: dict[str, str], spec: StackSpec) -> str:
        attrs = {"MaximumMessageSize": str(spec.max_message_size), **attributes}
        if spec.sse:
            attrs["SqsManagedSseEnabled"] = "true"
        url: str = self._sqs.create_queue(QueueName=name, Attributes=attrs, tags=spec.all_tags)[
            "QueueUrl"
        ]
        return url

    def _queue_arn(self, url: str) -> str:
        attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn: str = attrs["Attributes"]["QueueArn"]
        return arn

    def _create_table(self, name: str, spec: StackSpec, *, key: tuple[str, ...]) -> None:
        """A table keyed by ``key`` (hash, then range), every attribute a string."""
        self._ddb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": a, "KeyType": kind}
                for a, kind in zip(key, ("HASH", "RANGE"), strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in key],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
            Tags=[{"Key": k, "Value": v} for k, v in spec.all_tags.items()],
        )

    def _wait_active(self, name: str) -> None:
        deadline = time.monotonic() + _TABLE_ACTIVE_TIMEOUT_S
        while time.monotonic() < deadline:
            status = self._ddb.describe_table(TableName=name)["Table"]["TableStatus"]
            if status == "ACTIVE":
                return
            time.sleep(0.1)
        raise ClientError(
            {"Error": {"Code": "TableNotActive", "Message": f"{name} not ACTIVE after 30 s"}},
            "DescribeTable",
        )

    # -- delete ------------------------------------------------------------------------------

    def _delete(self, handle: StackHandle) -> None:
        for url in (handle.queue_url, handle.dlq_url):
            _ignore_missing(self._sqs.delete_queue, QueueUrl=url)
        for table in (handle.status_table, handle.completed_table, handle.effects_table):
            if table:
                _ignore_missing(self._ddb.delete_table, TableName=table)

    def _cleanup_partial(self, spec: StackSpec) -> None:
        for name in (spec.queue_name, spec.dlq_name):
            try:
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError:
                continue
            _ignore_missing(self._sqs.delete_queue, QueueUrl=url)
        for table in spec.tables:
            _ignore_missing(self._ddb.delete_table, TableName=table)


#: the idempotency tables' key, and the effects table's (hash, range): as terraform/modules/stack
_IDEMPOTENCY_KEY = ("message_id",)
_EFFECTS_KEY = (EFFECT_HASH_KEY, EFFECT_RANGE_KEY)

_MISSING = {
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ResourceNotFoundException",
}


def _ignore_missing(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _MISSING:
            raise
