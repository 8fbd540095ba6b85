"""What the proxy saw: every fired fault and, optionally, every call, as typed records and as
JSON lines (``{"record": "fault", ...}`` / ``{"record": "call", ...}``).

For SQS the call records carry the message ids and receipt handles a receive returned and a
delete or visibility change targeted, so an oracle can observe any consumer from outside:
receives, redeliveries (one message id received more than once), deletes.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Final

from local.faultproxy.protocol import sdk_attempt

RECORD_FAULT: Final = "fault"
RECORD_CALL: Final = "call"


@dataclass(frozen=True)
class FiredFault:
    """One fault applied to one call.

    ``ts`` is epoch seconds; ``count`` is the rule's n-th fire under the plan that was active;
    ``detail`` holds what the fault did (status, code, delay_ms, message_ids, ...).
    """

    ts: float
    service: str
    operation: str
    kind: str
    rule: str
    count: int
    plan: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, tagged ``"record": "fault"``."""
        return {"record": RECORD_FAULT, **asdict(self), "detail": dict(self.detail)}


@dataclass(frozen=True)
class CallRecord:
    """One call through the proxy.

    ``status`` is what the client got (None: the connection was reset or closed instead);
    ``forwarded`` says whether the upstream saw the call; ``fault`` names the kind that
    decided its fate, if any. ``message_ids`` are those a receive returned or a send
    accepted, or those a delete/visibility change targeted (resolved from the handles).
    ``sdk_invocation_id`` and ``sdk_request`` are the SDK's ``amz-sdk-invocation-id`` and
    ``amz-sdk-request`` headers (None when the client sent none): every attempt of one API
    call shares the invocation id, so a later attempt of it is an SDK retry.
    """

    ts: float
    service: str
    operation: str
    protocol: str
    status: int | None
    latency_ms: float
    forwarded: bool
    fault: str | None = None
    queue_url: str | None = None
    message_ids: tuple[str, ...] = ()
    receipt_handles: tuple[str, ...] = ()
    sdk_invocation_id: str | None = None
    sdk_request: str | None = None

    @property
    def attempt(self) -> int | None:
        """Which attempt of its invocation the call was (1 = the first), when the SDK said."""
        return sdk_attempt(self.sdk_request)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, tagged ``"record": "call"``."""
        # Field by field, not dataclasses.asdict: its deep copy was most of a record's cost.
        data: dict[str, Any] = {"record": RECORD_CALL}
        for name in _CALL_FIELDS:
            data[name] = getattr(self, name)
        data["message_ids"] = list(self.message_ids)
        data["receipt_handles"] = list(self.receipt_handles)
        return data


_CALL_FIELDS: Final = tuple(f.name for f in fields(CallRecord))


class Recorder:
    """Collects fired faults (always) and calls (when ``calls``), in memory and optionally as
    JSON lines in ``sink``. Safe to read from any thread while the proxy writes.
    """

    def __init__(self, *, calls: bool = True, sink: str | Path | None = None) -> None:
        self.calls_enabled = calls
        self._lock = threading.Lock()
        self._faults: list[FiredFault] = []
        self._calls: list[CallRecord] = []
        self._handles: dict[str, str] = {}
        self._sink: IO[str] | None = (
            Path(sink).open("a", encoding="utf-8") if sink is not None else None  # noqa: SIM115
        )

    def add_fault(self, fault: FiredFault) -> None:
        """Keep one fired fault (and write it to the sink)."""
        with self._lock:
            self._faults.append(fault)
            if self._sink is not None:
                self._write(self._sink, fault.to_dict())

    def add_call(self, call: CallRecord) -> None:
        """Keep one call record (and write it to the sink)."""
        with self._lock:
            self._calls.append(call)
            if self._sink is not None:  # building the dict costs more than the call itself
                self._write(self._sink, call.to_dict())

    def remember_handles(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Learn ``(message_id, receipt_handle)`` pairs from a receive answer."""
        with self._lock:
            for message_id, handle in pairs:
                if handle:
                    self._handles[handle] = message_id

    def message_ids_for(self, handles: Iterable[str]) -> tuple[str, ...]:
        """The message ids behind receipt handles seen in earlier receives ('' if unknown)."""
        with self._lock:
            return tuple(self._handles.get(h, "") for h in handles)

    def faults(self) -> list[FiredFault]:
        """Every fired fault so far, oldest first."""
        with self._lock:
            return list(self._faults)

    def calls(self) -> list[CallRecord]:
        """Every recorded call so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def fired_counts(self) -> dict[str, int]:
        """How many times each fault kind fired: the report's ``faults_fired``."""
        with self._lock:
            return dict(Counter(f.kind for f in self._faults))

    def close(self) -> None:
        """Flush and close the sink, if any."""
        with self._lock:
            if self._sink is not None:
                self._sink.close()
                self._sink = None

    @staticmethod
    def _write(sink: IO[str], record: dict[str, Any]) -> None:
        sink.write(json.dumps(record, separators=(",", ":")) + "\n")
        sink.flush()


def read_records(path: str | Path) -> tuple[list[FiredFault], list[CallRecord]]:
    """Parse a JSON-lines file written by a ``Recorder`` back into typed records."""
    faults: list[FiredFault] = []
    calls: list[CallRecord] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            data = json.loads(line)
            kind = data.pop("record", None)
            if kind == RECORD_FAULT:
                faults.append(FiredFault(**data))
            elif kind == RECORD_CALL:
                data["message_ids"] = tuple(data["message_ids"])
                data["receipt_handles"] = tuple(data["receipt_handles"])
                calls.append(CallRecord(**data))
            else:
                raise ValueError(f"{path}:{number}: unknown record type {kind!r}")
    return faults, calls
