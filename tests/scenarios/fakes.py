"""A real Target over in-process moto whose "consumers" finish every message at once.

It lets unit tests drive the whole engine (provision, send, act, collect, judge, teardown)
without processes or an emulator. Use it inside ``mock_aws()``.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from consumer.contract import (
    EV_COMPLETED,
    EV_HANDLER_FINISHED,
    EV_HANDLER_STARTED,
    EV_RECEIVED,
    OUTCOME_OK,
)
from core.aws import client as make_client
from core.provisioners.api import ApiProvisioner
from core.stack import StackHandle, StackSpec
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.base import ConsumerHandle, Incarnation
from scenarios.targets.base import Target

REGION = "us-east-1"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InstantTarget(Target):
    """Provisions with the API provisioner; a running consumer drains the queue on each poll."""

    name = "instant"

    def __init__(
        self,
        *,
        region: str = REGION,
        sqs: Any = None,
        on_provision: Callable[[StackSpec], None] | None = None,
    ) -> None:
        self.region = region
        self._clients: dict[str, Any] = {"sqs": sqs} if sqs is not None else {}
        self.on_provision = on_provision
        self.handle: StackHandle | None = None
        #: the last stack provisioned; like the aws target's runner, it outlives teardown
        self.last_stack: str | None = None
        self.handles: list[ConsumerHandle] = []
        self.events: list[dict[str, Any]] = []
        self.signals: list[tuple[str, int]] = []
        self.torn_down = 0
        #: ``settled`` of every stop_consumers call, in order
        self.stops: list[bool] = []
        self._provisioner: ApiProvisioner | None = None

    # -- Target ---------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, region=self.region)
        return self._clients[service]

    def provision(self, spec: StackSpec) -> StackHandle:
        if self.on_provision is not None:
            self.on_provision(spec)
        self._provisioner = ApiProvisioner(
            endpoint_url=None,
            region=self.region,
            sqs=self.client("sqs"),
            dynamodb=self.client("dynamodb"),
        )
        self.handle = self._provisioner.provision(spec)
        self.last_stack = spec.prefix
        return self.handle

    def start_consumers(
        self,
        n: int,
        settings: ConsumerSettings,
        *,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
    ) -> list[ConsumerHandle]:
        new = []
        for _ in range(n):
            slot = len(self.handles)
            handle = ConsumerHandle(slot=slot, settings=settings, restart=restart)
            handle.incarnations.append(
                Incarnation(consumer_id=f"instant-{slot}", native_id="-", started_at=time.time())
            )
            self.handles.append(handle)
            new.append(handle)
        return new

    def signal(self, handle: ConsumerHandle, sig: int) -> None:
        self.signals.append((handle.consumer_id, sig))
        handle.current.signals_sent.append(signal.Signals(sig).name)

    def consumer_events(self, handle: ConsumerHandle | None = None) -> list[dict[str, Any]]:
        running = [h for h in self.handles if h.running]
        if running and self.handle is not None:
            self._drain(running[0].consumer_id, self.handle.queue_url)
        if handle is None:
            return list(self.events)
        return [e for e in self.events if e.get("consumer_id") == handle.consumer_id]

    def _drain(self, consumer_id: str, queue_url: str) -> None:
        sqs = self.client("sqs")
        while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for m in got:
                mid = str(json.loads(m["Body"])["id"])
                now = time.time()
                base = {"consumer_id": consumer_id, "message_id": mid, "level": "INFO"}
                run = {**base, "execution_id": f"x-{mid}", "ts": _iso(now)}
                self.events += [
                    {**base, "event": EV_RECEIVED, "ts": _iso(now)},
                    {**run, "event": EV_HANDLER_STARTED},
                    {**run, "event": EV_HANDLER_FINISHED, "outcome": OUTCOME_OK},
                    {**run, "event": EV_COMPLETED, "completed_at": int(now * 1000)},
                ]
                self._record(mid, consumer_id)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def _record(self, message_id: str, consumer_id: str) -> None:
        """What a real consumer leaves in its tables for a completed message: the effect too."""
        assert self.handle is not None and self.handle.effects_table is not None
        ddb = self.client("dynamodb")
        ddb.put_item(
            TableName=self.handle.effects_table,
            Item={"message_id": {"S": message_id}, "effect_id": {"S": message_id}},
        )
        ddb.put_item(
            TableName=self.handle.completed_table,
            Item={
                "message_id": {"S": message_id},
                "owner": {"S": consumer_id},
                "attempts": {"N": "1"},
            },
        )
        ddb.put_item(
            TableName=self.handle.status_table,
            Item={
                "message_id": {"S": message_id},
                "status": {"S": "COMPLETED"},
                "attempts": {"N": "1"},
            },
        )

    def stop_consumers(self, timeout: float = 10.0, *, settled: bool = False) -> None:
        self.stops.append(settled)
        for h in self.handles:
            if h.running:
                h.current.exit_code, h.current.ended_at = 0, time.time()

    def teardown(self) -> None:
        self.stop_consumers()
        if self.handle is not None and self._provisioner is not None:
            self._provisioner.destroy(self.handle)
            self.handle = None
        self.torn_down += 1

    def describe(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"target": self.name, "emulator": "moto", "runner": "instant"}
        if self.last_stack is not None:
            fields["last_stack"] = self.last_stack  # known only once a stack was provisioned
        return fields
