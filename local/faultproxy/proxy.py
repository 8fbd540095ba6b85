"""The fault proxy: an HTTP/1.1 relay between AWS clients and an endpoint that applies a plan's
faults and records what it saw.

It runs an asyncio loop in its own thread, so a test, the scenario engine or the CLI can start
it in-process, swap plans between phases and read its records while clients talk through it.
Each client connection gets its own upstream connection; requests and answers are relayed
byte for byte, so the proxy adds one loopback hop and a header parse to a call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

from local.faultproxy import protocol, wire
from local.faultproxy.errors import FaultProxyError, UpstreamError, UpstreamTimeout
from local.faultproxy.inject import Fire, Injector
from local.faultproxy.plan import FAIL_RESET, FaultKind, Plan
from local.faultproxy.protocol import SQS, Call
from local.faultproxy.records import CallRecord, FiredFault, Recorder

log = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"
#: longer than SQS's 20 s long poll with room to spare; a slower upstream gets a 504
DEFAULT_UPSTREAM_TIMEOUT_S: Final = 120.0
_CONNECT_TIMEOUT_S: Final = 10.0
_STOP_TIMEOUT_S: Final = 10.0
_SYNTHESIZED: Final = {
    FaultKind.ERROR_500,
    FaultKind.ERROR_503,
    FaultKind.THROTTLE,
    FaultKind.ACK_DROPPED,
    FaultKind.TRANSACTION_CANCELED,
    FaultKind.CONDITIONAL_CHECK_FAILED,
}


def parse_upstream(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http://HOST:PORT`` upstream; anything else is a clear error."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise FaultProxyError(
            f"upstream {url!r} is invalid: use http://HOST:PORT "
            "(TLS upstreams and SigV4 re-signing are not supported)"
        )
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise FaultProxyError(f"upstream {url!r} has an invalid port") from exc
    return parts.hostname, port


class _StaleConnection(Exception):
    """A kept-alive upstream connection turned out to be closed before the call reached it."""


class _Upstream:
    """The upstream connection paired with one client connection, opened on first use."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: wire.Request) -> wire.Response:
        """Send ``request`` and read the answer.

        One retry, on a fresh connection, when a kept-alive one turned out to be closed by the
        upstream's idle timeout: the write failed, or the upstream closed without a single
        byte of answer. Never once an answer began.
        """
        try:
            return await self._exchange_once(request)
        except _StaleConnection:
            return await self._exchange_once(request)

    async def _exchange_once(self, request: wire.Request) -> wire.Response:
        reused = self.writer is not None
        if self.writer is None:
            try:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, limit=wire.MAX_HEAD_BYTES),
                    _CONNECT_TIMEOUT_S,
                )
            except (OSError, TimeoutError) as exc:
                raise UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(request.raw)
            await self.writer.drain()
        except ConnectionError as exc:
            self.close()
            if reused:
                raise _StaleConnection from exc
            raise UpstreamError(f"upstream connection failed: {exc}") from exc
        try:
            # asyncio.timeout, not wait_for: no extra task per call (a third of the overhead)
            async with asyncio.timeout(self.timeout_s):
                response = await wire.read_response(self.reader, request.method)
        except TimeoutError as exc:
            self.close()
            raise UpstreamTimeout(f"no answer within {self.timeout_s:g} s") from exc
        except wire.ClosedBeforeAnswer as exc:
            self.close()
            if reused:
                raise _StaleConnection from exc
            raise UpstreamError(str(exc)) from exc
        except (ConnectionError, wire.WireError) as exc:
            self.close()
            raise UpstreamError(f"upstream connection failed: {exc}") from exc
        if not response.keep_alive:
            self.close()
        return response

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass(slots=True)
class _Outcome:
    status: int | None
    forwarded: bool
    keep_alive: bool
    upstream: wire.Response | None = None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the client connection with a TCP RST (SO_LINGER 0), like a dropped link."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """An AWS-protocol fault proxy in front of ``upstream``.

    ``start()`` returns the endpoint clients use instead of the upstream; ``set_plan()``
    replaces the plan while it runs (a scenario phase); ``fired()`` and ``records()`` read
    what happened; ``stop()`` closes every connection. Also a context manager.
    """

    def __init__(
        self,
        upstream: str,
        plan: Plan | None = None,
        recorder: Recorder | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        upstream_timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self._up_host, self._up_port = parse_upstream(self.upstream)
        self.recorder = recorder if recorder is not None else Recorder()
        self._injector = Injector(plan or Plan())
        self._host = host
        self._port = port
        self._timeout_s = upstream_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._endpoint: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the running proxy."""
        if self._endpoint is None:
            raise FaultProxyError("the fault proxy is not running: call start() first")
        return self._endpoint

    def start(self) -> str:
        """Listen and serve in a background thread; returns the endpoint URL."""
        if self._thread is not None:
            raise FaultProxyError("the fault proxy is already running")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run, args=(loop, ready), name="faultproxy", daemon=True
        )
        thread.start()
        try:
            port = ready.result(timeout=_STOP_TIMEOUT_S)
        except BaseException:
            thread.join(_STOP_TIMEOUT_S)
            raise
        self._loop, self._thread = loop, thread
        self._endpoint = f"http://{self._host}:{port}"
        log.info(
            "faultproxy.started",
            extra={"endpoint": self._endpoint, "upstream": self.upstream, **self._plan_fields()},
        )
        return self._endpoint

    def _run(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[int]) -> None:
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self._host, self._port, limit=wire.MAX_HEAD_BYTES)
            )
        except OSError as exc:
            ready.set_exception(
                FaultProxyError(f"cannot listen on {self._host}:{self._port}: {exc.strerror}")
            )
            loop.close()
            return
        ready.set_result(self._server.sockets[0].getsockname()[1])
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        """Close the listener and every connection, stop the thread; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            future.result(_STOP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)
        self._loop = self._thread = None
        log.info(
            "faultproxy.stopped",
            extra={"endpoint": self._endpoint, "faults_fired": self.recorder.fired_counts()},
        )
        self._endpoint = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- plan and records -----------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        """The plan in force."""
        return self._injector.plan

    def set_plan(self, plan: Plan) -> None:
        """Replace the plan (fresh counters and random streams); safe from any thread.

        Calls already past their decision finish under the old plan.
        """
        self._injector = Injector(plan)  # one reference swap: atomic for the loop thread
        log.info("faultproxy.plan_set", extra=self._plan_fields())

    def _plan_fields(self) -> dict[str, Any]:
        plan = self._injector.plan
        return {"plan": plan.name, "rules": len(plan.rules), "seed": plan.seed}

    def fired(self) -> list[FiredFault]:
        """Every fault fired so far, across plans."""
        return self.recorder.faults()

    def fired_counts(self) -> dict[str, int]:
        """Fired faults per kind: the report's ``faults_fired``."""
        return self.recorder.fired_counts()

    def records(self) -> list[CallRecord]:
        """Every call seen so far (empty when the recorder does not record calls)."""
        return self.recorder.calls()

    # -- serving --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        upstream = _Upstream(self._up_host, self._up_port, self._timeout_s)
        try:
            while True:
                request = await wire.read_request(reader, writer)
                if request is None or not await self._handle(request, upstream, reader, writer):
                    break
        except (wire.WireError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away or spoke garbage: nothing left to answer
        except asyncio.CancelledError:
            pass  # stop(): ending quietly keeps asyncio from logging the cancelled task
        finally:
            upstream.close()
            if not writer.is_closing():
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _handle(
        self,
        request: wire.Request,
        upstream: _Upstream,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        call = protocol.identify(request)
        started_at = time.time()
        t0 = time.perf_counter()
        decision = self._injector.decide(call.service, call.operation)
        for fire in decision.latency:
            latency = fire.rule.latency
            assert latency is not None
            self._fired(
                call, fire, {"delay_ms": round(fire.delay_s * 1000, 3), **latency.describe()}
            )
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        action = decision.action
        if action is None:
            response = await self._forward(call, request, upstream)
            outcome = _Outcome(
                response.status, True, request.keep_alive and response.keep_alive, response
            )
            # Recorded before the client gets its answer: whoever holds a response can read
            # the record of the call that produced it.
            if self.recorder.calls_enabled:
                self._record(call, started_at, t0, outcome, action)
            await self._send(writer, response)
            return outcome.keep_alive
        outcome = await self._apply(call, request, action, upstream, reader=reader, writer=writer)
        if self.recorder.calls_enabled:
            self._record(call, started_at, t0, outcome, action)
        return outcome.keep_alive

    async def _forward(
        self, call: Call, request: wire.Request, upstream: _Upstream
    ) -> wire.Response:
        try:
            return await upstream.exchange(request)
        except UpstreamError as exc:
            log.warning(
                "faultproxy.upstream_error",
                extra={"upstream": self.upstream, "operation": call.operation, "error": str(exc)},
            )
            status = 504 if isinstance(exc, UpstreamTimeout) else 502
            return protocol.gateway_error_response(call, status, str(exc))

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, response: wire.Response) -> None:
        writer.write(response.raw)
        await writer.drain()

    async def _apply(
        self,
        call: Call,
        request: wire.Request,
        action: Fire,
        upstream: _Upstream,
        *,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> _Outcome:
        rule = action.rule
        kind = rule.fault
        if kind in _SYNTHESIZED:
            reply = self._synthesize(call, kind, rule.code, rule.reason)
            detail: dict[str, Any] = {"status": reply.status}
            if kind is FaultKind.ACK_DROPPED:
                handles = protocol.request_receipt_handles(call)
                detail["receipt_handles"] = handles
                detail["message_ids"] = list(self.recorder.message_ids_for(handles))
            else:
                detail["code"] = _error_code(reply)
            self._fired(call, action, detail)
            await self._send(writer, reply)
            return _Outcome(reply.status, False, request.keep_alive)
        if kind is FaultKind.RESET_BEFORE:
            self._fired(call, action, {})
            _reset(writer)
            return _Outcome(None, False, False)
        if kind is FaultKind.STALL:
            assert rule.stall_s is not None
            self._fired(call, action, {"stall_s": rule.stall_s})
            with contextlib.suppress(TimeoutError, ConnectionError):
                # Ends early when the client gives up (its read timeout) and closes.
                await asyncio.wait_for(reader.read(1), rule.stall_s)
            writer.close()
            return _Outcome(None, False, False)
        # Forward first, then fail the answer: the upstream applied the call.
        response = await self._forward(call, request, upstream)
        detail = {"upstream_status": response.status}
        if kind is FaultKind.LOST_RECEIVE and response.status == 200:
            pairs = protocol.received_messages(call, response.body)
            detail["message_ids"] = [m for m, _ in pairs]
        fail_with = FAIL_RESET if kind is FaultKind.RESET_AFTER else rule.fail_with
        if fail_with == FAIL_RESET:
            self._fired(call, action, {**detail, "fail_with": FAIL_RESET})
            _reset(writer)
            return _Outcome(None, True, False, response)
        assert isinstance(fail_with, int)
        reply = protocol.server_error_response(call, fail_with)
        self._fired(call, action, {**detail, "fail_with": fail_with, "code": _error_code(reply)})
        await self._send(writer, reply)
        return _Outcome(reply.status, True, request.keep_alive, response)

    @staticmethod
    def _synthesize(
        call: Call, kind: FaultKind, code: str | None, reason: str | None
    ) -> wire.Response:
        if kind is FaultKind.ERROR_500:
            return protocol.server_error_response(call, 500)
        if kind is FaultKind.ERROR_503:
            return protocol.server_error_response(call, 503)
        if kind is FaultKind.THROTTLE:
            assert code is not None
            return protocol.throttle_response(call, code)
        if kind is FaultKind.ACK_DROPPED:
            return protocol.ack_response(call)
        if kind is FaultKind.TRANSACTION_CANCELED:
            assert reason is not None
            return protocol.transaction_canceled_response(call, reason)
        return protocol.conditional_check_failed_response(call)

    def _fired(self, call: Call, fire: Fire, detail: dict[str, Any]) -> None:
        record = FiredFault(
            ts=time.time(),
            service=call.service,
            operation=call.operation,
            kind=fire.rule.fault.value,
            rule=fire.rule.label,
            count=fire.count,
            plan=fire.plan,
            detail=detail,
        )
        self.recorder.add_fault(record)
        log.info(
            "fault.fired",
            extra={
                "service": record.service,
                "operation": record.operation,
                "kind": record.kind,
                "rule": record.rule,
                "fire_count": record.count,
            },
        )

    def _record(
        self, call: Call, started_at: float, t0: float, outcome: _Outcome, action: Fire | None
    ) -> None:
        queue_url: str | None = None
        ids: tuple[str, ...] = ()
        handles: tuple[str, ...] = ()
        if call.service == SQS:
            queue_url = protocol.queue_url(call)
            answer = outcome.upstream
            ok = answer is not None and answer.status == 200
            if call.operation == protocol.RECEIVE_MESSAGE and ok and answer is not None:
                pairs = protocol.received_messages(call, answer.body)
                self.recorder.remember_handles(pairs)
                ids = tuple(m for m, _ in pairs)
                handles = tuple(h for _, h in pairs)
            elif call.operation in protocol.SEND_OPS and ok and answer is not None:
                ids = tuple(protocol.sent_message_ids(call, answer.body))
            elif call.operation in protocol.HANDLE_OPS:
                handles = tuple(protocol.request_receipt_handles(call))
                ids = self.recorder.message_ids_for(handles)
        self.recorder.add_call(
            CallRecord(
                ts=started_at,
                service=call.service,
                operation=call.operation,
                protocol=call.protocol.value,
                status=outcome.status,
                latency_ms=round((time.perf_counter() - t0) * 1000, 3),
                forwarded=outcome.forwarded,
                fault=action.rule.fault.value if action else None,
                queue_url=queue_url,
                message_ids=ids,
                receipt_handles=handles,
            )
        )


def _error_code(response: wire.Response) -> str:
    """The error code a synthesized answer carries, for the fired record ('' for a 200)."""
    if response.status == 200:
        return ""
    query_error = response.headers.get("x-amzn-query-error")
    if query_error:
        return query_error.split(";", 1)[0]
    text = response.body.decode("utf-8", "replace")
    if "<Code>" in text:
        return text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    marker = '"__type":"'
    if marker in text:
        return text.split(marker, 1)[1].split('"', 1)[0].rsplit("#", 1)[-1]
    return ""
