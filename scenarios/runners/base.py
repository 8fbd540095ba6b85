"""The ConsumerRunner interface: the base class owns supervision, backends own five primitives.

A runner starts N consumer *slots*. Each slot runs one consumer at a time; when a consumer
crashes and the restart policy says so, the base starts a new incarnation in the same slot
with a fresh CONSUMER_ID, the way an ECS service replaces a stopped task. Backends (process,
docker, ecs) only launch, signal, poll, read log lines and remove one incarnation.

A slot keeps the consumer's typed settings; they become environment variables once per
launch, with the incarnation's own CONSUMER_ID and chaos seed.
"""

from __future__ import annotations

import abc
import json
import logging
import math
import signal as signals
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.contract import (
    ENV_CONSUMER_ID,
    ENV_LOG_FORMAT,
    EV_CONSUMER_STARTED,
    EXIT_OK,
    LOG_FORMAT_JSON,
)
from scenarios.model import ConsumerSettings, RestartPolicy

log = logging.getLogger(__name__)

#: each incarnation's chaos seed is ``seed * SEED_STRIDE + launch number``
SEED_STRIDE = 1000
#: ``Incarnation.started_at`` of a consumer launched but not running yet (an ECS task in
#: PROVISIONING or PENDING): later than any time, so no interval counts it as running
NOT_STARTED = math.inf


@dataclass
class Incarnation:
    """One consumer process/container/task in a slot.

    ``started_at`` is when the consumer began running (epoch seconds): at launch for a process
    or container, at RUNNING for an ECS task, :data:`NOT_STARTED` until then. ``ended_at`` and
    ``exit_code`` are set once, when the backend reports the consumer ended for good (an ECS
    task: STOPPED). A consumer that never ran gets ``started_at = ended_at``.
    """

    consumer_id: str
    native_id: str  # pid, container id or task ARN
    started_at: float
    native: Any = field(repr=False, default=None)
    exit_code: int | None = None
    ended_at: float | None = None
    signals_sent: list[str] = field(default_factory=list)
    #: when the runner asked for it (the process spawn, RunTask)
    launched_at: float = 0.0

    @property
    def has_started(self) -> bool:
        return self.started_at != NOT_STARTED


@dataclass
class ConsumerHandle:
    """A slot: what the scenario holds on to across restarts."""

    slot: int
    settings: ConsumerSettings
    restart: RestartPolicy
    #: variables beyond the settings (the stack's addresses), passed through as they are
    env: dict[str, str] = field(default_factory=dict)
    incarnations: list[Incarnation] = field(default_factory=list)
    id_prefix: str = "consumer"
    #: how late this slot's events can arrive (log delivery), for faults that trigger on them
    event_delay_s: float = 0.0

    @property
    def current(self) -> Incarnation:
        return self.incarnations[-1]

    @property
    def consumer_id(self) -> str:
        return self.current.consumer_id

    @property
    def running(self) -> bool:
        return bool(self.incarnations) and self.current.exit_code is None

    @property
    def exit_codes(self) -> list[int]:
        return [i.exit_code for i in self.incarnations if i.exit_code is not None]


class ConsumerRunner(abc.ABC):
    """Starts, signals, supervises and stops consumers; collects their JSON log events."""

    name: str = "base"
    #: seconds between a crash and the replacement, like ECS's (much longer) back-off
    restart_delay_s: float = 0.2
    #: how late a consumer's events can reach the runner (0: as they are written)
    event_delay_s: float = 0.0

    def __init__(self) -> None:
        #: set when the runner cannot go on (the infrastructure keeps failing); the target raises
        self.fatal_error: str | None = None
        self._handles: list[ConsumerHandle] = []
        self._events: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()  # no more restarts
        # The supervisor outlives every consumer it launched: a process runner's children ask
        # for SIGKILL when the *thread* that started them dies (PR_SET_PDEATHSIG), so the
        # supervisor must not exit before stop_all has seen them all exit.
        self._closed = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._seq = 0
        #: variables every consumer of this runner gets (a ``--handler``'s HANDLER, say)
        self.extra_env: dict[str, str] = {}
        #: what ends a settled phase, when the consumer knows a faster stop than SIGTERM (the
        #: kit's own: SIGNAL_SETTLED_STOP); None: SIGTERM
        self.settled_stop_signal: int | None = None

    # -- public API ---------------------------------------------------------------------------

    def start(
        self,
        n: int,
        settings: ConsumerSettings | None = None,
        *,
        env: Mapping[str, str] | None = None,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
        id_prefix: str = "consumer",
    ) -> list[ConsumerHandle]:
        """Start ``n`` consumers with ``settings`` (and ``env``); returns one handle per slot."""
        new = []
        with self._lock:
            for _ in range(n):
                slot = len(self._handles)
                handle = ConsumerHandle(
                    slot=slot,
                    settings=settings or ConsumerSettings(),
                    restart=restart,
                    env=dict(env or {}),
                    id_prefix=id_prefix,
                    event_delay_s=self.event_delay_s,
                )
                self._handles.append(handle)
                self._launch_incarnation(handle, id_prefix)
                new.append(handle)
        self._ensure_supervisor()
        return new

    def signal(self, handle: ConsumerHandle, sig: int) -> None:
        """Send ``sig`` (SIGTERM, SIGKILL, ...) to the slot's current consumer."""
        with self._lock:
            inc = handle.current
            if inc.exit_code is not None:
                return
            inc.signals_sent.append(signals.Signals(sig).name)
            log.info(
                "runner.signal",
                extra={"consumer_id": inc.consumer_id, "signal": signals.Signals(sig).name},
            )
            self._signal(inc, sig)

    def events(self, handle: ConsumerHandle | None = None) -> list[dict[str, Any]]:
        """Parsed JSON events so far, from every incarnation (or one slot's)."""
        self.poll()
        with self._lock:
            if handle is None:
                return list(self._events)
            return [e for e in self._events if e.get("_slot") == handle.slot]

    @property
    def handles(self) -> list[ConsumerHandle]:
        return list(self._handles)

    def poll(self) -> None:
        """Read new log lines, notice exits and apply the restart policy."""
        with self._lock:
            for handle in self._handles:
                inc = handle.current
                self._collect(handle, inc)
                if inc.exit_code is None:
                    code = self._exit_code(inc)
                    if code is not None:
                        self._collect(handle, inc)  # lines written just before the exit
                        inc.ended_at = self._ended_at(inc) or time.time()
                        if not inc.has_started:
                            inc.started_at = inc.ended_at  # it never ran
                        inc.exit_code = code
                        log.info(
                            "consumer.exited",
                            extra={"consumer_id": inc.consumer_id, "exit_code": code},
                        )
                        # after the exit is recorded: whoever sees the outcome sees the exit
                        self._on_exit(handle, inc)
                if (
                    inc.exit_code not in (None, EXIT_OK)
                    and handle.restart is RestartPolicy.ON_FAILURE
                    and not self._stop.is_set()
                    and inc.ended_at is not None
                    and time.time() - inc.ended_at >= self._restart_delay(handle)
                ):
                    self._launch_incarnation(handle, handle.id_prefix)

    def wait_all(self, timeout: float) -> bool:
        """Wait until every slot's consumer has exited for good; True if they all did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            with self._lock:
                if all(not h.running and not self._will_restart(h) for h in self._handles):
                    return True
            time.sleep(0.1)
        return False

    def stop_all(self, timeout: float = 10.0, *, settled: bool = False) -> None:
        """Stop every consumer: SIGTERM (drain), then SIGKILL after ``timeout``; never restart.

        ``settled``: the caller has just read the queue empty after the traffic ended, so the
        consumers get ``settled_stop_signal`` when they have one (a drain that need not wait
        for an idle long poll).
        """
        fast = signals.SIGTERM
        ready: set[str] = set()
        if settled and self.settled_stop_signal is not None:
            fast = signals.Signals(self.settled_stop_signal)
            # Only a consumer that said it started has its handler for it: one still starting
            # (a restart) would die of it, so it gets SIGTERM like any other stop.
            ready = {
                str(e.get("_incarnation"))
                for e in self.events()
                if e.get("event") == EV_CONSUMER_STARTED
            }
        drains = {signals.SIGTERM.name, fast.name}
        self._stop.set()
        with self._lock:
            for handle in self._handles:
                # A second stop signal means "exit now" to the consumer: never cut a drain short.
                if handle.running and not drains & set(handle.current.signals_sent):
                    ok = handle.current.consumer_id in ready
                    self.signal(handle, fast if ok else signals.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(h.running for h in self._handles):
            self.poll()
            time.sleep(0.1)
        with self._lock:
            for handle in self._handles:
                if handle.running:
                    self.signal(handle, signals.SIGKILL)
        end = time.monotonic() + self._kill_wait_s()
        while time.monotonic() < end and any(h.running for h in self._handles):
            self.poll()
            time.sleep(0.05)
        self.poll()
        with self._lock:
            for handle in self._handles:
                for inc in handle.incarnations:
                    if not inc.has_started:  # never ran (still starting when the run ended)
                        inc.started_at = inc.ended_at or time.time()
                    self._remove(inc)
        self._closed.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)

    # -- supervision ----------------------------------------------------------------------------

    def _will_restart(self, handle: ConsumerHandle) -> bool:
        code = handle.current.exit_code
        return (
            code not in (None, EXIT_OK)
            and handle.restart is RestartPolicy.ON_FAILURE
            and not self._stop.is_set()
        )

    def _ensure_supervisor(self) -> None:
        if self._supervisor is None or not self._supervisor.is_alive():
            self._supervisor = threading.Thread(
                target=self._supervise, name=f"{self.name}-supervisor", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        while not self._closed.is_set():
            if self._stop.is_set():  # stopping: stop_all polls; stay alive, launch nothing
                self._closed.wait(0.1)
                continue
            try:
                self.poll()
            except Exception:  # keep supervising; the failure is logged, not swallowed
                log.exception("runner.poll_failed")
            self._stop.wait(0.1)

    def _launch_incarnation(self, handle: ConsumerHandle, id_prefix: str) -> None:
        self._seq += 1
        consumer_id = f"{id_prefix}-{handle.slot}-{self._seq}"
        settings = handle.settings
        if settings.chaos_seed is not None:
            # Each incarnation gets its own seed: the consumer draws per message number, so a
            # shared seed would make every replacement crash at the same point, forever.
            settings = settings.with_(chaos_seed=settings.chaos_seed * SEED_STRIDE + self._seq)
        env = {
            **handle.env,
            **self.extra_env,
            **settings.to_env(),
            ENV_CONSUMER_ID: consumer_id,
            ENV_LOG_FORMAT: LOG_FORMAT_JSON,
        }
        launched_at = time.time()
        native_id, native = self._launch(handle.slot, consumer_id, env)
        handle.incarnations.append(
            Incarnation(
                consumer_id=consumer_id,
                native_id=native_id,
                native=native,
                started_at=launched_at if self._runs_at_launch(native) else NOT_STARTED,
                launched_at=launched_at,
            )
        )
        log.info("consumer.launched", extra={"consumer_id": consumer_id, "native_id": native_id})

    def _collect(self, handle: ConsumerHandle, inc: Incarnation) -> None:
        for line in self._read_new_lines(inc):
            event = parse_event(line)
            if event is not None:
                event["_slot"] = handle.slot
                event["_incarnation"] = inc.consumer_id
                self._events.append(event)

    def stderr_tail(self, inc: Incarnation, chars: int = 2000) -> str:
        """The end of what an incarnation wrote to stderr ('' where the backend cannot tell)."""
        del inc, chars
        return ""

    # -- backend hooks (defaults fit a process or a container) --------------------------------

    def _runs_at_launch(self, native: Any) -> bool:
        """True when a launched consumer runs at once (a process); False: it starts later."""
        del native
        return True

    def _ended_at(self, inc: Incarnation) -> float | None:
        """When the consumer ended, if the backend knows better than "now"."""
        del inc
        return None

    def _on_exit(self, handle: ConsumerHandle, inc: Incarnation) -> None:  # noqa: B027
        """Called once per incarnation, right after its exit code is recorded (default: nothing)."""

    def _restart_delay(self, handle: ConsumerHandle) -> float:
        """Seconds between this slot's last exit and its replacement."""
        del handle
        return self.restart_delay_s

    def _kill_wait_s(self) -> float:
        """How long ``stop_all`` waits after SIGKILL for every consumer to be gone."""
        return 10.0

    # -- backend primitives ---------------------------------------------------------------------

    @abc.abstractmethod
    def _launch(self, slot: int, consumer_id: str, env: dict[str, str]) -> tuple[str, Any]:
        """Start one consumer; return (native id, native object)."""

    @abc.abstractmethod
    def _signal(self, inc: Incarnation, sig: int) -> None:
        """Deliver ``sig`` to a running consumer."""

    @abc.abstractmethod
    def _exit_code(self, inc: Incarnation) -> int | None:
        """The exit code once the consumer has exited, else None. Never blocks."""

    @abc.abstractmethod
    def _read_new_lines(self, inc: Incarnation) -> list[str]:
        """Log lines written since the last call. Never blocks."""

    @abc.abstractmethod
    def _remove(self, inc: Incarnation) -> None:
        """Release what the consumer left behind (container, log file handle, ...)."""


def parse_event(line: str) -> dict[str, Any] | None:
    """A consumer log line as a dict, or None for a line that is not a JSON event."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "event" not in obj:
        return None
    return obj
