"""Embedded emulators: a Python server started as our own subprocess, with no Docker.

Orphan safety, in three layers:
- the child asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), so a
  ``kill -9`` of the caller still takes the emulator down;
- an ``atexit`` hook stops every emulator this process started, for a normal exit or Ctrl-C;
- the child runs in its own session, so a Ctrl-C aimed at the terminal reaches only the
  caller, which then stops the child in order instead of racing it.
A ``detached`` emulator (``make local-up``) skips the first two on purpose: it must outlive
the command that started it, and is stopped by PID from its pidfile.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from core.errors import ConfigError, EmulatorUnavailable
from local.emulators.base import (
    DEFAULT_PORT,
    LOOPBACK,
    Emulator,
    free_port,
    port_in_use,
    wait_until,
)

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 3.0
STOP_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_CHARS = 1500

_live: set[EmbeddedEmulator] = set()
_live_lock = threading.Lock()


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """``preexec_fn``: SIGKILL this child when the thread that forked it dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


@atexit.register
def _stop_all_live() -> None:
    with _live_lock:
        emulators = list(_live)
    for emulator in emulators:
        with contextlib.suppress(Exception):
            emulator.stop()


class EmbeddedEmulator(Emulator, abc.ABC):
    """A subprocess emulator on ``host:port``; the base owns start, readiness, logs and stop."""

    kind = "embedded"
    #: A word that must appear in the process command line before we signal a PID from a file.
    cmdline_marker: str = ""

    def __init__(
        self,
        *,
        port: int | None = None,
        use_free_port: bool = False,
        host: str = LOOPBACK,
        log_dir: Path | str | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
        detached: bool = False,
    ) -> None:
        if port is not None and not 1 <= port <= 65_535:
            raise ConfigError(f"emulator port {port} is out of range: allowed 1..65535")
        self.host = host
        self.port = free_port(host) if (use_free_port and port is None) else (port or DEFAULT_PORT)
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.gettempdir())
        self.log_path = self.log_dir / f"sqskit-{self.name}-{self.port}.log"
        self.ready_timeout = ready_timeout
        self.detached = detached
        self._proc: subprocess.Popen[bytes] | None = None
        self.time_to_ready: float | None = None

    # -- what a backend declares ---------------------------------------------------------------

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server in the foreground."""

    def environment(self) -> dict[str, str]:
        """Extra environment variables for the child."""
        return {}

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the server and wait up to ``ready_timeout`` for its health check."""
        if self.running():
            return
        if port_in_use(self.port, self.host):
            raise EmulatorUnavailable(
                f"cannot start {self.name}: port {self.port} on {self.host} is already in use. "
                "Stop what listens there (`make local-down`), or pick another port "
                "(SQSKIT_EMULATOR_PORT / --port)."
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment()}
        started = time.monotonic()
        with open(self.log_path, "ab") as logfile:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=None if self.detached else _die_with_parent,  # noqa: PLW1509
                close_fds=True,
            )
        if not self.detached:
            with _live_lock:
                _live.add(self)
        log.info(
            "emulator.starting",
            extra={"emulator": self.name, "pid": self._proc.pid, "endpoint": self.endpoint},
        )
        proc = self._proc
        ok = wait_until(lambda: proc.poll() is not None or self.ready(0), self.ready_timeout)
        if not ok or proc.poll() is not None:
            tail = self.log_tail()
            code = proc.poll()
            self.stop()
            why = (
                f"exited with code {code}"
                if code is not None
                else f"was not ready after {self.ready_timeout:.1f} s"
            )
            raise EmulatorUnavailable(
                f"{self.name} on port {self.port} {why}; log {self.log_path}:\n{tail}".rstrip()
            )
        self.time_to_ready = time.monotonic() - started
        log.info(
            "emulator.ready",
            extra={"emulator": self.name, "seconds": round(self.time_to_ready, 3)},
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``; reaps the child."""
        proc, self._proc = self._proc, None
        with _live_lock:
            _live.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("emulator.stopped", extra={"emulator": self.name, "pid": proc.pid})

    def reset(self) -> None:
        request = urllib.request.Request(self.reset_url, method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own URL
            pass

    @property
    @abc.abstractmethod
    def reset_url(self) -> str:
        """POSTing here drops every resource."""

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# -- stopping by PID (a detached emulator, from its pidfile) --------------------------------------


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def pid_cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def stop_pid(pid: int, *, marker: str = "", timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop ``pid`` (SIGTERM, then SIGKILL); False when it was not running.

    ``marker`` guards against a recycled PID: when given, a process whose command line lacks it
    is left alone and reported as not running.
    """
    if not pid_alive(pid):
        return False
    if marker and marker not in pid_cmdline(pid):
        log.warning("emulator.pid_mismatch", extra={"pid": pid, "marker": marker})
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not pid_alive(pid), timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), timeout)
    return True
