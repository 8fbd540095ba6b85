"""The worker: a receive loop, a pool of handler threads, a heartbeat and an ordered drain.

``Worker`` exposes ``start()`` / ``stop()`` / ``join()`` and installs no signal handlers; the
entry point (``python -m consumer``) does that. Shutdown always follows the same order, each
step logged as ``consumer.draining``: stop receiving, finish in-flight work (until the
shutdown deadline when a stop was requested), release what has not started
(``ChangeMessageVisibility`` 0 and the lease ended), close. A message whose handler still runs
is never released: it stays in flight until its visibility runs out.

A receive asks for no more messages than there are free handler threads, so no message waits
here, unheartbeated, while its visibility runs out. SQS calls go through ``QueueClient``.

Nothing here ever deletes a message that was not completed: poison messages, id collisions
and handler failures are released with a short backoff and left for the redrive policy.

On a FIFO queue (a ``.fifo`` URL, or ``FifoQueue`` read at start) a message group is the unit
of concurrency: this process runs at most one message of a group at a time, in the order SQS
returned them, and counts one handler slot per group it holds. A group's later messages wait
behind its running one (heartbeated: without a heartbeat, a receive asks for one message, so
none ever waits); each starts only once the one before it completed here and its delete was
answered. When one does not complete here (failed, poison, busy elsewhere, collision, fenced),
the group's later messages are released (``reason=group_blocked``), never run out of order.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from typing import Any

from consumer.aws import build_client
from consumer.chaos import AFTER_CLAIM, AFTER_RECEIVE, AFTER_WORK, BEFORE_DELETE, Chaos, CrashPlan
from consumer.chaos import default_handler as _default_handler
from consumer.config import MAX_BATCH, MAX_VISIBILITY_TIMEOUT_SECONDS, WorkerConfig
from consumer.contract import (
    EV_AWS_ERROR,
    EV_COMPLETED,
    EV_CONSUMER_DRAINING,
    EV_CONSUMER_ERROR,
    EV_CONSUMER_STARTED,
    EV_CONSUMER_STOPPED,
    EV_DUPLICATE,
    EV_FAILED,
    EV_FENCED,
    EV_GROUP_WAITING,
    EV_HANDLER_FINISHED,
    EV_HANDLER_STARTED,
    EV_HEARTBEAT,
    EV_HEARTBEAT_CEILING,
    EV_HEARTBEAT_FAILED,
    EV_ID_COLLISION,
    EV_IN_PROGRESS_ELSEWHERE,
    EV_LEFT_IN_FLIGHT,
    EV_POISON,
    EV_RECEIVE_FAILED,
    EV_RECEIVED,
    EV_RELEASED,
    EV_STALE_RECEIPT,
    EV_TAKEOVER,
    FIELD_BLOCKED_BY,
    FIELD_MESSAGE_GROUP_ID,
    FIELD_SEQUENCE_NUMBER,
    OUTCOME_ERROR,
    OUTCOME_OK,
    RELEASE_GROUP_BLOCKED,
)
from consumer.effects import EffectsTable
from consumer.errors import ConfigError, PoisonMessage
from consumer.exit_codes import EXIT_OK, EXIT_UNEXPECTED
from consumer.idempotency import (
    Claim,
    ClaimVerdict,
    DynamoDBStore,
    IdempotencyStore,
    MemoryStore,
    Outcome,
)
from consumer.message import Handler, Message, group_id, parse, receive_count, sequence_number
from consumer.queue_client import (
    ATTR_FIFO_QUEUE,
    ATTR_VISIBILITY_TIMEOUT,
    AWS_ERRORS,
    Change,
    QueueClient,
    QueueError,
)

log = logging.getLogger("consumer")

# Pause after a receive that failed even after botocore's retries, so an outage is not a spin.
_RECEIVE_ERROR_PAUSE_S = 1.0
# How long the drain waits for a handler that is finishing (completing, deleting) to let go.
_FINALIZE_GRACE_S = 2.0
# Heartbeats stop this far short of the ceiling, so the last extension is always accepted.
_CEILING_MARGIN_S = 1
# Completed messages are deleted in batches of up to 10; none waits longer than this.
_MAX_DELETE_DELAY_S = 1.0
# The group of a FIFO message that came without a MessageGroupId (an emulator that does not
# return it): all such messages form one group, so their order is kept at the cost of speed.
_UNKNOWN_GROUP = ""


class StopReason(enum.Enum):
    LIMIT = "limit"
    IDLE = "idle"
    DRAIN = "drain"
    ERROR = "error"


class _Stage(enum.Enum):
    """Where a received message is in this process; the drain releases only WAITING ones."""

    WAITING = "waiting"  # received: queued for a thread, being parsed or claimed
    RUNNING = "running"  # its handler is executing
    FINISHING = "finishing"  # the handler returned: recording, deleting or releasing it
    DONE = "done"


class _Action(enum.Enum):
    DELETE = "delete"
    RELEASE = "release"
    LEAVE = "leave"


@dataclass(eq=False)  # identity semantics: tasks live in a set
class _Task:
    raw: dict[str, Any]
    sequence: int
    received_at: float  # epoch seconds when the receive returned
    visibility: int
    group: str | None = None  # FIFO queues: the message group (None on a standard queue)
    crash: CrashPlan | None = None
    message: Message | None = None
    claim: Claim | None = None
    stage: _Stage = _Stage.WAITING
    abandoned: bool = False  # given back to the queue: nothing more may be done with it
    heartbeat_due: float | None = None  # monotonic time of the next heartbeat
    lease_expires_at: float = 0.0  # epoch seconds: the lease as last written by this worker
    left_in_flight: bool = False  # the drain left it to its running handler
    execution_id: str | None = None  # of the handler execution, once it started
    visible_until: float = 0.0  # epoch seconds: the visibility as last set by this worker
    heartbeat_over: bool = False  # stopped for good (stale handle, ceiling, fenced)
    # Set once its delete was answered: a FIFO group's next message waits for it.
    delete_answered: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.visible_until = self.received_at + self.visibility

    @property
    def receipt_handle(self) -> str:
        return str(self.raw.get("ReceiptHandle", ""))

    def payload_id(self) -> Any:
        """The message's id (the payload's ``id``), also before a thread parsed it; the SQS
        MessageId for a poison body. Never stores the parse: the task's thread owns that."""
        if self.message is not None:
            return self.message.message_id
        try:
            return parse(self.raw, sequence=self.sequence).message_id
        except PoisonMessage:
            return self.raw.get("MessageId")

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": self.message.message_id if self.message else self.raw.get("MessageId"),
            "sqs_message_id": self.raw.get("MessageId"),
            "receive_count": receive_count(self.raw),
        }
        if self.group is not None:
            out[FIELD_MESSAGE_GROUP_ID] = group_id(self.raw)
            out[FIELD_SEQUENCE_NUMBER] = sequence_number(self.raw)
        if self.claim is not None:
            out["attempt"] = self.claim.attempt
        if self.execution_id is not None:
            out["execution_id"] = self.execution_id
        return out


@dataclass(eq=False)
class _Group:
    """A FIFO message group held by this process: its ``head`` is the one message that may
    run (queued for a thread, or running); the others wait behind it, in receive order."""

    head: _Task
    waiting: deque[_Task] = field(default_factory=deque)


@dataclass
class Counters:
    """What ``consumer.stopped`` reports."""

    received: int = 0
    completed: int = 0
    duplicates: int = 0
    in_progress_elsewhere: int = 0
    poison: int = 0
    collisions: int = 0
    failed: int = 0
    fenced: int = 0
    released: int = 0
    group_blocked: int = 0
    deleted: int = 0
    stale_receipts: int = 0
    heartbeats: int = 0
    heartbeat_failures: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class Worker:
    """An idempotent SQS worker. ``handler`` defaults to the seed's simulated work.

    ``sqs`` and ``dynamodb`` are boto3 clients; when omitted they are built from the
    environment at ``start()``. ``store`` overrides the idempotency backend chosen from the
    config (DynamoDB when both tables are set, else the in-memory LRU).
    """

    def __init__(
        self,
        config: WorkerConfig,
        handler: Handler | None = None,
        *,
        sqs: Any = None,
        dynamodb: Any = None,
        store: IdempotencyStore | None = None,
        chaos: Chaos | None = None,
    ) -> None:
        self.config = config
        # The default handler gets its effects table at start(), once a client exists.
        self._uses_default_handler = handler is None
        self.handler: Handler = handler or _default_handler(config)
        self._sqs = sqs
        self._queue: QueueClient | None = None
        self._dynamodb = dynamodb
        self._store = store
        self.chaos = chaos or Chaos(config)
        self.counters = Counters()
        self.stop_reason: StopReason | None = None
        self.exit_code: int | None = None
        self.visibility_timeout = config.visibility_timeout_seconds
        self.fifo = False
        """A FIFO queue (known at ``start()``): one message per group at a time, in order."""
        self._receive_max = config.max_messages
        self._groups: dict[str, _Group] = {}  # FIFO: the groups held, by MessageGroupId
        self._stop_requested = threading.Event()
        self._stop_deadline: float | None = None
        # Done when a stop may abandon the long poll in progress (SIGNAL_SETTLED_STOP).
        self._abandon_poll: Future[None] = Future()
        self._done = threading.Event()
        self._cond = threading.Condition()
        self._inflight: set[_Task] = set()
        self._tasks: queue.Queue[_Task | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._heartbeat_stop = threading.Event()
        self._deletes = _DeleteBatcher(
            flush=self._delete_batch, idle=self._idle, on_error=self._delete_loop_error
        )
        self._started = False

    # -- public API --------------------------------------------------------------------------

    @property
    def store(self) -> IdempotencyStore:
        """The idempotency store (built at ``start()`` unless one was given)."""
        if self._store is None:
            raise RuntimeError("the worker has not started")
        return self._store

    @property
    def queue(self) -> QueueClient:
        """The queue adapter (built at ``start()``)."""
        if self._queue is None:
            raise RuntimeError("the worker has not started")
        return self._queue

    def start(self) -> None:
        """Build what is missing, read the queue's visibility timeout, start the threads."""
        if self._started:
            raise RuntimeError("a Worker can be started once")
        self._started = True
        self._setup()
        self._log(
            logging.INFO,
            EV_CONSUMER_STARTED,
            queue_url=self.config.queue_url,
            visibility_timeout=self.visibility_timeout,
            fifo=self.fifo,
            receive_max=self._receive_max,
            idempotency=self.store.name,
            settings=self.config.summary(),
        )
        for i in range(self.config.concurrency):
            self._spawn(self._work_loop, f"consumer-handler-{i}")
        if self.config.heartbeat_seconds > 0:
            self._spawn(self._heartbeat_loop, "consumer-heartbeat")
        self._spawn(self._deletes.run, "consumer-delete")
        self._spawn(self._run, "consumer-receive")

    def stop(self, *, abandon_poll: bool = False) -> None:
        """Ask for a drain: stop receiving, finish in-flight work within the shutdown timeout.

        ``abandon_poll``: do not wait for the long poll in progress - for a stop by someone who
        knows the queue holds nothing (the engine's end of a settled phase). A message a late
        answer brings anyway is released at once.
        """
        if not self._stop_requested.is_set():
            self._stop_deadline = time.monotonic() + self.config.shutdown_timeout_seconds
            self._stop_requested.set()
            with self._cond:
                self._cond.notify_all()
        # After the stop request: the receive loop it wakes must see the stop, not poll again.
        if abandon_poll and not self._abandon_poll.done():
            self._abandon_poll.set_result(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to finish; True once it has."""
        return self._done.wait(timeout)

    def run(self) -> StopReason:
        """``start()`` then wait; returns why the worker stopped."""
        self.start()
        while not self.join(0.5):
            pass
        assert self.stop_reason is not None
        return self.stop_reason

    # -- setup -------------------------------------------------------------------------------

    def _setup(self) -> None:
        c = self.config
        if self._sqs is None:
            self._sqs = build_client("sqs", c)
        self._queue = QueueClient(
            self._sqs,
            c.queue_url,
            wait_time_seconds=c.wait_time_seconds,
            visibility_timeout=c.visibility_timeout_seconds,
        )
        if self._dynamodb is None and (
            (self._store is None and c.uses_tables)
            or (self._uses_default_handler and c.effects_table)
        ):
            self._dynamodb = build_client("dynamodb", c)
        if self._uses_default_handler and c.effects_table:
            effects = EffectsTable(
                self._dynamodb, c.effects_table, consumer_id=c.consumer_id, mode=c.effect_mode
            )
            self.handler = _default_handler(c, effects=effects)
        if self._store is None:
            if c.uses_tables:
                assert c.message_status_table and c.message_completed_table
                self._store = DynamoDBStore(
                    c.consumer_id,
                    client=self._dynamodb,
                    status_table=c.message_status_table,
                    completed_table=c.message_completed_table,
                    cache_size=c.idempotency_cache_size,
                    ttl_seconds=c.idempotency_ttl_seconds,
                )
            else:
                self._store = MemoryStore(c.consumer_id, cache_size=c.idempotency_cache_size)
        # One read at start: the visibility timeout unless configured, and whether a queue whose
        # URL does not say so is FIFO anyway.
        names = [] if self._queue.fifo else [ATTR_FIFO_QUEUE]
        if not self.visibility_timeout:
            names.append(ATTR_VISIBILITY_TIMEOUT)
        attrs = self._queue.attributes(names) if names else {}
        if not self.visibility_timeout:
            self.visibility_timeout = int(attrs[ATTR_VISIBILITY_TIMEOUT])
        if attrs.get(ATTR_FIFO_QUEUE, "").lower() == "true":
            self._queue.fifo = True
        self.fifo = self._queue.fifo
        if self.fifo and c.heartbeat_seconds <= 0:
            # Without a heartbeat nothing may wait behind its group's running message, so ask
            # for one at a time: SQS hands out no more of a group while one is in flight.
            self._receive_max = 1
        if 0 < self.visibility_timeout <= c.heartbeat_seconds:
            raise ConfigError(
                f"HEARTBEAT_SECONDS={c.heartbeat_seconds} is out of range: allowed 0 (off) or less "
                f"than the queue's visibility timeout ({self.visibility_timeout} s)"
            )

    def _spawn(self, target: Any, name: str) -> threading.Thread:
        # Daemon threads: a handler stuck past the shutdown deadline must not keep the process up.
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    # -- receive loop and drain (the coordinator thread) ---------------------------------------

    def _run(self) -> None:
        reason = StopReason.ERROR
        try:
            reason = self._receive_loop()
        except Exception:
            log.exception(EV_CONSUMER_ERROR, extra={"consumer_id": self.config.consumer_id})
            self.counters.add("errors")
        finally:
            try:
                self._drain(reason)
            finally:
                self.stop_reason = reason
                self.exit_code = EXIT_UNEXPECTED if reason is StopReason.ERROR else EXIT_OK
                self._log(
                    logging.INFO,
                    EV_CONSUMER_STOPPED,
                    reason=reason.value,
                    exit_code=self.exit_code,
                    counters=self.counters.as_dict(),
                )
                self._done.set()

    def _receive_loop(self) -> StopReason:
        c = self.config
        idle_since = time.monotonic()
        received = 0
        while True:
            if self._stop_requested.is_set():
                return StopReason.DRAIN
            if c.message_limit and received >= c.message_limit:
                return StopReason.LIMIT
            with self._cond:
                while self._slots_taken() >= c.concurrency and not self._stop_requested.is_set():
                    self._cond.wait(0.5)
                busy = bool(self._inflight)
                free = c.concurrency - self._slots_taken()
            # Read after the in-flight set, which a task leaves only once its delete is queued.
            # Until a delete is answered the message is still in flight for SQS, and on FIFO its
            # group's later messages cannot be received: an empty receive then is not idleness.
            busy = busy or self._deletes.outstanding()
            if self._stop_requested.is_set():
                return StopReason.DRAIN
            # Never more than the free handler slots: a message that waits here for a thread gets
            # no heartbeat, and its visibility could run out before it even starts.
            wanted = min(self._receive_max, free)
            if c.message_limit:
                wanted = min(wanted, c.message_limit - received)
            messages = self._receive(wanted)
            now = time.time()
            if messages is None:
                self._stop_requested.wait(_RECEIVE_ERROR_PAUSE_S)
                continue
            if not messages:
                idle = time.monotonic() - idle_since
                if c.idle_timeout_seconds and not busy and idle >= c.idle_timeout_seconds:
                    return StopReason.IDLE
                continue
            idle_since = time.monotonic()
            for raw in messages:
                received += 1
                self._accept(raw, received, now)

    def _accept(self, raw: dict[str, Any], sequence: int, received_at: float) -> None:
        """Take one received message in: to a thread, behind its group, or (draining) back."""
        self.counters.add("received")
        task = _Task(raw, sequence, received_at, self.visibility_timeout)
        if self.fifo:
            task.group = group_id(raw) or _UNKNOWN_GROUP
        task.crash = self.chaos.plan(sequence)
        if self._stop_requested.is_set():
            self._change_visibility(task, 0, reason="draining")
            return
        with self._cond:
            self._inflight.add(task)
            ahead = self._enqueue(task)
        if ahead is not None:
            self._log(
                logging.INFO,
                EV_GROUP_WAITING,
                task=task,
                message_id=task.payload_id(),
                behind=ahead.payload_id(),
            )

    def _slots_taken(self) -> int:
        """Handler slots in use (caller holds ``_cond``): on a FIFO queue one per group held,
        since a group's messages run one after the other; else one per message."""
        return len(self._groups) if self.fifo else len(self._inflight)

    def _enqueue(self, task: _Task) -> _Task | None:
        """Hand the task to a thread, or (FIFO) queue it behind the message of its group that
        this process already holds, which is returned (caller holds ``_cond``)."""
        if task.group is None:
            self._tasks.put(task)
            return None
        group = self._groups.get(task.group)
        if group is None:
            self._groups[task.group] = _Group(task)
            self._tasks.put(task)
            return None
        ahead = group.waiting[-1] if group.waiting else group.head
        group.waiting.append(task)
        if self.config.heartbeat_seconds > 0:
            task.heartbeat_due = time.monotonic() + self.config.heartbeat_seconds
        return ahead

    def _advance(self, task: _Task, completed: bool) -> None:
        """``task`` is done with (FIFO): start its group's next message if it completed, else
        release every message waiting behind it, which must not run before it."""
        if task.group is None:
            return
        with self._cond:
            group = self._groups.get(task.group)
            if group is None or group.head is not task:
                return  # the drain has already let the group go
            if completed and group.waiting and not self._stop_requested.is_set():
                group.head = group.waiting.popleft()
                self._tasks.put(group.head)
                return
            blocked = list(group.waiting)
            del self._groups[task.group]
        reason = "draining" if self._stop_requested.is_set() else RELEASE_GROUP_BLOCKED
        for follower in blocked:
            self._release_waiting(follower, reason, blocked_by=task)

    def _release_waiting(self, task: _Task, reason: str, *, blocked_by: _Task | None) -> None:
        """Give back a message that never started (FIFO: it waited behind its group)."""
        with task.lock:  # a beat may hold it
            task.abandoned = True
            task.heartbeat_due = None
            task.stage = _Stage.DONE
        extra: dict[str, Any] = {"message_id": task.payload_id()}
        if blocked_by is not None and reason == RELEASE_GROUP_BLOCKED:
            self.counters.add("group_blocked")
            extra[FIELD_BLOCKED_BY] = blocked_by.payload_id()
        self._change_visibility(task, 0, reason=reason, **extra)
        with self._cond:
            self._inflight.discard(task)
            self._cond.notify_all()

    def _receive(self, wanted: int) -> list[dict[str, Any]] | None:
        # The long poll runs in a thread of its own, so that a settled stop need not wait for
        # it (up to WaitTimeSeconds of an idle poll on an empty queue, for every consumer).
        answer: Future[list[dict[str, Any]]] = Future()

        def poll() -> None:
            try:
                answer.set_result(self.queue.receive(wanted))
            except BaseException as exc:  # handed to the receive loop
                answer.set_exception(exc)

        threading.Thread(target=poll, name="consumer-poll", daemon=True).start()
        either: list[Future[Any]] = [answer, self._abandon_poll]
        wait(either, return_when=FIRST_COMPLETED)
        if not answer.done():
            self._log(logging.INFO, EV_CONSUMER_DRAINING, step="abandon_poll")
            answer.add_done_callback(self._release_late)
            return []
        try:
            return answer.result()
        except QueueError as exc:
            self.counters.add("errors")
            self._log(logging.ERROR, EV_RECEIVE_FAILED, error=str(exc))
            return None

    def _release_late(self, answer: Future[list[dict[str, Any]]]) -> None:
        """An abandoned poll answered after all: what it brought goes back to the queue."""
        if answer.exception() is not None:
            return
        for raw in answer.result():
            self.queue.release(str(raw["ReceiptHandle"]), 0)
            self._log(
                logging.WARNING,
                EV_RELEASED,
                message_id=raw.get("MessageId"),
                visibility=0,
                reason="abandoned_poll",
            )

    def _drain(self, reason: StopReason) -> None:
        self._log(logging.INFO, EV_CONSUMER_DRAINING, step="stop_receiving", reason=reason.value)
        if self._stop_requested.is_set():
            self._hand_back_queued()
        with self._cond:
            while self._inflight:
                deadline = self._stop_deadline
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._cond.wait(
                    0.1 if deadline is None else max(0.01, min(0.1, deadline - time.monotonic()))
                )
            leftover = list(self._inflight)
        self._log(
            logging.INFO, EV_CONSUMER_DRAINING, step="finish_in_flight", unfinished=len(leftover)
        )
        released = sum(self._give_back(task, "shutdown") for task in leftover)
        self._log(
            logging.INFO,
            EV_CONSUMER_DRAINING,
            step="release",
            released=released,
            left_in_flight=sum(t.left_in_flight for t in leftover),
        )
        self._heartbeat_stop.set()
        for _ in range(self.config.concurrency):
            self._tasks.put(None)
        self._deletes.close()  # flushes the deletes still pending
        self._log(logging.INFO, EV_CONSUMER_DRAINING, step="close")

    def _hand_back_queued(self) -> None:
        """Messages received but not started yet go back at once instead of waiting for a thread
        (FIFO: also those waiting behind their group's message, which SQS keeps behind it)."""
        with self._cond:
            waiting = [t for group in self._groups.values() for t in group.waiting]
            for group in self._groups.values():
                group.waiting.clear()
        for follower in waiting:
            self._release_waiting(follower, "draining", blocked_by=None)
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                return
            if task is None:
                continue
            self._give_back(task, "draining")
            self._advance(task, completed=False)
            with self._cond:
                self._inflight.discard(task)
                self._cond.notify_all()

    def _give_back(self, task: _Task, reason: str) -> bool:
        """Release a message whose handler has not started: lease ended, visible at once.

        A message whose handler runs (or has returned and is being recorded) is never made
        visible to others from here: it stays in flight, its heartbeat stops, and it
        reappears when its visibility runs out. True if the message was released.
        """
        if not task.lock.acquire(timeout=_FINALIZE_GRACE_S):
            # A completion or a beat holds it: never release without the lock.
            self._leave_in_flight(task, "busy")
            return False
        try:
            if task.abandoned or task.stage is _Stage.DONE:
                return False
            if task.stage is not _Stage.WAITING:
                self._leave_in_flight(task, task.stage.value)
                return False
            task.abandoned = True
            self._release_lease(task)
            self._change_visibility(task, 0, reason=reason)
            return True
        finally:
            task.lock.release()

    def _leave_in_flight(self, task: _Task, stage: str) -> None:
        task.left_in_flight = True
        task.heartbeat_due = None
        self._log(
            logging.WARNING,
            EV_LEFT_IN_FLIGHT,
            task=task,
            stage=stage,
            lease_expires_at=round(task.lease_expires_at, 3),
        )

    # -- handler threads ---------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            completed = False
            try:
                if self._stop_requested.is_set():
                    # Not started yet: hand it back rather than start work we may not finish.
                    self._give_back(task, "draining")
                else:
                    completed = self._process(task)
            except Exception:
                self.counters.add("errors")
                log.exception(EV_CONSUMER_ERROR, extra=self._fields(task))
            finally:
                try:
                    self._advance(task, completed)
                finally:
                    with self._cond:
                        self._inflight.discard(task)
                        self._cond.notify_all()
                    self._deletes.poke()

    def _process(self, task: _Task) -> bool:
        """Handle one message; True when it is completed (now or before) and being deleted."""
        action, reason = self._handle(task)
        with task.lock:
            task.heartbeat_due = None  # a beat must never hide a message released here
            if task.abandoned:
                return False
            self._checkpoint(task, BEFORE_DELETE)
            if action is _Action.DELETE:
                self._delete(task)
            elif action is _Action.RELEASE:
                self._change_visibility(task, self.config.release_backoff_seconds, reason=reason)
            task.stage = _Stage.DONE
        if action is _Action.DELETE and self._has_followers(task):
            # Its group's next message starts only once this delete was answered: a crash can
            # then never bring this one back after a later one of its group ran.
            task.delete_answered.wait(max(task.visibility, 1))
        return action is _Action.DELETE

    def _has_followers(self, task: _Task) -> bool:
        if task.group is None:
            return False
        with self._cond:
            group = self._groups.get(task.group)
            return group is not None and group.head is task and bool(group.waiting)

    def _handle(self, task: _Task) -> tuple[_Action, str]:
        """Decide, do the work if it is ours, record it; return what to do with the message."""
        decided = self._claim(task)
        if decided is not None:
            return decided
        assert task.message is not None and task.claim is not None
        with task.lock:
            if task.abandoned:  # the drain gave it back while it was being claimed
                self._release_lease(task)
                return _Action.LEAVE, ""
            task.stage = _Stage.RUNNING
            # A FIFO message that waited behind its group keeps the schedule of its beats.
            if (
                self.config.heartbeat_seconds > 0
                and task.heartbeat_due is None
                and not task.heartbeat_over
            ):
                task.heartbeat_due = time.monotonic() + self.config.heartbeat_seconds
        started = time.monotonic()
        error = self._execute(task)
        with task.lock:  # waits for a beat in progress, so completion never races it
            task.stage = _Stage.FINISHING
            task.heartbeat_due = None
        if error is not None:
            return self._failed(task, error)
        self._checkpoint(task, AFTER_WORK)
        return self._record(task, started)

    def _execute(self, task: _Task) -> Exception | None:
        """One handler execution, logged from start to finish; returns what it raised."""
        assert task.message is not None
        task.execution_id = uuid.uuid4().hex
        task.message = replace(task.message, execution_id=task.execution_id)
        self._log(logging.INFO, EV_HANDLER_STARTED, task=task)
        started = time.monotonic()
        error: Exception | None = None
        try:
            self.handler(task.message)
        except Exception as exc:
            error = exc
        fields: dict[str, Any] = {
            "outcome": OUTCOME_OK if error is None else OUTCOME_ERROR,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if error is not None:
            fields["error_type"] = type(error).__name__
        self._log(logging.INFO, EV_HANDLER_FINISHED, task=task, **fields)
        return error

    def _claim(self, task: _Task) -> tuple[_Action, str] | None:
        """Parse and claim the message; None when it is ours to work on, else what to do."""
        try:
            task.message = parse(task.raw, sequence=task.sequence)
        except PoisonMessage as exc:
            self._log(logging.INFO, EV_RECEIVED, task=task, sequence=task.sequence)
            self.counters.add("poison")
            self._log(logging.WARNING, EV_POISON, task=task, reason=str(exc))
            return _Action.RELEASE, "poison"
        self._log(logging.INFO, EV_RECEIVED, task=task, sequence=task.sequence)
        self._checkpoint(task, AFTER_RECEIVE)

        lease = task.visible_until  # the receive's deadline, or the last heartbeat's
        try:
            decision = self.store.begin(task.message.message_id, lease, task.message.body_hash)
        except Exception as exc:  # any store failure, AWS or not, is this message's failure
            return self._failed(task, exc)
        if decision.verdict is ClaimVerdict.DUPLICATE:
            self.counters.add("duplicates")
            self._log(logging.INFO, EV_DUPLICATE, task=task, source=decision.source)
            return _Action.DELETE, ""
        if decision.verdict is ClaimVerdict.BUSY:
            self.counters.add("in_progress_elsewhere")
            other = decision.existing
            self._log(
                logging.INFO,
                EV_IN_PROGRESS_ELSEWHERE,
                task=task,
                owner=other.owner if other else None,
                lease_expires_at=other.lease_expires_at if other else None,
            )
            return _Action.RELEASE, "in_progress_elsewhere"
        if decision.verdict is ClaimVerdict.COLLISION:
            # Another message owns this id: never delete this one as its duplicate. Released,
            # it is received again until the redrive policy dead-letters it.
            self.counters.add("collisions")
            self._log(
                logging.ERROR,
                EV_ID_COLLISION,
                task=task,
                body_hash=task.message.body_hash,
                other_body_hash=decision.other_body_hash,
                source=decision.source,
            )
            return _Action.RELEASE, "id_collision"

        assert decision.claim is not None
        task.claim = decision.claim
        task.lease_expires_at = decision.claim.lease_expires_at
        task.message = replace(task.message, attempt=decision.claim.attempt)
        if decision.claim.takeover:
            self._log(
                logging.INFO,
                EV_TAKEOVER,
                task=task,
                previous_owner=decision.claim.previous_owner,
            )
        self._checkpoint(task, AFTER_CLAIM)
        return None

    def _record(self, task: _Task, started: float) -> tuple[_Action, str]:
        """The handler returned: record the completion (or learn we were fenced)."""
        assert task.message is not None and task.claim is not None
        with task.lock:
            if task.abandoned:
                return _Action.LEAVE, ""
            completed_at = int(time.time() * 1000)
            try:
                outcome = self.store.complete(task.claim, completed_at)
            except Exception as exc:  # any store failure, AWS or not, is this message's failure
                return self._failed(task, exc)
        if outcome is Outcome.COMPLETED:
            self.counters.add("completed")
            extra: dict[str, Any] = {
                "completed_at": completed_at,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
            if task.message.sent_at is not None:
                extra["sent_at"] = task.message.sent_at
            self._log(logging.INFO, EV_COMPLETED, task=task, **extra)
            return _Action.DELETE, ""
        if outcome is Outcome.ALREADY_COMPLETED:
            self.counters.add("duplicates")
            self._log(logging.INFO, EV_DUPLICATE, task=task, source="completion")
            return _Action.DELETE, ""
        # Fenced: another worker holds this message now; its receipt handle, not ours, counts.
        self.counters.add("fenced")
        self._log(logging.WARNING, EV_FENCED, task=task)
        return _Action.LEAVE, ""

    def _failed(self, task: _Task, exc: BaseException) -> tuple[_Action, str]:
        self.counters.add("failed")
        self._log(
            logging.WARNING,
            EV_FAILED,
            task=task,
            error=str(exc),
            error_type=type(exc).__name__,
        )
        self._release_lease(task)
        return _Action.RELEASE, "failed"

    def _release_lease(self, task: _Task) -> None:
        """End our lease now, so the next receiver takes over at once (best effort)."""
        if task.claim is not None:
            self._guard(self.store.release, task.claim, task=task, what="lease_release")

    def _checkpoint(self, task: _Task, point: str) -> None:
        if task.crash is not None and task.crash.point == point:
            self.chaos.crash(task.crash, self._fields(task))

    # -- heartbeat ---------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        tick = min(0.25, self.config.heartbeat_seconds / 4)
        while not self._heartbeat_stop.wait(tick):
            now = time.monotonic()
            with self._cond:
                due = [
                    t
                    for t in self._inflight
                    if t.heartbeat_due is not None and t.heartbeat_due <= now
                ]
            for task in due:
                try:
                    self._beat(task)
                except Exception:  # a bug in one beat must not end every later one
                    self.counters.add("errors")
                    log.exception(EV_CONSUMER_ERROR, extra=self._fields(task))

    def _beat(self, task: _Task) -> None:
        """Extend the visibility, then the lease. A failure of either is retried on the next
        tick; only a stale receipt handle or a lease taken over stops the heartbeat for good.

        A FIFO message waiting behind its group has no lease yet: only its visibility is
        extended, and its lease will start from there."""
        c = self.config
        with task.lock:
            if (
                task.heartbeat_due is None
                or task.abandoned
                or task.stage not in (_Stage.WAITING, _Stage.RUNNING)
            ):
                return
            now = time.time()
            ceiling = task.received_at + min(
                c.heartbeat_max_seconds, MAX_VISIBILITY_TIMEOUT_SECONDS
            )
            extend = int(min(task.visibility, ceiling - _CEILING_MARGIN_S - now))
            if extend <= 0:
                self._end_heartbeat(task)
                self._log(logging.WARNING, EV_HEARTBEAT_CEILING, task=task)
                return
            changed = self.queue.extend(task.receipt_handle, extend)
            if changed.status is Change.STALE:
                self._end_heartbeat(task)
                self._log_change_failure(task, "heartbeat", changed.status, changed.error)
                return
            if changed.status is Change.ERROR:
                self._beat_failed(task, "change_visibility", changed.error)
                return
            lease = now + extend
            task.visible_until = lease
            extra: dict[str, Any] = {}
            if task.claim is None:  # not parsed by its thread yet: name it by its payload id
                extra.update(stage=task.stage.value, message_id=task.payload_id())
            else:
                try:
                    ours = self.store.extend(task.claim, lease)
                except Exception as exc:  # any store failure: the lease may still be ours
                    self._beat_failed(task, "lease", f"{type(exc).__name__}: {exc}")
                    return
                if not ours:
                    self._end_heartbeat(task)
                    self._log(logging.WARNING, EV_FENCED, task=task, during="heartbeat")
                    return
                task.lease_expires_at = lease
                extra["lease_expires_at"] = round(lease, 3)
            self.counters.add("heartbeats")
            self._log(logging.INFO, EV_HEARTBEAT, task=task, visibility=extend, **extra)
            task.heartbeat_due = time.monotonic() + c.heartbeat_seconds

    @staticmethod
    def _end_heartbeat(task: _Task) -> None:
        """No more beats for this message (caller holds its lock)."""
        task.heartbeat_due = None
        task.heartbeat_over = True

    def _beat_failed(self, task: _Task, operation: str, error: str) -> None:
        """A transient failure: not a heartbeat; the next tick tries again (caller holds lock)."""
        self.counters.add("heartbeat_failures")
        self._log(
            logging.WARNING,
            EV_HEARTBEAT_FAILED,
            task=task,
            operation=operation,
            error=error,
            lease_live=task.lease_expires_at > time.time(),
        )
        task.heartbeat_due = time.monotonic()

    # -- SQS calls ---------------------------------------------------------------------------

    def _delete(self, task: _Task) -> None:
        # FIFO: SQS hands out no more of the group until this delete, so it goes out at once.
        self._deletes.add(task, now=self.fifo)

    def _idle(self) -> bool:
        with self._cond:
            return not self._inflight

    def _delete_batch(self, tasks: list[_Task]) -> None:
        """One DeleteMessageBatch; a stale receipt handle is a warning for that message only."""
        by_handle = {t.receipt_handle: t for t in tasks}
        deleted, stale, failed = self.queue.delete_batch(list(by_handle))
        self.counters.add("deleted", len(deleted))
        for handle, code in stale:
            self._log_change_failure(by_handle[handle], "delete", Change.STALE, code)
        for handle, error in failed:
            self._log_change_failure(by_handle[handle], "delete", Change.ERROR, error)

    def _delete_loop_error(self) -> None:
        self.counters.add("errors")
        log.exception(EV_CONSUMER_ERROR, extra=self._fields())

    def _change_visibility(self, task: _Task, seconds: int, *, reason: str, **extra: Any) -> None:
        changed = self.queue.release(task.receipt_handle, seconds)
        if changed.status is Change.OK:
            self.counters.add("released")
            self._log(
                logging.INFO, EV_RELEASED, task=task, visibility=seconds, reason=reason, **extra
            )
        else:
            self._log_change_failure(task, "release", changed.status, changed.error)

    def _log_change_failure(self, task: _Task, operation: str, status: Change, error: str) -> None:
        """A queue call about one message failed: stale handles warn, other failures are errors."""
        if status is Change.STALE:
            self.counters.add("stale_receipts")
            self._log(
                logging.WARNING, EV_STALE_RECEIPT, task=task, operation=operation, error=error
            )
        else:
            self.counters.add("errors")
            self._log(logging.ERROR, EV_AWS_ERROR, task=task, operation=operation, error=error)

    def _guard(self, call: Any, *args: Any, task: _Task, what: str) -> Any:
        """Run one store call that must never crash the worker; None when it failed."""
        try:
            return call(*args)
        except AWS_ERRORS as exc:
            self._log_change_failure(task, what, Change.ERROR, str(exc))
        except Exception:  # not an AWS error: a bug or a broken client, logged with its trace
            self.counters.add("errors")
            log.exception(EV_CONSUMER_ERROR, extra={**self._fields(task), "operation": what})
        return None

    # -- logging -----------------------------------------------------------------------------

    def _fields(self, task: _Task | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"consumer_id": self.config.consumer_id}
        if task is not None:
            out.update(task.fields())
        return out

    def _log(self, level: int, event: str, *, task: _Task | None = None, **fields: Any) -> None:
        if log.isEnabledFor(level):
            log.log(level, event, extra={**self._fields(task), **fields})


class _DeleteBatcher:
    """Deletes completed messages with DeleteMessageBatch: up to 10 per request.

    A batch goes out when it is full, when the worker has nothing else in flight (so a
    one-at-a-time worker deletes at once), when its oldest entry has waited
    ``_MAX_DELETE_DELAY_S``, when an entry was added with ``now=True`` (with whatever else is
    pending), or at close; after close, each delete goes out at once. Each task's
    ``delete_answered`` is set once its batch returned, whatever the outcome. A crash
    loses what is pending, like any crash between processing and delete: the redelivery is
    then a recorded duplicate.

    ``outstanding`` says whether a delete is pending or unanswered: the message is still in
    flight for SQS until then. ``flush`` sends one batch, ``idle`` says whether nothing else
    is in flight, and ``on_error`` is called (inside ``except``) when ``flush`` raised.
    """

    def __init__(
        self,
        *,
        flush: Callable[[list[_Task]], None],
        idle: Callable[[], bool],
        on_error: Callable[[], None],
    ) -> None:
        self._flush = flush
        self._idle = idle
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: list[tuple[float, _Task]] = []
        self._sending = 0  # entries of the batch being sent, not answered yet
        self._urgent = 0  # pending entries added with now=True
        self._closed = False
        self._stopped = False  # the run loop has returned: nothing more will be batched
        self._finished = threading.Event()

    def add(self, task: _Task, *, now: bool = False) -> None:
        with self._cond:
            if not self._stopped:
                self._pending.append((time.monotonic(), task))
                self._urgent += now
                self._cond.notify()
                return
        # Closed already: a handler the drain left in flight returned afterwards.
        self._send([task])

    def _send(self, batch: list[_Task]) -> None:
        try:
            self._flush(batch)
        except Exception:  # a bug here must not stop every later delete
            self._on_error()
        finally:
            for task in batch:
                task.delete_answered.set()

    def outstanding(self) -> bool:
        """Whether a delete is pending or sent and not answered yet."""
        with self._cond:
            return bool(self._pending) or self._sending > 0

    def poke(self) -> None:
        with self._cond:
            if self._pending:
                self._cond.notify()

    def close(self, timeout: float = 30) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._finished.wait(timeout)

    def run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._ready():
                        if self._pending:
                            age = time.monotonic() - self._pending[0][0]
                            self._cond.wait(max(0.001, _MAX_DELETE_DELAY_S - age))
                        else:
                            self._cond.wait()
                    if not self._pending:
                        self._stopped = True
                        return
                    batch = [task for _, task in self._pending[:MAX_BATCH]]
                    del self._pending[:MAX_BATCH]
                    if not self._pending:
                        self._urgent = 0
                    self._sending = len(batch)
                try:
                    self._send(batch)
                finally:
                    with self._cond:
                        self._sending = 0
        finally:
            self._finished.set()

    def _ready(self) -> bool:
        if self._closed or self._urgent or len(self._pending) >= MAX_BATCH:
            return True
        if not self._pending:
            return False
        if time.monotonic() - self._pending[0][0] >= _MAX_DELETE_DELAY_S:
            return True
        return self._idle()
