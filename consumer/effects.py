"""Side effects a handler applies, written to an effects table so they can be counted.

The idempotency tables prove that a message's *record* completed once. What a user cares about
is the *effect*: was the card charged twice? An ``EffectsTable`` is a stand-in for such a
downstream system, one item per applied effect (hash key ``message_id``, range key
``effect_id``), which the oracle can count.

Two ways to apply an effect, ``mode``:

- ``idempotent`` (the pattern to copy): the effect is keyed by the message id
  (``effect_id = message_id``) and written with ``attribute_not_exists(effect_id)``. However
  often the handler runs for one message, the effect is applied once; a later execution finds
  it applied (``effect.skipped``).
- ``naive``: one item per execution (``effect_id = execution_id``), as a downstream call
  without an idempotency key would do: every execution applies it again.

Use it from your own handler::

    effects = EffectsTable(boto3.client("dynamodb"), "my-effects", consumer_id="me")

    def handle(message: Message) -> None:
        effects.apply(message)
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from consumer.aws import CONDITION_FAILED, error_code
from consumer.contract import (
    EFFECT_APPLIED_AT,
    EFFECT_ATTEMPT,
    EFFECT_CONSUMER_ID,
    EFFECT_EXECUTION_ID,
    EFFECT_HASH_KEY,
    EFFECT_IDEMPOTENT,
    EFFECT_MODES,
    EFFECT_RANGE_KEY,
    EV_EFFECT_APPLIED,
    EV_EFFECT_SKIPPED,
)
from consumer.errors import ConfigError
from consumer.message import Message

log = logging.getLogger("consumer.effects")


class EffectsTable:
    """A DynamoDB table of applied effects. ``client`` is a low-level DynamoDB client (injected)."""

    def __init__(
        self, client: Any, table: str, *, consumer_id: str, mode: str = EFFECT_IDEMPOTENT
    ) -> None:
        if mode not in EFFECT_MODES:
            raise ConfigError(
                f"effect mode {mode!r} is not allowed: choose one of {', '.join(EFFECT_MODES)}"
            )
        self._ddb = client
        self.table = table
        self.consumer_id = consumer_id
        self.mode = mode

    def effect_id(self, message: Message) -> str:
        """The range key of ``message``'s effect in this mode."""
        if self.mode == EFFECT_IDEMPOTENT:
            return message.message_id
        # A message built outside the worker has no execution id: each call is its own.
        return message.execution_id or uuid.uuid4().hex

    def apply(self, message: Message) -> bool:
        """Apply the effect of this execution of ``message``; False if it was already applied.

        Only the idempotent mode can find it applied. Errors other than that condition
        propagate: the handler fails and the message is retried.
        """
        effect_id = self.effect_id(message)
        item = {
            EFFECT_HASH_KEY: {"S": message.message_id},
            EFFECT_RANGE_KEY: {"S": effect_id},
            EFFECT_CONSUMER_ID: {"S": self.consumer_id},
            EFFECT_APPLIED_AT: {"N": str(int(time.time() * 1000))},
            EFFECT_EXECUTION_ID: {"S": message.execution_id},
            EFFECT_ATTEMPT: {"N": str(message.attempt)},
        }
        fields = {
            "consumer_id": self.consumer_id,
            "message_id": message.message_id,
            "attempt": message.attempt,
            "execution_id": message.execution_id,
            "effect_id": effect_id,
            "mode": self.mode,
        }
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": item}
        if self.mode == EFFECT_IDEMPOTENT:
            kwargs.update(
                ConditionExpression="attribute_not_exists(#e)",
                ExpressionAttributeNames={"#e": EFFECT_RANGE_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        try:
            self._ddb.put_item(**kwargs)
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            old: Any = exc.response.get("Item") or {}
            applied_by = old.get(EFFECT_EXECUTION_ID, {}).get("S")
            log.info(EV_EFFECT_SKIPPED, extra={**fields, "applied_by": applied_by})
            return False
        log.info(EV_EFFECT_APPLIED, extra=fields)
        return True
