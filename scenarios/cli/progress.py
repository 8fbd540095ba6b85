"""Progress during a run, on stderr: a live rich line on a terminal, plain stage lines otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from core.lifecycle import Scoped
from scenarios.running.phase import Progress

_REFRESH_S = 0.2


class ProgressView(Scoped):
    """Renders engine ``Progress`` updates; a context manager around one scenario."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        if console is None:
            probe = Console(stderr=True)
            console = probe if probe.is_terminal else Console(stderr=True, width=120)
        self.console = console
        self.quiet = quiet
        self._live: Live | None = None
        self._last_stage: tuple[str, str, str] | None = None
        self._last_draw = 0.0

    def open(self) -> None:
        """Start the live line on a terminal (``with view:`` around one scenario)."""
        if self.console.is_terminal and not self.quiet:
            self._live = Live(Text(""), console=self.console, transient=True, refresh_per_second=8)
            self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def note(self, message: str) -> None:
        """A one-off line (which emulator, which runner, and why)."""
        if not self.quiet:
            self.console.print(Text(message, style="dim"))

    def __call__(self, p: Progress) -> None:
        stage = (p.scenario, p.phase, p.stage)
        if self._live is not None:
            now = time.monotonic()
            if stage != self._last_stage or now - self._last_draw >= _REFRESH_S:
                self._live.update(self._line(p))
                self._last_draw = now
        elif stage != self._last_stage and not self.quiet:
            self.console.print(self._line(p, plain=True))
        self._last_stage = stage

    @staticmethod
    def _line(p: Progress, *, plain: bool = False) -> Any:
        head = f"[{p.scenario}/{p.phase}] {p.stage:<12} {p.elapsed_s:5.1f}s"
        if p.stage in ("provisioning", "teardown", "judging"):
            return Text(head)
        body = (
            f" sent {p.sent}/{p.expected}  completed {p.completed}  visible {p.visible}"
            f"  in-flight {p.in_flight}  dlq {p.dlq}  consumers {p.consumers}"
            f"  crashes {p.crashes}"
        )
        return Text(head + ("" if plain and p.stage == "sending" else body))
