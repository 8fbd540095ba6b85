"""An idempotent handler for ``--handler``: the effect is keyed by the message id.

    scenario run all --handler examples.idempotent_python.handler:handle

The kit's worker runs it (leases, heartbeat, drain); it applies its side effect through
``consumer.EffectsTable``, whose item is keyed by the message id and written with
``attribute_not_exists``: a redelivered message - after a crash, a visibility overrun, a kill
between the effect and the delete - finds its effect applied and does not apply it again.
Replace the body of ``handle`` with your own work, keyed the same way.
"""

from __future__ import annotations

import functools
import os

import boto3

from consumer import EffectsTable, Message
from consumer.contract import ENV_CONSUMER_ID, ENV_EFFECTS_TABLE


@functools.cache
def _effects() -> EffectsTable:
    # Built on first use, in the worker's environment (EFFECTS_TABLE, the endpoint, the region).
    return EffectsTable(
        boto3.client("dynamodb"),
        os.environ[ENV_EFFECTS_TABLE],
        consumer_id=os.environ.get(ENV_CONSUMER_ID, "idempotent-python"),
    )


def handle(message: Message) -> None:
    """Apply ``message``'s effect once per message id; raise to have it retried."""
    _effects().apply(message)
