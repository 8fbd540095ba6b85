"""Packing messages into SendMessageBatch calls: at most 10 entries and 1 MiB of bodies each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from producer.config import MAX_BATCH, MAX_BATCH_PAYLOAD_BYTES
from producer.payloads import Outgoing


def pack(
    messages: Iterable[Outgoing],
    batch_size: int = MAX_BATCH,
    max_batch_bytes: int = MAX_BATCH_PAYLOAD_BYTES,
) -> Iterator[list[Outgoing]]:
    """Greedy, order-preserving batches of ``batch_size`` entries or fewer.

    A batch is closed early when the next body would take it over ``max_batch_bytes``. Every
    single body must already fit (`payloads.check_sizes` runs first).
    """
    batch: list[Outgoing] = []
    used = 0
    for message in messages:
        if batch and (len(batch) >= batch_size or used + message.size > max_batch_bytes):
            yield batch
            batch, used = [], 0
        batch.append(message)
        used += message.size
    if batch:
        yield batch
