"""Structured logs: dotted event names and bound fields, rendered as JSON lines or text at the edge.

Library code logs ``log.info(EV_COMPLETED, extra={...})``, with event names from
``consumer.contract``; only ``configure()`` (called by ``python -m consumer``) decides how lines
look. In JSON mode every line on stdout is one object with at least ``ts``, ``level``,
``event`` and ``consumer_id``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}

# Fields printed first, in this order, when present.
_LEADING = (
    "consumer_id",
    "message_id",
    "sqs_message_id",
    "receive_count",
    "attempt",
    "execution_id",
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


def _ts(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``event``, ``consumer_id`` and the extras."""

    def __init__(self, consumer_id: str | None = None) -> None:
        super().__init__()
        self.consumer_id = consumer_id

    def format(self, record: logging.LogRecord) -> str:
        extra = _fields(record)
        line: dict[str, Any] = {
            "ts": _ts(record),
            "level": record.levelname,
            "event": record.getMessage(),
        }
        if self.consumer_id is not None:
            line["consumer_id"] = self.consumer_id
        for key in _LEADING:
            if key in extra:
                line[key] = extra.pop(key)
        line.update(extra)
        if record.name and not record.name.startswith("consumer"):
            line["logger"] = record.name
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``ts LEVEL event key=value ...`` for people reading a terminal."""

    def __init__(self, consumer_id: str | None = None) -> None:
        super().__init__()
        self.consumer_id = consumer_id

    def format(self, record: logging.LogRecord) -> str:
        extra = _fields(record)
        if self.consumer_id is not None:
            extra.setdefault("consumer_id", self.consumer_id)
        pairs = " ".join(f"{k}={_text(v)}" for k, v in extra.items())
        text = f"{_ts(record)} {record.levelname:<7} {record.getMessage()} {pairs}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def configure(
    *,
    level: str = "INFO",
    fmt: str = "json",
    consumer_id: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line to ``stream`` (stdout) in ``fmt``; returns the installed handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    formatter: logging.Formatter = (
        JsonFormatter(consumer_id) if fmt == "json" else TextFormatter(consumer_id)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The SDK's own chatter is not part of the event stream unless something goes wrong.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler
