"""Rendering for the CLI only: a rich progress bar on a TTY, plain lines otherwise, summaries.

Progress and diagnostics go to stderr; stdout carries only the result (a line, or JSON).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress

from core.lifecycle import Scoped
from producer.report import Progress, SendReport

PLAIN_INTERVAL_S = 1.0
MAX_FAILURES_SHOWN = 20

# The attributes every LogRecord has; anything else was passed in ``extra`` as context.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class ProgressDisplay(Scoped):
    """An ``on_progress`` callback: a bar (``mode="rich"``) or plain lines (``"plain"``)."""

    def __init__(self, mode: str, *, stream: IO[str] | None = None) -> None:
        if mode not in {"rich", "plain", "off"}:
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        self.stream = stream or sys.stderr
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0

    def open(self) -> None:
        """Start the progress bar (``with ProgressDisplay(mode) as show:``)."""
        if self.mode == "rich":
            self._bar = RichProgress(
                TextColumn("[bold]produce"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>8.1f} msg/s"),
                TextColumn("[red]{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()

    def __call__(self, progress: Progress) -> None:
        rate = progress.sent / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("send", total=progress.total, rate=0.0, failed=0)
            self._bar.update(self._task, completed=progress.done, rate=rate, failed=progress.failed)
        elif self.mode == "plain":
            now = time.monotonic()
            final = progress.done >= progress.total
            if progress.done == 0 or not (final or now - self._last_line >= PLAIN_INTERVAL_S):
                return
            self._last_line = now
            print(
                f"produce: {progress.done}/{progress.total} done, {progress.sent} sent, "
                f"{progress.failed} failed, {progress.elapsed_s:.1f} s, {rate:.1f} msg/s",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        """Stop the progress bar."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def choose_mode(quiet: bool, stream: IO[str] | None = None) -> str:
    """``off`` when quiet, ``rich`` on a terminal, ``plain`` otherwise (pipes, CI, CliRunner)."""
    if quiet:
        return "off"
    return "rich" if Console(file=stream or sys.stderr).is_terminal else "plain"


def summary_line(report: SendReport) -> str:
    target = f" (target {report.target_rate:g}/s)" if report.target_rate else ""
    return (
        f"sent {report.sent}/{report.requested} in {report.elapsed_s:.2f} s, "
        f"{report.achieved_rate:.1f} msg/s{target}; failed {report.failed}"
    )


def failure_lines(report: SendReport) -> list[str]:
    lines = [
        f"  failed: seq {f.seq} id={json.dumps(f.id)} after {f.attempts} attempt(s): {f.reason}"
        for f in report.failures[:MAX_FAILURES_SHOWN]
    ]
    hidden = len(report.failures) - MAX_FAILURES_SHOWN
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (--json lists them all)")
    return lines


class TextFormatter(logging.Formatter):
    """``LEVEL event key=value ...``: structured log records rendered for a human on stderr."""

    def format(self, record: logging.LogRecord) -> str:
        context: dict[str, Any] = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        fields = " ".join(f"{k}={v}" for k, v in context.items())
        text = f"{record.levelname.lower()} {record.getMessage()}"
        return f"{text} {fields}" if fields else text


def configure_logging(level: str, stream: IO[str] | None = None) -> None:
    """Send the ``producer`` logger's records to stderr as text (idempotent)."""
    logger = logging.getLogger("producer")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if getattr(handler, "_producer_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(TextFormatter())
    handler._producer_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
