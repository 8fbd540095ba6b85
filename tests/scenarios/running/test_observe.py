"""What the engine reads at the end of a phase: every page of a table, what queues still hold."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from scenarios.running import observe

pytestmark = pytest.mark.unit


class PagedTable:
    """A DynamoDB client whose scan answers ``size`` items per page, as DynamoDB does at 1 MB."""

    def __init__(self, n: int, size: int) -> None:
        self.items = [{"message_id": {"S": f"m{i}"}, "n": {"N": str(i)}} for i in range(n)]
        self.size = size
        self.calls: list[dict] = []

    def scan(self, **kwargs):
        self.calls.append(kwargs)
        start = int(kwargs.get("ExclusiveStartKey", {}).get("message_id", {}).get("S", "m-1")[1:])
        page = self.items[start + 1 : start + 1 + self.size]
        out: dict[str, object] = {"Items": page}
        if start + 1 + self.size < len(self.items):
            out["LastEvaluatedKey"] = {"message_id": page[-1]["message_id"]}
        return out


def test_scan_follows_last_evaluated_key_to_the_last_page():
    # GIVEN 25 items served 10 per page
    table = PagedTable(25, 10)
    items = observe.scan(table, "t")
    # THEN all 25 come back, as plain values, after three pages
    assert [i["message_id"] for i in items] == [f"m{i}" for i in range(25)]
    assert items[7]["n"] == 7
    assert len(table.calls) == 3
    assert "ExclusiveStartKey" not in table.calls[0]
    assert table.calls[1]["ExclusiveStartKey"] == {"message_id": {"S": "m9"}}
    assert all(c["ConsistentRead"] for c in table.calls)


def test_scan_pagination_against_moto():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(30):
            ddb.put_item(TableName="t", Item={"message_id": {"S": f"m{i}"}})
        calls = []

        def limited(**kwargs):
            calls.append(kwargs)
            return ddb.scan(**kwargs, Limit=7)

        class Client:
            scan = staticmethod(limited)

        assert len(observe.scan(Client(), "t")) == 30
        assert len(calls) >= 5


def test_peek_reads_without_deleting_and_wait_visible_waits_for_in_flight():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for i in range(12):
            sqs.send_message(QueueUrl=url, MessageBody=f'{{"id": "m{i}"}}')
        # held long enough that a loaded machine's peek still ends before they come back
        held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=5)
        assert len(held["Messages"]) == 2
        # only visible messages can be read: the other 10
        seen = observe.peek(sqs, url, expected=10, hide_s=2)
        assert len(seen) == 10
        assert {m.key for m in seen}.isdisjoint(
            json.loads(m["Body"])["id"] for m in held["Messages"]
        )
        # the ones in flight become visible once their visibility runs out
        depth = observe.wait_visible(sqs, url, timeout_s=30, poll_s=0.2)
        assert (depth.in_flight, depth.visible) == (0, 12)
        seen = observe.peek(sqs, url, expected=12)
        assert sorted(m.key for m in seen) == sorted(f"m{i}" for i in range(12))
        assert observe.depth(sqs, url).total == 12  # nothing was deleted
