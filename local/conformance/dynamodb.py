"""DynamoDB checks: conditional writes, counters, transactions and TTL, as the consumer uses."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from core import capabilities as cap
from local.conformance.registry import (
    DDB_API,
    DDB_GUIDE,
    CheckFailed,
    ProbeCheck,
    ProbeContext,
    expect_error,
    registrar,
)

#: this module's checks, in the order they are defined
CHECKS: list[ProbeCheck] = []
check = registrar(CHECKS)


def _key(mid: str) -> dict[str, Any]:
    return {"message_id": {"S": mid}}


@check(
    "ddb.conditional_put",
    cap.DDB_CONDITIONAL,
    cite=DDB_GUIDE + "Expressions.ConditionExpressions.html",
)
def _conditional_put(ctx: ProbeContext) -> str:
    """PutItem with attribute_not_exists fails for the second writer with
    ConditionalCheckFailedException, and the first item is kept."""
    table = ctx.table("cput")
    first = {**_key("m1"), "owner": {"S": "a"}}
    cond = {"ConditionExpression": "attribute_not_exists(message_id)"}
    ctx.ddb.put_item(TableName=table, Item=first, **cond)
    expect_error(
        lambda: ctx.ddb.put_item(TableName=table, Item={**_key("m1"), "owner": {"S": "b"}}, **cond),
        "ConditionalCheckFailedException",
    )
    owner = ctx.ddb.get_item(TableName=table, Key=_key("m1"), ConsistentRead=True)["Item"]["owner"]
    if owner != {"S": "a"}:
        raise CheckFailed(f"the losing writer overwrote the item (owner {owner})")
    return "second put rejected, first item kept"


@check(
    "ddb.conditional_update_lease",
    cap.DDB_CONDITIONAL,
    cite=DDB_API + "API_UpdateItem.html",
)
def _conditional_update(ctx: ProbeContext) -> str:
    """UpdateItem applies only when its ConditionExpression holds: a lease takeover is refused
    while the lease is live and applies once it has expired."""
    table = ctx.table("lease")
    now = int(time.time())
    ctx.ddb.put_item(
        TableName=table,
        Item={**_key("m1"), "status": {"S": "STARTED"}, "lease_expires_at": {"N": str(now + 60)}},
    )
    update = {
        "TableName": table,
        "Key": _key("m1"),
        "UpdateExpression": "SET #o = :me, lease_expires_at = :lease",
        "ConditionExpression": "#s = :started AND lease_expires_at < :now",
        "ExpressionAttributeNames": {"#o": "owner", "#s": "status"},
        "ExpressionAttributeValues": {
            ":me": {"S": "b"},
            ":lease": {"N": str(now + 30)},
            ":started": {"S": "STARTED"},
            ":now": {"N": str(now)},
        },
    }
    expect_error(lambda: ctx.ddb.update_item(**update), "ConditionalCheckFailedException")
    ctx.ddb.update_item(
        TableName=table,
        Key=_key("m1"),
        UpdateExpression="SET lease_expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(now - 1)}},
    )
    ctx.ddb.update_item(**update)
    owner = ctx.ddb.get_item(TableName=table, Key=_key("m1"), ConsistentRead=True)["Item"]
    if owner.get("owner") != {"S": "b"}:
        raise CheckFailed("the takeover of an expired lease did not apply")
    return "live lease refused, expired lease taken over"


@check(
    "ddb.atomic_counter",
    cap.DDB_CONDITIONAL,
    cite=DDB_GUIDE + "WorkingWithItems.html",
)
def _atomic_counter(ctx: ProbeContext) -> str:
    """UpdateItem ADD increments a number atomically (an atomic counter) and ReturnValues
    UPDATED_NEW returns the new value."""
    table = ctx.table("counter")
    values = []
    for _ in range(2):
        resp = ctx.ddb.update_item(
            TableName=table,
            Key=_key("m1"),
            UpdateExpression="ADD attempts :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        values.append(resp.get("Attributes", {}).get("attempts", {}).get("N"))
    if values != ["1", "2"]:
        raise CheckFailed(f"attempts went {values}, expected ['1', '2']")
    return "1, then 2"


@check(
    "ddb.return_values_on_condition_failure",
    cap.DDB_RETURN_VALUES_ON_FAILURE,
    cite=DDB_API + "API_PutItem.html",
)
def _rvoccf(ctx: ProbeContext) -> str:
    """With ReturnValuesOnConditionCheckFailure=ALL_OLD, a failed condition returns the current
    item in the ConditionalCheckFailedException."""
    table = ctx.table("rvoccf")
    ctx.ddb.put_item(TableName=table, Item={**_key("m1"), "owner": {"S": "a"}})
    try:
        ctx.ddb.put_item(
            TableName=table,
            Item={**_key("m1"), "owner": {"S": "b"}},
            ConditionExpression="attribute_not_exists(message_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        item: Any = dict(exc.response).get("Item")
        if not item or item.get("owner") != {"S": "a"}:
            raise CheckFailed(f"the error carries no old item (Item={item})") from exc
        return "the error carries the current item"
    raise CheckFailed("the conditional put was accepted")


@check(
    "ddb.transact_write",
    cap.DDB_TRANSACTIONS,
    cite=DDB_API + "API_TransactWriteItems.html",
)
def _transact_ok(ctx: ProbeContext) -> str:
    """TransactWriteItems writes items in two tables in one all-or-nothing call."""
    status, completed = ctx.table("tx-status"), ctx.table("tx-done")
    ctx.ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": status, "Item": {**_key("m1"), "status": {"S": "COMPLETED"}}}},
            {
                "Put": {
                    "TableName": completed,
                    "Item": _key("m1"),
                    "ConditionExpression": "attribute_not_exists(message_id)",
                }
            },
        ]
    )
    for table in (status, completed):
        if "Item" not in ctx.ddb.get_item(TableName=table, Key=_key("m1"), ConsistentRead=True):
            raise CheckFailed(f"item missing from {table}")
    return "both items written"


def _failing_transaction(ctx: ProbeContext, **extra: Any) -> tuple[str, str, ClientError]:
    status, completed = ctx.table("txf-status"), ctx.table("txf-done")
    ctx.ddb.put_item(TableName=completed, Item={**_key("m1"), "owner": {"S": "first"}})
    try:
        ctx.ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": status,
                        "Item": {**_key("m1"), "status": {"S": "COMPLETED"}},
                    }
                },
                {
                    "Put": {
                        "TableName": completed,
                        "Item": {**_key("m1"), "owner": {"S": "second"}},
                        "ConditionExpression": "attribute_not_exists(message_id)",
                        **extra,
                    }
                },
            ]
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code != "TransactionCanceledException":
            raise CheckFailed(f"failed with {code}, not TransactionCanceledException") from exc
        return status, completed, exc
    raise CheckFailed("the transaction succeeded although its condition was false")


def _reasons(exc: ClientError) -> list[dict[str, Any]]:
    reasons: Any = dict(exc.response).get("CancellationReasons")
    if reasons is None:
        raise CheckFailed("TransactionCanceledException carries no CancellationReasons") from exc
    return [dict(r) for r in reasons]


@check(
    "ddb.transact_cancellation_reasons",
    cap.DDB_TRANSACTIONS,
    cite=DDB_API + "API_TransactWriteItems.html",
)
def _transact_reasons(ctx: ProbeContext) -> str:
    """A failed condition cancels the transaction (TransactionCanceledException) with one
    CancellationReason per item, in request order."""
    _, _, exc = _failing_transaction(ctx)
    codes = [r.get("Code") for r in _reasons(exc)]
    if len(codes) != 2 or codes[1] != "ConditionalCheckFailed" or codes[0] not in {None, "None"}:
        raise CheckFailed(
            f"CancellationReasons codes {codes}, expected [None, ConditionalCheckFailed]"
        )
    return f"codes {codes}"


@check(
    "ddb.transact_atomic",
    cap.DDB_TRANSACTIONS,
    cite=DDB_API + "API_TransactWriteItems.html",
)
def _transact_atomic(ctx: ProbeContext) -> str:
    """A cancelled transaction writes nothing, not even its unconditional items."""
    status, completed, _ = _failing_transaction(ctx)
    if "Item" in ctx.ddb.get_item(TableName=status, Key=_key("m1"), ConsistentRead=True):
        raise CheckFailed("the unconditional item of a cancelled transaction was written")
    owner = ctx.ddb.get_item(TableName=completed, Key=_key("m1"), ConsistentRead=True)["Item"][
        "owner"
    ]
    if owner != {"S": "first"}:
        raise CheckFailed("the conditional item was overwritten")
    return "nothing written"


@check(
    "ddb.transact_return_values_on_failure",
    cap.DDB_RETURN_VALUES_ON_FAILURE,
    cite=DDB_API + "API_TransactWriteItems.html",
)
def _transact_rvoccf(ctx: ProbeContext) -> str:
    """In a transaction, ReturnValuesOnConditionCheckFailure=ALL_OLD puts the current item in
    the failed item's CancellationReason."""
    _, _, exc = _failing_transaction(ctx, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    item = _reasons(exc)[1].get("Item")
    if not item or item.get("owner") != {"S": "first"}:
        raise CheckFailed(f"CancellationReasons[1].Item = {item}")
    return "the reason carries the current item"


@check(
    "ddb.ttl_setting",
    cap.DDB_TTL,
    cite=DDB_API + "API_UpdateTimeToLive.html",
)
def _ttl(ctx: ProbeContext) -> str:
    """UpdateTimeToLive enables TTL on an attribute and DescribeTimeToLive reports it (expiry
    itself takes up to days on AWS and is not probed)."""
    table = ctx.table("ttl")
    ctx.ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    desc = ctx.ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if (
        desc.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}
        or desc.get("AttributeName") != "expires_at"
    ):
        raise CheckFailed(f"DescribeTimeToLive says {desc}")
    return f"{desc['TimeToLiveStatus']} on expires_at (expiry itself is not probed)"
