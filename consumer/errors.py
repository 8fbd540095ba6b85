"""The consumer's exceptions: one root, mapped to exit codes at the edge (`__main__`).

The consumer depends on nothing else in the kit, so it has its own small hierarchy.
"""

from __future__ import annotations


class ConsumerError(Exception):
    """Root of every error the consumer raises on purpose."""


class ConfigError(ConsumerError):
    """A variable is missing or out of range; the message names it and the allowed values."""


class StoreConflict(ConsumerError):
    """A store write kept colliding with concurrent writes to the same item; retry later."""


class PoisonMessage(ConsumerError):
    """The message body cannot be processed at all (not JSON, or JSON that is not an object)."""
