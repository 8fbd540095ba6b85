"""A phase's queue when it is FIFO: the settings its stack (queue and FIFO DLQ) is built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.stack import DEDUP_SCOPE_QUEUE, THROUGHPUT_PER_QUEUE, check_fifo_settings


@dataclass(frozen=True)
class FifoQueue:
    """The phase runs on a FIFO queue with a FIFO DLQ; the values are SQS's (``core.stack``)."""

    content_based_deduplication: bool = False
    #: ``queue`` or ``messageGroup``: where a deduplication id must be unique for 5 minutes
    deduplication_scope: str = DEDUP_SCOPE_QUEUE
    #: ``perQueue`` or ``perMessageGroupId`` (high throughput, with the messageGroup scope)
    throughput_limit: str = THROUGHPUT_PER_QUEUE

    def __post_init__(self) -> None:
        # Refused when the scenario is declared, not when its stack is created.
        check_fifo_settings(
            fifo=True,
            content_based_deduplication=self.content_based_deduplication,
            deduplication_scope=self.deduplication_scope,
            fifo_throughput_limit=self.throughput_limit,
        )

    def stack_fields(self) -> dict[str, Any]:
        """The ``StackSpec`` fields for this queue."""
        return {
            "fifo": True,
            "content_based_deduplication": self.content_based_deduplication,
            "deduplication_scope": self.deduplication_scope,
            "fifo_throughput_limit": self.throughput_limit,
        }
