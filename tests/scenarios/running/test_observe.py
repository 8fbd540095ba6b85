"""What the engine reads at the end of a phase: every page of a table."""

from __future__ import annotations

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
