"""The recording pass-through between consumers and the emulator: one fault proxy per slot.

A consumer the kit did not write (``--consumer-cmd``, ``--consumer-image``) logs nothing the
kit understands, so the kit watches its calls instead. Each consumer slot gets its own
:class:`local.faultproxy.FaultProxy` in front of the emulator and that proxy's endpoint as its
``AWS_ENDPOINT_URL``: every receive, delete and visibility change the slot's consumers make is
recorded with the message ids involved, and attributed to the slot by the port it came in on.
The engine, the provisioner and the observer keep talking to the emulator directly.

With no plan a proxy only relays and records. With a fault plan (``--faults PLAN.yaml``, or a
scenario's own, see :mod:`scenarios.running.apifaults`) every slot's proxy injects it into the
calls of the slot's consumers - the kit's own consumer included - and :meth:`PassThrough.fired`
reports what fired. A fault can also give one slot a plan of its own (for example: hold its
next delete) to aim a kill between a consumer's effect and its delete.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InfrastructureError
from local.faultproxy import FaultKind, FaultProxy, FaultProxyError, Plan, PlanError, Recorder
from local.faultproxy.protocol import HANDLE_OPS, SQS
from local.faultproxy.proxy import parse_upstream
from local.faultproxy.records import CallRecord, FiredFault
from scenarios.judging.facts import (
    RETRIED_BY_CALLER,
    RETRIED_BY_SDK,
    RETRY_WINDOW_S,
    ApiFault,
    Call,
)

log = logging.getLogger(__name__)

#: how long a held delete waits before the proxy gives up on it (the kill comes much sooner)
HOLD_S = 30.0
#: the fault kind a held call is recorded with
HELD = "stall"
#: faults after which the consumer got a success: it has nothing to retry
#: the name of the rule that holds a delete (its fired stall is the engine's, not the plan's)
HOLD_RULE = "held delete"
_ANSWERED_OK = frozenset({FaultKind.LATENCY, FaultKind.ACK_DROPPED})


class PassThrough:
    """Per-slot recording proxies in front of ``upstream``; ``stop()`` closes them all.

    ``record_dir``: each slot's calls are also appended to ``passthrough-slot<N>.jsonl`` there,
    as evidence of what the consumer did. ``plan``: the fault plan every slot's proxy injects
    (None: relay and record only).
    """

    def __init__(
        self, upstream: str, *, record_dir: Path | None = None, plan: Plan | None = None
    ) -> None:
        try:
            parse_upstream(upstream)
        except FaultProxyError as exc:
            raise ConfigError(
                f"a plugged-in consumer runs behind a recording pass-through, which relays to "
                f"plain http endpoints only: {exc}"
            ) from None
        self.upstream = upstream
        self.record_dir = record_dir
        self.plan = plan
        self._lock = threading.Lock()
        self._proxies: dict[int, FaultProxy] = {}
        self._stopped = False

    def endpoint(self, slot: int) -> str:
        """The endpoint slot ``slot``'s consumers use (its proxy starts on first use)."""
        with self._lock:
            if self._stopped:
                raise InfrastructureError("the pass-through is stopped: no consumer can start")
            proxy = self._proxies.get(slot)
            if proxy is None:
                sink = None
                if self.record_dir is not None:
                    self.record_dir.mkdir(parents=True, exist_ok=True)
                    sink = self.record_dir / f"passthrough-slot{slot}.jsonl"
                proxy = FaultProxy(
                    self.upstream, self.plan, recorder=Recorder(calls=True, sink=sink)
                )
                try:
                    proxy.start()
                except FaultProxyError as exc:
                    proxy.recorder.close()
                    raise InfrastructureError(f"the pass-through for slot {slot}: {exc}") from exc
                self._proxies[slot] = proxy
                log.info("passthrough.started", extra={"slot": slot, "endpoint": proxy.endpoint})
            return proxy.endpoint

    @property
    def slots(self) -> list[int]:
        with self._lock:
            return sorted(self._proxies)

    def calls(self) -> list[Call]:
        """Every SQS call so far, slot by slot, each slot's in the order they were recorded.

        A call is recorded when it ends but stamped when it began (a long poll), so a slot's
        list only grows at its end while its stamps may step back: sort by ``ts`` to read it
        as a timeline. Consumer ids are not attributed yet.
        """
        with self._lock:
            proxies = sorted(self._proxies.items())
        return [_call(slot, c) for slot, p in proxies for c in p.records() if c.service == SQS]

    def hold_next_delete(self, slot: int, *, after: int = 0) -> None:
        """Hold slot ``slot``'s next delete (after letting ``after`` through): never forwarded.

        The consumer then waits on a delete the queue never sees, with its effect already
        applied: the moment to kill it. One delete only; later ones pass. The run's fault plan,
        if any, stays in force behind the hold.
        """
        hold = Plan.from_dict(
            {
                "name": f"hold a delete of slot {slot}",
                "rules": [
                    {
                        "service": SQS,
                        "operation": sorted(op for op in HANDLE_OPS if op.startswith("Delete")),
                        "fault": HELD,
                        "name": HOLD_RULE,
                        "skip": after,
                        "max_fires": 1,
                        "stall_s": HOLD_S,
                    }
                ],
            }
        )
        plan = hold
        if self.plan is not None:
            rules = (*hold.rules, *self.plan.rules)
            plan = dataclasses.replace(
                self.plan,
                rules=tuple(dataclasses.replace(r, index=i) for i, r in enumerate(rules)),
            )
        with self._lock:
            proxy = self._proxies.get(slot)
        if proxy is None:
            raise PlanError(f"slot {slot} has no pass-through")
        proxy.set_plan(plan)

    def held(self, slot: int) -> float | None:
        """When slot ``slot``'s delete was held (epoch seconds), or None while none was."""
        with self._lock:
            proxy = self._proxies.get(slot)
        if proxy is None:
            return None
        fired = [f.ts for f in proxy.fired() if f.rule == HOLD_RULE]
        return fired[0] if fired else None

    def fired(self) -> list[ApiFault]:
        """Every fault the plan fired, slot by slot, in time order, each marked ``retried``.

        Held deletes (:meth:`hold_next_delete`) are the engine's own fault, not the plan's:
        they are left out.
        """
        with self._lock:
            proxies = sorted(self._proxies.items())
        out = [
            _api_fault(slot, f, proxy.records())
            for slot, proxy in proxies
            for f in proxy.fired()
            if f.rule != HOLD_RULE
        ]
        return sorted(out, key=lambda f: f.ts)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passthrough": "one recording proxy per consumer slot",
            "upstream": self.upstream,
        }
        if self.plan is not None:
            out["fault_plan"] = self.plan.name or "unnamed"
        return out

    def stop(self) -> None:
        """Stop every proxy (closing held calls) and flush their files; idempotent.

        What they recorded stays readable through :meth:`calls`.
        """
        with self._lock:
            self._stopped = True
            proxies = list(self._proxies.values())
        for proxy in proxies:
            try:
                proxy.stop()
            finally:
                proxy.recorder.close()


def _call(slot: int, record: CallRecord) -> Call:
    return Call(
        ts=record.ts,
        slot=slot,
        operation=record.operation,
        status=record.status,
        sqs_ids=tuple(m for m in record.message_ids if m),
        fault=record.fault,
        latency_s=record.latency_ms / 1000.0,
    )


def _api_fault(slot: int, fault: FiredFault, calls: list[CallRecord]) -> ApiFault:
    """``fault`` as a fact: what the consumer got, and whether (and by whom) its call was retried.

    The SDK's retry headers decide when the faulted call carried them: a call of the same
    operation within ``RETRY_WINDOW_S`` after the fault, with the same invocation id and a
    higher attempt, is the SDK's retry. Otherwise a retry is a call of the same operation that
    began after the fault fired and within the window, and got a 200 (the fault's own call
    began before it fired); a delete or visibility change must also target the same receipt
    handles as the faulted call - a later delete of other messages (a restarted consumer's,
    say) is not its retry. With the headers, such a call under a new invocation id is the
    caller's own; without them, nobody can tell whose it is.
    """
    status = fault.detail.get("status")
    retried: bool | None = None
    retried_by: str | None = None
    invocation_id, attempt = _invocation(fault, calls)
    if fault.kind not in _ANSWERED_OK:
        later = [
            c
            for c in calls
            if c.service == fault.service
            and c.operation == fault.operation
            and fault.ts < c.ts <= fault.ts + RETRY_WINDOW_S
        ]
        if invocation_id is not None and any(
            c.sdk_invocation_id == invocation_id and (c.attempt or 0) > (attempt or 0)
            for c in later
        ):
            retried_by = RETRIED_BY_SDK
        else:
            handles = set(_faulted_handles(fault, calls))
            again = [
                c
                for c in later
                if c.status == 200
                and (not handles or set(c.receipt_handles) == handles)
                and (invocation_id is None or c.sdk_invocation_id != invocation_id)
            ]
            if again and invocation_id is not None:
                retried_by = RETRIED_BY_CALLER
            retried = bool(again)
        retried = retried or retried_by is not None
    return ApiFault(
        ts=fault.ts,
        slot=slot,
        service=fault.service,
        operation=fault.operation,
        kind=fault.kind,
        rule=fault.rule,
        status=status if isinstance(status, int) else None,
        retried=retried,
        retried_by=retried_by,
        sdk_evidence=invocation_id is not None,
    )


def _own_call(fault: FiredFault, calls: list[CallRecord]) -> CallRecord | None:
    """The record of the call ``fault`` hit: the last one of its kind that began before it."""
    own = [
        c
        for c in calls
        if c.fault == fault.kind and c.operation == fault.operation and c.ts <= fault.ts
    ]
    return own[-1] if own else None


def _invocation(fault: FiredFault, calls: list[CallRecord]) -> tuple[str | None, int | None]:
    """The SDK invocation id and attempt of the faulted call, if the client sent them."""
    invocation_id = fault.detail.get("invocation_id")
    if isinstance(invocation_id, str):
        attempt = fault.detail.get("attempt")
        return invocation_id, attempt if isinstance(attempt, int) else None
    own = _own_call(fault, calls)  # a fault recorded before the proxy put them in its detail
    if own is not None and own.sdk_invocation_id is not None:
        return own.sdk_invocation_id, own.attempt
    return None, None


def _faulted_handles(fault: FiredFault, calls: list[CallRecord]) -> tuple[str, ...]:
    # a receive's handles are what it returned: only a handle operation names its targets
    if fault.operation not in HANDLE_OPS:
        return ()
    own = _own_call(fault, calls)
    return own.receipt_handles if own is not None else ()
