"""`scenario run ... --parallel N`: scenarios side by side, one live line each.

Each scenario gets its own target forked from the run's (the same emulator, its own stacks,
runner and consumers) and writes its own report; the engine is the sequential one, run in a
worker thread (:mod:`scenarios.running.parallel`). The order is planned on the measured
durations (``expected_s``); two ``cpu_bound`` ones never side by side, nor a ``start_window``
one beside a ``cpu_bound`` one; scenarios that declare ``exclusive`` run alone after the
others, so their timing phenomena see no extra load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from core.lifecycle import Scoped
from scenarios.running.parallel import run_side_by_side
from scenarios.running.phase import Progress, ProgressFn
from scenarios.running.scenario import Scenario, Status
from scenarios.targets import Target

#: the most scenarios one run starts at once
MAX_PARALLEL = 16

Outcome = tuple[Status, dict[str, Any]]
Execute = Callable[[Scenario, Target, ProgressFn], Outcome]


def run_parallel(
    scenarios: Sequence[Scenario],
    target: Target,
    *,
    workers: int,
    execute: Execute,
    board: Board,
) -> list[Outcome]:
    """``execute`` every scenario on a fork of ``target``, ``workers`` at a time; in order."""

    def work(scenario: Scenario) -> Outcome:
        board.started(scenario.name)
        started = time.monotonic()
        twin = target.fork()
        try:
            status, data = execute(scenario, twin, board)
        finally:
            twin.close()
        board.finished(scenario.name, status, time.monotonic() - started)
        return status, data

    with board:
        return run_side_by_side(
            scenarios,
            work,
            workers=workers,
            exclusive=lambda s: s.exclusive,
            weight=lambda s: s.expected_s,  # what the order is planned on
            heavy=lambda s: s.cpu_bound,
            fragile=lambda s: s.start_window,
        )


@dataclass
class _Row:
    name: str
    exclusive: bool
    stage: str = "waiting"
    phase: str = ""
    started: float | None = None
    took_s: float | None = None
    status: Status | None = None
    last: Progress | None = None


class Board(Scoped):
    """One line per scenario: a live table on a terminal, a line per start and end otherwise.

    Its ``__call__`` is the engine's progress callback; worker threads call it concurrently.
    """

    def __init__(self, scenarios: Sequence[Scenario], console: Console | None = None) -> None:
        if console is None:
            probe = Console(stderr=True)
            console = probe if probe.is_terminal else Console(stderr=True, width=120)
        self.console = console
        self.rows = {s.name: _Row(s.name, s.exclusive) for s in scenarios}
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._began = time.monotonic()

    def open(self) -> None:
        self._began = time.monotonic()
        if self.console.is_terminal:
            self._live = Live(
                self._table(), console=self.console, refresh_per_second=4, transient=False
            )
            self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    def __call__(self, p: Progress) -> None:
        with self._lock:
            row = self.rows.get(p.scenario)
            if row is not None:
                row.stage, row.phase, row.last = p.stage, p.phase, p
        self._refresh()

    def started(self, name: str) -> None:
        with self._lock:
            row = self.rows[name]
            row.started, row.stage = time.monotonic(), "starting"
        if self._live is None:
            self.console.print(Text(f"[{name}] started", style="dim"))
        self._refresh()

    def finished(self, name: str, status: Status, took_s: float) -> None:
        with self._lock:
            row = self.rows[name]
            row.status, row.took_s, row.stage = status, took_s, str(status)
        if self._live is None:
            self.console.print(Text(f"[{name}] {status} in {took_s:.1f} s"))
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            with self._lock:
                table = self._table()
            self._live.update(table)

    def _table(self) -> Table:
        table = Table(
            title=f"scenarios side by side - {time.monotonic() - self._began:.0f} s",
            title_justify="left",
        )
        for col in ("scenario", "stage", "s", "sent", "done", "backlog", "consumers", "crash"):
            table.add_column(col, justify="left" if col in ("scenario", "stage") else "right")
        for row in self.rows.values():
            p = row.last
            took = row.took_s if row.took_s is not None else _since(row.started)
            style = {Status.PASSED: "green", Status.SKIPPED: "yellow"}.get(
                row.status or Status.PASSED, "red"
            )
            table.add_row(
                row.name + (" (alone)" if row.exclusive else ""),
                Text(
                    row.stage if row.status or not row.phase else f"{row.phase}: {row.stage}",
                    style=style if row.status else "",
                ),
                f"{took:.1f}" if took is not None else "",
                f"{p.sent}/{p.expected}" if p else "",
                str(p.completed) if p else "",
                str(p.visible + p.in_flight) if p else "",
                str(p.consumers) if p else "",
                str(p.crashes) if p else "",
            )
        return table


def _since(started: float | None) -> float | None:
    return None if started is None else time.monotonic() - started
