"""The process runner: each consumer incarnation is a `python -m consumer` subprocess.

Or, with ``--consumer-cmd``, the user's command: started in the user's working directory
(``cwd``), with the kit's interpreter directory first on ``PATH`` so that ``python`` is the
interpreter the kit runs in (the one with boto3).

- stdout (the JSON events) goes to one log file per incarnation, read incrementally; stderr to
  a sibling ``.err`` file, so a traceback never splits a JSON line;
- the child runs in its own session (a Ctrl-C aimed at the terminal reaches only the engine,
  which then stops its consumers in order) and asks the kernel for SIGKILL when the thread that
  started it dies (``PR_SET_PDEATHSIG``), so no consumer outlives a killed engine;
- the environment is a small allow-list of the caller's (PATH, HOME, the venv, AWS credentials)
  plus the scenario's, so a stray CRASH_RATE in the user's shell cannot leak into a run;
- the kit's own consumer starts warm: a few spare ``python -m consumer`` processes wait with
  their imports done (``SQSKIT_WARM_START``) and one becomes the incarnation, taking its
  environment and log files from stdin. Importing Python and botocore costs 0.15-0.2 CPU s, a
  second or more of wall clock on a loaded machine, at every start and every restart.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import queue
import signal as signals
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from consumer.contract import ENV_AWS_ACCESS_KEY_ID, ENV_AWS_SECRET_ACCESS_KEY, ENV_WARM_START
from core.aws import with_emulator_credentials
from core.errors import InfrastructureError
from scenarios.runners.base import ConsumerRunner, Incarnation

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PASSTHROUGH = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SYSTEMROOT",
    # runtimes a user's consumer may be written for
    "NODE_PATH",
    "NODE_OPTIONS",
    "JAVA_HOME",
    "GOPATH",
    "GOCACHE",
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
)


def _libc_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _libc_prctl()


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the forked child
    """``preexec_fn``: SIGKILL this child when the thread that forked it dies (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signals.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


#: warm spares kept per command: a group of up to this many consumers starts without imports
WARM_SPARES = 4

_Key = tuple[tuple[str, ...], str | None]  # (command, cwd)


class _Spares:
    """Warm ``python -m consumer`` processes, their imports done, each waiting for an incarnation.

    One daemon thread spawns them all, so the parent-death signal (``PR_SET_PDEATHSIG``) ties
    them to a thread that lives as long as the engine: a spare never outlives it. ``take`` answers
    at once - a spare, or None for a cold start - and has the spares topped up behind it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._ready: dict[_Key, list[subprocess.Popen[bytes]]] = {}
        self._pending: dict[_Key, int] = {}
        self._wanted: queue.Queue[tuple[_Key, dict[str, str]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def take(self, key: _Key, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        """A live spare for ``key`` (None if none is ready); spares are spawned to replace it."""
        spare = None
        with self._lock:
            ready = self._ready.setdefault(key, [])
            while ready and spare is None:
                candidate = ready.pop(0)
                if candidate.poll() is None:
                    spare = candidate
        self.top_up(key, env)
        return spare

    def top_up(self, key: _Key, env: dict[str, str]) -> None:
        """Have spares spawned for ``key`` until ``size`` are ready or on their way."""
        with self._lock:
            if self._closed:
                return
            ready = self._ready.setdefault(key, [])
            missing = max(0, self.size - len(ready) - self._pending.get(key, 0))
            self._pending[key] = self._pending.get(key, 0) + missing
            if missing and self._thread is None:
                self._thread = threading.Thread(
                    target=self._spawn_loop, name="consumer-spares", daemon=True
                )
                self._thread.start()
        for _ in range(missing):
            self._wanted.put((key, env))

    def close(self) -> None:
        """Kill every spare (they hold no message: they never received their environment) and
        spawn no more."""
        with self._lock:
            self._closed = True
            spares = [p for ready in self._ready.values() for p in ready]
            self._ready.clear()
        for spare in spares:
            _kill(spare)

    def _spawn_loop(self) -> None:
        parent = os.getpid()
        while True:
            key, env = self._wanted.get()
            command, cwd = key
            with self._lock:
                if self._closed:
                    self._pending[key] -= 1
                    continue
            try:
                spare: subprocess.Popen[bytes] | None = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**env, ENV_WARM_START: "1"},
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509
                    close_fds=True,
                )
            except OSError as exc:  # a cold start will say why, in the consumer's own log
                log.warning("runner.spare_failed", extra={"error": str(exc)})
                spare = None
            with self._lock:
                self._pending[key] -= 1
                if spare is not None and not self._closed:
                    self._ready.setdefault(key, []).append(spare)
                    spare = None
            if spare is not None:  # spawned while the spares were being closed
                _kill(spare)


def _kill(spare: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        spare.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        spare.wait(timeout=5)


_SPARES = _Spares(WARM_SPARES)
atexit.register(_SPARES.close)


def _hand_over(
    spare: subprocess.Popen[bytes], env: dict[str, str], log_path: Path, err_path: Path
) -> bool:
    """Give a spare its incarnation; False (and the spare killed) if it cannot take it."""
    line = json.dumps({"env": env, "stdout": str(log_path), "stderr": str(err_path)})
    assert spare.stdin is not None
    try:
        spare.stdin.write(line.encode() + b"\n")
        spare.stdin.close()
    except OSError:
        _kill(spare)
        return False
    return True


@dataclass
class _Proc:
    popen: subprocess.Popen[bytes]
    log_path: Path
    err_path: Path
    stdout: IO[bytes]
    stderr: IO[bytes]
    offset: int = 0
    partial: bytes = b""
    closed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ProcessRunner(ConsumerRunner):
    """Consumers as local subprocesses of ``python -m consumer``."""

    name = "process"

    def __init__(
        self,
        log_dir: Path,
        *,
        python: str = sys.executable,
        module: str = "consumer",
        command: list[str] | None = None,
        cwd: Path | None = None,
        interpreter_first: bool = False,
        warm: bool | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.command = command or [python, "-m", module]
        #: where the consumers start (None: the engine's working directory)
        self.cwd = cwd
        #: put ``python``'s directory first on PATH (a user's command says just ``python``)
        self.interpreter_first = interpreter_first
        self._python = python
        #: start from a warm spare (default: for the kit's own consumer, ``python -m consumer``)
        self.warm = command is None if warm is None else warm
        if self.warm:  # a runner is made as its stack is provisioned: its consumers come next
            _SPARES.top_up(self._spare_key(), self.child_env({}))

    def child_env(self, env: dict[str, str]) -> dict[str, str]:
        """The allow-listed parent environment plus ``env`` (dummy credentials for emulators)."""
        out = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        if self.interpreter_first:
            out["PATH"] = os.pathsep.join(
                p for p in (os.path.dirname(self._python), out.get("PATH", os.defpath)) if p
            )
        out = with_emulator_credentials({**out, **env})
        out["PYTHONUNBUFFERED"] = "1"
        return out

    def _spare_key(self) -> _Key:
        return tuple(self.command), str(self.cwd) if self.cwd else None

    # -- backend primitives -----------------------------------------------------------------------

    def _launch(self, slot: int, consumer_id: str, env: dict[str, str]) -> tuple[str, Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{consumer_id}.log"
        err_path = self.log_dir / f"{consumer_id}.err"
        stdout = log_path.open("wb")
        stderr = err_path.open("wb")
        parent = os.getpid()
        child_env = self.child_env(env)
        if self.warm:
            spare = _SPARES.take(self._spare_key(), self.child_env({}))
            if spare is not None and _hand_over(spare, child_env, log_path, err_path):
                return str(spare.pid), _Proc(spare, log_path, err_path, stdout, stderr)
        try:
            popen = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                env=child_env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509 - one prctl call
                close_fds=True,
            )
        except OSError as exc:
            stdout.close()
            stderr.close()
            raise InfrastructureError(f"could not start `{' '.join(self.command)}`: {exc}") from exc
        proc = _Proc(popen, log_path, err_path, stdout, stderr)
        return str(popen.pid), proc

    def _signal(self, inc: Incarnation, sig: int) -> None:
        proc: _Proc = inc.native
        with contextlib.suppress(ProcessLookupError):
            proc.popen.send_signal(sig)

    def _exit_code(self, inc: Incarnation) -> int | None:
        proc: _Proc = inc.native
        return proc.popen.poll()

    def _read_new_lines(self, inc: Incarnation) -> list[str]:
        proc: _Proc = inc.native
        try:
            with proc.log_path.open("rb") as f:
                f.seek(proc.offset)
                chunk = f.read()
        except OSError:
            return []
        if not chunk:
            return []
        proc.offset += len(chunk)
        data = proc.partial + chunk
        lines = data.split(b"\n")
        proc.partial = lines.pop()  # an unfinished last line waits for the next read
        return [line.decode("utf-8", "replace") for line in lines if line.strip()]

    def _remove(self, inc: Incarnation) -> None:
        proc: _Proc = inc.native
        if proc.closed:
            return
        if proc.popen.poll() is None:  # stop_all gave up on it: do not leave an orphan
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signals.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
        if proc.partial.strip():
            log.debug("runner.partial_line", extra={"consumer_id": inc.consumer_id})
        proc.stdout.close()
        proc.stderr.close()
        proc.closed = True

    def stderr_tail(self, inc: Incarnation, chars: int = 2000) -> str:
        """The end of an incarnation's stderr (for error messages)."""
        proc: _Proc | None = inc.native
        if proc is None:
            return ""
        try:
            return proc.err_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
