"""The fault plan's faults: chaos knobs the consumer applies, and faults the engine triggers.

See :class:`scenarios.model.Fault` for the interface: chaos knobs return consumer-settings
overrides (``CRASH_AFTER_RECEIVE``, ``CRASH_RATE``, ``LONG_SLEEP_*``); triggered faults (a
signal while a consumer is processing, a DLQ redrive once the poison has arrived) fire once.
"""

from __future__ import annotations

import logging
import signal as signals
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.contract import ENV_CRASH_AFTER_RECEIVE, ENV_CRASH_RATE, ENV_LONG_SLEEP_SECONDS
from core.capabilities import SQS_MOVE_TASK
from scenarios.judging.facts import FaultRecord
from scenarios.model import ConsumerSlot, Fault, LiveView

log = logging.getLogger(__name__)

MOVE_TASK_CAPABILITY = SQS_MOVE_TASK
_MOVE_TIMEOUT_S = 20.0


# -- chaos knobs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrashAfterReceive(Fault):
    """Each consumer crashes on its N-th message, after processing it and before the delete."""

    n: int

    @property
    def label(self) -> str:
        return f"{ENV_CRASH_AFTER_RECEIVE}={self.n}"

    def overrides(self) -> dict[str, object]:
        return {"crash_after_receive": self.n}


@dataclass(frozen=True)
class CrashRate(Fault):
    """Each message crashes its consumer with probability ``rate``, between receive and delete."""

    rate: float

    @property
    def label(self) -> str:
        return f"{ENV_CRASH_RATE}={self.rate}"

    def overrides(self) -> dict[str, object]:
        return {"crash_rate": self.rate}


@dataclass(frozen=True)
class LongSleep(Fault):
    """Every ``every``-th message sleeps ``seconds`` (to overrun the visibility timeout).

    ``group``: only the consumer group with this label sleeps (None: every group).
    """

    seconds: float
    every: int = 1
    group: str | None = None

    @property
    def label(self) -> str:
        who = f" ({self.group} consumers)" if self.group else ""
        return f"{ENV_LONG_SLEEP_SECONDS}={self.seconds:g} every {self.every} message(s){who}"

    def overrides(self) -> dict[str, object]:
        return {"long_sleep_seconds": self.seconds, "long_sleep_every": self.every}

    def applies_to(self, group: str) -> bool:
        return self.group is None or group == self.group


# -- triggered faults ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalWhileProcessing(Fault):
    """Send ``signal`` to consumer slot ``slot`` while it is processing a message.

    It fires once the slot's consumer has completed ``after_completed`` messages and holds a
    message it received less than ``max_age_s`` ago, so the signal lands mid-work rather than
    in the race between the work ending and the delete. The age allows for the slot's event
    delay (``event_delay_s``): on ECS a "received" event reaches the runner through CloudWatch
    Logs seconds after it was written, and without the allowance the fault would never fire.
    The work must outlast that delay for the signal to land mid-work: scenarios that use this
    fault on ECS say so in their ECS declaration (``scenarios.model.ecs``).
    """

    signal: int
    slot: int = 0
    after_completed: int = 1
    max_age_s: float | None = None
    triggered: bool = True

    @property
    def label(self) -> str:
        name = signals.Signals(self.signal).name
        after = f" after {self.after_completed} completed" if self.after_completed else ""
        return f"{name} consumer {self.slot} while it processes a message{after}"

    def due(self, run: LiveView) -> bool:
        handle = run.slot(self.slot)
        if handle is None or not handle.running:
            return False
        if run.completed_by(handle) < self.after_completed:
            return False
        return bool(run.in_flight(handle, max_age_s=self._max_age(handle)))

    def _max_age(self, handle: ConsumerSlot) -> float | None:
        if self.max_age_s is None:
            return None
        return self.max_age_s + handle.event_delay_s

    def fire(self, run: LiveView) -> FaultRecord:
        handle = run.slot(self.slot)
        assert handle is not None
        held = tuple(run.in_flight(handle))
        name = signals.Signals(self.signal).name
        at = time.time()
        run.signal(handle, self.signal)
        allowed = (
            f" (events up to {handle.event_delay_s:.1f} s late allowed for)"
            if handle.event_delay_s
            else ""
        )
        return FaultRecord(
            kind="signal",
            at=at,
            signal=name,
            consumer_id=handle.consumer_id,
            message_ids=held,
            detail=f"{name} to {handle.consumer_id} while it held {len(held)} message(s){allowed}",
        )


@dataclass(frozen=True)
class RedriveDlq(Fault):
    """Move every dead letter back to the source queue once the DLQ holds ``when_dlq_holds``.

    Uses StartMessageMoveTask when the target supports it; otherwise (the ``sqs.move_task``
    shim) a manual receive / send / delete loop that preserves every body.
    """

    when_dlq_holds: int
    triggered: bool = True

    @property
    def label(self) -> str:
        return f"redrive the DLQ once it holds {self.when_dlq_holds}"

    def due(self, run: LiveView) -> bool:
        return run.dlq_depth() >= self.when_dlq_holds

    def fire(self, run: LiveView) -> FaultRecord:
        at = time.time()
        method, moved = "", 0
        if not run.shimmed(MOVE_TASK_CAPABILITY):
            try:
                moved = _move_task(run)
                method = "StartMessageMoveTask"
            except (ClientError, BotoCoreError) as exc:
                log.info("redrive.move_task_failed", extra={"error": str(exc)})
                run.add_shim(MOVE_TASK_CAPABILITY, f"StartMessageMoveTask failed: {exc}")
        if not method:
            moved = _manual_move(run)
            method = "manual receive/send/delete (shim for sqs.move_task)"
        return FaultRecord(
            kind="redrive", at=at, detail=method, data={"moved": moved, "method": method}
        )


def _move_task(run: LiveView) -> int:
    sqs, stack = run.sqs, run.stack
    before = run.dlq_depth()
    task = sqs.start_message_move_task(SourceArn=stack.dlq_arn, DestinationArn=stack.queue_arn)
    handle = task.get("TaskHandle")
    deadline = time.monotonic() + _MOVE_TIMEOUT_S
    while time.monotonic() < deadline:
        tasks: list[dict[str, Any]] = sqs.list_message_move_tasks(
            SourceArn=stack.dlq_arn, MaxResults=10
        ).get("Results", [])
        mine = [t for t in tasks if not handle or t.get("TaskHandle") in (handle, None)]
        status = mine[0].get("Status") if mine else None
        if status == "COMPLETED" or (status is None and run.dlq_depth() == 0):
            moved = mine[0].get("ApproximateNumberOfMessagesMoved") if mine else None
            return int(moved) if moved is not None else before
        if status in ("FAILED", "CANCELLED"):
            raise ClientError(
                {"Error": {"Code": status, "Message": str(mine[0].get("FailureReason"))}},
                "StartMessageMoveTask",
            )
        time.sleep(0.1)
    raise ClientError(
        {"Error": {"Code": "Timeout", "Message": "move task did not complete"}},
        "StartMessageMoveTask",
    )


def _manual_move(run: LiveView) -> int:
    sqs, stack = run.sqs, run.stack
    moved, empty = 0, 0
    while empty < 2:
        got = sqs.receive_message(
            QueueUrl=stack.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=30,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            empty += 1
            continue
        empty = 0
        entries = [{"Id": str(i), "MessageBody": m["Body"], **_attrs(m)} for i, m in enumerate(got)]
        sent = sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)
        ok = {e["Id"] for e in sent.get("Successful", [])}
        # Delete only what reached the source queue: a failed send stays in the DLQ.
        deletes = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(got)
            if str(i) in ok
        ]
        if deletes:
            sqs.delete_message_batch(QueueUrl=stack.dlq_url, Entries=deletes)
        moved += len(deletes)
    return moved


def _attrs(message: dict[str, Any]) -> dict[str, Any]:
    attrs = message.get("MessageAttributes")
    return {"MessageAttributes": attrs} if attrs else {}
