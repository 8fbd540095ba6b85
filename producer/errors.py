"""Producer errors: subclasses of the kit's one root exception (`core.errors.KitError`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ConfigError, InfrastructureError

if TYPE_CHECKING:
    from producer.report import SendReport

__all__ = ["ConfigError", "MessageTooLarge", "SendAborted"]


class MessageTooLarge(ConfigError):
    """A body is larger than the queue accepts; raised before anything is sent."""


class SendAborted(InfrastructureError):
    """A SendMessageBatch call failed outright (after botocore's retries), so the run stopped.

    ``report`` is the partial report: everything accepted so far is in its ledger (and in the
    ledger file); the messages of the failed call and every unsent one are in its failures.
    """

    def __init__(self, message: str, *, report: SendReport) -> None:
        super().__init__(message)
        self.report = report
