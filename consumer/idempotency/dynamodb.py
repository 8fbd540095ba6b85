"""The DynamoDB backend: a status table and a completed table, both keyed by ``message_id`` (S).

Common path cost for a first-time message: one conditional ``PutItem`` (STARTED) and one
``TransactWriteItems`` (COMPLETED + completed item) - two write requests. A conflicting
``PutItem`` returns the existing item (``ReturnValuesOnConditionCheckFailure``), so deciding
what to do with a duplicate costs no extra read.

Every write of a status or completed item also sets ``expires_at`` (epoch seconds, the
status table's TTL attribute) to ``ttl_seconds`` from now, so records expire without a write of
their own; ``ttl_seconds=0`` writes none.

The client is injected (a low-level ``boto3.client("dynamodb")``); retries of throttling and
5xx errors are botocore's job (its retry mode), not this module's.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from consumer.aws import CONDITION_FAILED, error_code
from consumer.config import DEFAULT_IDEMPOTENCY_TTL_SECONDS
from consumer.contract import IDEMPOTENCY_TTL_ATTRIBUTE
from consumer.errors import StoreConflict
from consumer.idempotency.base import (
    COMPLETED,
    STARTED,
    Claim,
    Clock,
    IdempotencyStore,
    Outcome,
    StatusRecord,
)

_CANCELLED = "TransactionCanceledException"
# A transaction that collides with another write to the same item is cancelled, not retried
# by botocore; it is a semantic conflict, so the state is read again and the write retried.
_MAX_CONFLICT_ROUNDS = 3

# Attribute names behind placeholders: STATUS and OWNER are DynamoDB reserved words.
_NAMES = {
    "#s": "status",
    "#a": "attempts",
    "#o": "owner",
    "#l": "lease_expires_at",
    "#u": "updated_at",
    "#h": "body_hash",
    "#x": IDEMPOTENCY_TTL_ATTRIBUTE,
}


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}" if isinstance(value, float) else str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoDBStore(IdempotencyStore):
    """Status and completed items in two DynamoDB tables."""

    name = "dynamodb"

    def __init__(
        self,
        owner: str,
        *,
        client: Any,
        status_table: str,
        completed_table: str,
        cache_size: int = 1000,
        clock: Clock | None = None,
        ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    ) -> None:
        super().__init__(owner, cache_size=cache_size, clock=clock)
        self._ddb = client
        self.status_table = status_table
        self.completed_table = completed_table
        self.ttl_seconds = ttl_seconds

    def _expiry(self, now: float) -> dict[str, dict[str, str]]:
        """The TTL attribute for an item written at ``now`` (nothing when TTL is off)."""
        if not self.ttl_seconds:
            return {}
        return {IDEMPOTENCY_TTL_ATTRIBUTE: _n(int(now) + self.ttl_seconds)}

    # -- primitives --------------------------------------------------------------------------

    def _insert(self, record: StatusRecord) -> StatusRecord | None:
        try:
            self._ddb.put_item(
                TableName=self.status_table,
                Item={**_item(record), **self._expiry(record.updated_at)},
                ConditionExpression="attribute_not_exists(message_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            item: Any = exc.response.get("Item")
            return _record(item) if item else self._get(record.message_id)
        return None

    def _get(self, message_id: str) -> StatusRecord | None:
        response = self._ddb.get_item(
            TableName=self.status_table, Key={"message_id": _s(message_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        return _record(item) if item else None

    def _takeover(self, record: StatusRecord, *, expected_attempts: int, now: float) -> bool:
        update = "SET #s = :started, #a = :new, #o = :me, #l = :lease, #u = :now"
        values = {
            ":started": _s(STARTED),
            ":new": _n(record.attempts),
            ":me": _s(record.owner),
            ":lease": _n(record.lease_expires_at),
            ":now": _n(now),
            ":expected": _n(expected_attempts),
        }
        if record.body_hash is not None:  # a record written without one learns it now
            update += ", #h = :hash"
            values[":hash"] = _s(record.body_hash)
        if self.ttl_seconds:
            update += ", #x = :expires"
            values[":expires"] = self._expiry(now)[IDEMPOTENCY_TTL_ATTRIBUTE]
        return self._conditional_update(
            record.message_id,
            update=update,
            condition="#s = :started AND #a = :expected AND #l <= :now",
            values=values,
        )

    def _set_lease(self, claim: Claim, lease_expires_at: float, *, now: float) -> bool:
        return self._conditional_update(
            claim.message_id,
            update="SET #l = :lease, #u = :now",
            condition="#s = :started AND #o = :me AND #a = :attempt",
            values={
                ":started": _s(STARTED),
                ":me": _s(claim.owner),
                ":attempt": _n(claim.attempt),
                ":lease": _n(lease_expires_at),
                ":now": _n(now),
            },
        )

    def _finish(self, claim: Claim, completed_at_ms: int, *, now: float) -> Outcome:
        for _ in range(_MAX_CONFLICT_ROUNDS):
            try:
                self._ddb.transact_write_items(
                    TransactItems=self._completion(claim, completed_at_ms, now)
                )
            except ClientError as exc:
                if error_code(exc) != _CANCELLED:
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    # Ours if a retried call already wrote it (a lost response, a new request).
                    done = self.completed_item(claim.message_id)
                    if done and (done["owner"], done["attempts"]) == (claim.owner, claim.attempt):
                        return Outcome.COMPLETED
                    return Outcome.ALREADY_COMPLETED
                current = self._get(claim.message_id)
                if current is not None and current.status == COMPLETED:
                    return Outcome.ALREADY_COMPLETED
                if "TransactionConflict" in reasons and _still_ours(current, claim):
                    continue
                return Outcome.FENCED
            return Outcome.COMPLETED
        # Still ours, never written: not fenced. The caller's failure path ends the lease.
        raise StoreConflict(
            f"completing {claim.message_id!r} collided with concurrent writes "
            f"{_MAX_CONFLICT_ROUNDS} times"
        )

    # -- helpers -----------------------------------------------------------------------------

    def _completion(self, claim: Claim, completed_at_ms: int, now: float) -> list[dict[str, Any]]:
        key = {"message_id": _s(claim.message_id)}
        expiry = self._expiry(now)
        update = "SET #s = :completed, #u = :now"
        names = {"#s": "status", "#o": "owner", "#a": "attempts", "#u": "updated_at"}
        values = {
            ":completed": _s(COMPLETED),
            ":started": _s(STARTED),
            ":me": _s(claim.owner),
            ":attempt": _n(claim.attempt),
            ":now": _n(now),
        }
        if expiry:  # the record lives ttl_seconds from its completion
            update += ", #x = :expires"
            names["#x"] = IDEMPOTENCY_TTL_ATTRIBUTE
            values[":expires"] = expiry[IDEMPOTENCY_TTL_ATTRIBUTE]
        return [
            {
                "Update": {
                    "TableName": self.status_table,
                    "Key": key,
                    "UpdateExpression": update,
                    "ConditionExpression": "#s = :started AND #o = :me AND #a = :attempt",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self.completed_table,
                    "Item": {**_completed_item(claim, completed_at_ms), **expiry},
                    "ConditionExpression": "attribute_not_exists(message_id)",
                }
            },
        ]

    def _conditional_update(
        self, message_id: str, *, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        used = {k: v for k, v in _NAMES.items() if k in update or k in condition}
        try:
            self._ddb.update_item(
                TableName=self.status_table,
                Key={"message_id": _s(message_id)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=used,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def completed_item(self, message_id: str) -> dict[str, Any] | None:
        """The completed item as plain values (for tests, tools and the oracle)."""
        response = self._ddb.get_item(
            TableName=self.completed_table, Key={"message_id": _s(message_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        out: dict[str, Any] = {
            "message_id": item["message_id"]["S"],
            "completed_at": int(float(item["completed_at"]["N"])),
            "owner": item["owner"]["S"],
            "attempts": int(float(item["attempts"]["N"])),
        }
        if "body_hash" in item:
            out["body_hash"] = item["body_hash"]["S"]
        return out

    def status_item(self, message_id: str) -> StatusRecord | None:
        """The status item (for tests, tools and the oracle)."""
        return self._get(message_id)


def _still_ours(current: StatusRecord | None, claim: Claim) -> bool:
    return (
        current is not None
        and current.status == STARTED
        and current.owner == claim.owner
        and current.attempts == claim.attempt
    )


def _item(record: StatusRecord) -> dict[str, Any]:
    item = {
        "message_id": _s(record.message_id),
        "status": _s(record.status),
        "attempts": _n(record.attempts),
        "owner": _s(record.owner),
        "lease_expires_at": _n(record.lease_expires_at),
        "updated_at": _n(record.updated_at),
    }
    if record.body_hash is not None:
        item["body_hash"] = _s(record.body_hash)
    return item


def _completed_item(claim: Claim, completed_at_ms: int) -> dict[str, Any]:
    item = {
        "message_id": _s(claim.message_id),
        "completed_at": _n(completed_at_ms),
        "owner": _s(claim.owner),
        "attempts": _n(claim.attempt),
    }
    if claim.body_hash is not None:
        item["body_hash"] = _s(claim.body_hash)
    return item


def _record(item: dict[str, Any]) -> StatusRecord:
    return StatusRecord(
        message_id=item["message_id"]["S"],
        status=item.get("status", {}).get("S", STARTED),
        attempts=int(float(item.get("attempts", {}).get("N", "0"))),
        owner=item.get("owner", {}).get("S", ""),
        lease_expires_at=float(item.get("lease_expires_at", {}).get("N", "0")),
        updated_at=float(item.get("updated_at", {}).get("N", "0")),
        body_hash=item["body_hash"]["S"] if "body_hash" in item else None,
    )
