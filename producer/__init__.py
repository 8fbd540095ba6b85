"""sqs-kit producer: a batching, rate-limited SQS sender with a ledger the oracle can trust.

    from producer import send, SendConfig
    report = send(SendConfig(queue_url=url, n=100, rate=50, ledger=Path("sent.jsonl")))
    report = send(SendConfig(queue_url=url, bodies=["not json", '{"id": "x"}']))
    report = send(SendConfig(queue_url=fifo_url, n=100, group_ids=4, dedup_id="payload-id"))

The CLI (`produce`, `python -m producer`) is a thin layer over `send`.
"""

from collections.abc import Sequence
from typing import Any

from producer.config import (
    MAX_BATCH,
    MAX_BATCH_PAYLOAD_BYTES,
    MAX_MESSAGE_SIZE_BYTES,
    RetryPolicy,
    SendConfig,
)
from producer.errors import ConfigError, MessageTooLarge, SendAborted
from producer.ledger import LedgerEntry, read_ledger
from producer.payloads import Outgoing
from producer.report import Failure, Progress, SendReport
from producer.sender import send

__all__ = [
    "MAX_BATCH",
    "MAX_BATCH_PAYLOAD_BYTES",
    "MAX_MESSAGE_SIZE_BYTES",
    "ConfigError",
    "Failure",
    "LedgerEntry",
    "MessageTooLarge",
    "Outgoing",
    "Progress",
    "RetryPolicy",
    "SendAborted",
    "SendConfig",
    "SendReport",
    "read_ledger",
    "send",
    "send_bodies",
]


def send_bodies(queue_url: str, bodies: Sequence[str], **settings: Any) -> SendReport:
    """Send ``bodies`` verbatim, one message each (poison corpora: any strings SQS accepts).

    ``settings`` are further `SendConfig` fields (``endpoint_url``, ``ledger``, ``rate``...) plus
    ``sqs`` for an injected client.
    """
    sqs = settings.pop("sqs", None)
    config = SendConfig(queue_url=queue_url, bodies=tuple(bodies), **settings)
    return send(config, sqs=sqs)
