"""The fault proxy: an HTTP/1.1 relay between AWS clients and an endpoint that applies a plan's
faults and records what it saw.

It runs an asyncio loop (uvloop's when installed) in its own thread, so a test, the scenario
engine or the CLI can start it in-process, swap plans between phases and read its records while
clients talk through it. Each client connection gets its own upstream connection; requests and
answers are relayed byte for byte, so the proxy adds one loopback hop and a header parse to a
call.

The relay is built for a small overhead (issue 16): asyncio protocols, not streams, and a call
that no rule of the plan can touch is relayed from the protocols' callbacks without a task, a
future or a parse of its body - unless call records are kept, which need the operation. Only a
call a rule fired on runs as a task (:meth:`FaultProxy._handle`).
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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import urlsplit

from local.faultproxy import protocol, wire
from local.faultproxy.errors import FaultProxyError, UpstreamError, UpstreamTimeout
from local.faultproxy.inject import PASS, Decision, Fire, Injector
from local.faultproxy.plan import FAIL_RESET, FaultKind, Plan
from local.faultproxy.protocol import SQS, Call
from local.faultproxy.records import CallRecord, FiredFault, Recorder

log = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"
#: longer than SQS's 20 s long poll with room to spare; a slower upstream gets a 504
DEFAULT_UPSTREAM_TIMEOUT_S: Final = 120.0
_CONNECT_TIMEOUT_S: Final = 10.0
_STOP_TIMEOUT_S: Final = 10.0
#: a deadline timer may fire this early (uvloop rounds its delays to milliseconds)
_TIMER_SLACK_S: Final = 0.001
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


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (less CPU per relayed call), else the stdlib's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


#: what an upstream exchange ends with: the answer, or why there is none
Answer = wire.Response | UpstreamError
OnAnswer = Callable[[Answer], None]


class _UpstreamConnection(asyncio.Protocol):
    """One TCP connection to the upstream, carrying one exchange at a time."""

    def __init__(self, owner: _Upstream) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buffer = wire.Buffer()
        self.open = False
        self.reused = False
        self._method = ""
        self._on_answer: OnAnswer | None = None
        self._on_stale: Callable[[], None] | None = None
        # One timer per connection, not one per exchange: an exchange only moves the deadline,
        # and the timer re-arms itself for the later deadline when it fires (issue 16: a timer
        # made and cancelled per call was about a tenth of the relay's own time per call).
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._answering = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.open = True

    def exchange(
        self, request: wire.Request, on_answer: OnAnswer, on_stale: Callable[[], None] | None
    ) -> None:
        """Send ``request``; ``on_answer`` gets the answer, or ``on_stale`` (if given) is called
        instead when a kept-alive connection turns out closed before a single byte of answer."""
        assert self.transport is not None
        self._method = request.method
        self._on_answer, self._on_stale = on_answer, on_stale
        self._answering = False
        loop = self.owner.loop
        self._deadline = deadline = loop.time() + self.owner.timeout_s
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._check_deadline)
        self.transport.write(request.raw)

    def data_received(self, data: bytes) -> None:
        self.buffer.feed(data)
        if self._on_answer is None:
            return  # an answer nobody asked for: dropped with the connection on the next call
        self._answering = True
        self._take(eof=False)

    def eof_received(self) -> bool:
        self.open = False
        if self._on_answer is not None:
            self._take(eof=True)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self._on_answer is not None:
            self._closed_early(f"upstream connection failed: {exc or 'closed'}")
        self._stop_timer()

    def _take(self, *, eof: bool) -> None:
        try:
            response = self.buffer.take_response(self._method, eof=eof)
        except wire.ClosedBeforeAnswer as exc:
            self._closed_early(str(exc))
            return
        except wire.WireError as exc:
            self._finish(UpstreamError(f"upstream connection failed: {exc}"))
            self.close()
            return
        if response is None:
            return
        self._finish(response)
        if not response.keep_alive:
            self.close()

    def _closed_early(self, why: str) -> None:
        if self.reused and not self._answering and self._on_stale is not None:
            on_stale = self._on_stale
            self._clear()
            self.close()
            on_stale()
            return
        self._finish(UpstreamError(why))
        self.close()

    def _check_deadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._on_answer is None:
            return  # the exchange it was armed for is over, and no other is waiting
        remaining = deadline - self.owner.loop.time()
        if remaining > _TIMER_SLACK_S:  # armed for an earlier exchange: wait for this one's
            self._timer = self.owner.loop.call_at(deadline, self._check_deadline)
            return
        self._finish(UpstreamTimeout(f"no answer within {self.owner.timeout_s:g} s"))
        self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _clear(self) -> OnAnswer | None:
        on_answer = self._on_answer
        self._on_answer = self._on_stale = None
        self._deadline = None  # the timer stays armed: the next exchange reuses it
        return on_answer

    def _finish(self, answer: Answer) -> None:
        on_answer = self._clear()
        self.reused = True
        if on_answer is not None:
            on_answer(answer)

    def close(self, *, abandon: bool = False) -> None:
        """Close the connection; ``abandon`` also forgets the exchange in progress, if any."""
        self.open = False
        if abandon:
            self._clear()
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()


class _Upstream:
    """The upstream connection paired with one client connection, opened on first use."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int, timeout_s: float
    ) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._connection: _UpstreamConnection | None = None
        self._opening: asyncio.Task[None] | None = None
        self._closed = False

    def send(self, request: wire.Request, on_answer: OnAnswer) -> None:
        """Relay ``request``; ``on_answer`` gets the answer or an ``UpstreamError``.

        One retry, on a fresh connection, when a kept-alive one turned out to be closed by the
        upstream's idle timeout: the upstream closed without a single byte of answer. Never
        once an answer began.
        """
        connection = self._connection
        if connection is not None and connection.open:
            connection.exchange(request, on_answer, lambda: self._open_and_send(request, on_answer))
        else:
            self._open_and_send(request, on_answer)

    def _open_and_send(self, request: wire.Request, on_answer: OnAnswer) -> None:
        if self._closed:  # the client went away: nobody to answer
            return
        self._opening = self.loop.create_task(self._open(request, on_answer))

    async def _open(self, request: wire.Request, on_answer: OnAnswer) -> None:
        connection = _UpstreamConnection(self)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: connection, self.host, self.port),
                _CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            on_answer(UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc}"))
            return
        if self._closed:
            connection.close()
            return
        self._connection = connection
        connection.exchange(request, on_answer, None)  # a fresh connection is never retried

    async def exchange(self, request: wire.Request) -> wire.Response:
        """``send`` as a coroutine: the answer, or the ``UpstreamError`` raised."""
        future: asyncio.Future[Answer] = self.loop.create_future()

        def done(answer: Answer) -> None:
            if not future.done():
                future.set_result(answer)

        self.send(request, done)
        answer = await future
        if isinstance(answer, UpstreamError):
            raise answer
        return answer

    def close(self) -> None:
        """Close for good: the client connection it served is over."""
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
        if self._connection is not None:
            self._connection.close(abandon=True)
            self._connection = None


class _Client(asyncio.Protocol):
    """One client connection: cuts its bytes into requests and hands them to the proxy, one at
    a time (the next waits in the buffer until this one is answered)."""

    def __init__(self, proxy: FaultProxy, loop: asyncio.AbstractEventLoop) -> None:
        self.proxy = proxy
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = wire.Buffer()
        self.upstream = _Upstream(loop, proxy._up_host, proxy._up_port, proxy._timeout_s)
        self.busy = False
        self.eof = False
        self.lost = False
        self.task: asyncio.Task[Any] | None = None
        self._input: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.proxy._clients.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer.feed(data)
        self._poke()
        if not self.busy:
            self._next()

    def eof_received(self) -> bool:
        self.eof = True
        self._poke()
        if not self.busy:
            self._next()
        return True  # keep the transport: a call in progress still gets its answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._poke()
        self.upstream.close()
        if self.task is not None:
            self.task.cancel()
        self.proxy._clients.discard(self)

    def _poke(self) -> None:
        if self._input is not None and not self._input.done():
            self._input.set_result(None)

    def _next(self) -> None:
        try:
            request = self.buffer.take_request(self._continue, eof=self.eof)
        except wire.WireError:
            self.close()  # the client spoke garbage: nothing left to answer
            return
        if request is None:
            if self.eof:
                self.close()
            return
        self.busy = True
        self.proxy._dispatch(self, request)

    def _continue(self) -> None:
        self.write(wire.CONTINUE)

    def write(self, data: bytes) -> None:
        """Send bytes to the client, unless it is gone."""
        if self.transport is not None and not self.lost and not self.transport.is_closing():
            self.transport.write(data)

    def done(self, keep_alive: bool) -> None:
        """The call in progress is over: read the next one, or close."""
        self.busy = False
        self.task = None
        if not keep_alive or self.lost:
            self.close()
        elif self.buffer.data or self.eof:
            self._next()

    async def wait_input(self, timeout_s: float) -> None:
        """Until the client sends a byte or closes, at most ``timeout_s``."""
        if self.lost or self.eof:
            return
        self._input = self.loop.create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._input, timeout_s)
        self._input = None

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), like a dropped link."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def close(self) -> None:
        self.upstream.close()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


@dataclass(slots=True)
class _Outcome:
    status: int | None
    forwarded: bool
    keep_alive: bool
    upstream: wire.Response | None = None


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
        self._clients: set[_Client] = set()
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
        loop = _new_loop()
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
                loop.create_server(lambda: _Client(self, loop), self._host, self._port)
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
        clients = list(self._clients)
        tasks = [c.task for c in clients if c.task is not None]
        for task in tasks:
            task.cancel()
        for client in clients:
            client.close()
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

    def _dispatch(self, client: _Client, request: wire.Request) -> None:
        """Decide a call's fate; relay it from callbacks unless a rule fired on it."""
        injector = self._injector
        recording = self.recorder.calls_enabled
        if not recording and not injector.plan.rules:
            # The fast path: no rule can touch the call and nobody reads its record, so
            # which operation it is does not matter.
            client.upstream.send(request, partial(self._relayed, client, request, None))
            return
        call = protocol.identify(request)
        started_at = time.time()
        t0 = time.perf_counter()
        decision = injector.decide(call.service, call.operation)
        if decision is PASS:
            client.upstream.send(
                request, partial(self._relayed, client, request, call, started_at=started_at, t0=t0)
            )
            return
        client.task = client.loop.create_task(
            self._handle(client, request, call, decision, started_at=started_at, t0=t0)
        )

    def _relayed(
        self,
        client: _Client,
        request: wire.Request,
        call: Call | None,
        answer: Answer,
        *,
        started_at: float = 0.0,
        t0: float = 0.0,
    ) -> None:
        """The upstream's answer to a call no rule fired on: record it, relay it."""
        if isinstance(answer, UpstreamError):
            call = call or protocol.identify(request)
            answer = self._gateway_error(call, answer)
        keep_alive = request.keep_alive and answer.keep_alive
        # Recorded before the client gets its answer: whoever holds a response can read
        # the record of the call that produced it.
        if call is not None and self.recorder.calls_enabled:
            self._record(
                call, started_at, t0, _Outcome(answer.status, True, keep_alive, answer), None
            )
        client.write(answer.raw)
        client.done(keep_alive)

    async def _handle(
        self,
        client: _Client,
        request: wire.Request,
        call: Call,
        decision: Decision,
        *,
        started_at: float,
        t0: float,
    ) -> None:
        """A call some rule fired on: its latency, then its fault (or its relay)."""
        keep_alive = False
        try:
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
                response = await self._forward(call, request, client.upstream)
                outcome = _Outcome(
                    response.status, True, request.keep_alive and response.keep_alive, response
                )
                if self.recorder.calls_enabled:
                    self._record(call, started_at, t0, outcome, action)
                client.write(response.raw)
            else:
                outcome = await self._apply(call, request, action, client)
                if self.recorder.calls_enabled:
                    self._record(call, started_at, t0, outcome, action)
            keep_alive = outcome.keep_alive
        except asyncio.CancelledError:
            pass  # stop() or the client went away: ending quietly keeps asyncio from logging it
        finally:
            client.done(keep_alive)

    def _gateway_error(self, call: Call, exc: UpstreamError) -> wire.Response:
        log.warning(
            "faultproxy.upstream_error",
            extra={"upstream": self.upstream, "operation": call.operation, "error": str(exc)},
        )
        status = 504 if isinstance(exc, UpstreamTimeout) else 502
        return protocol.gateway_error_response(call, status, str(exc))

    async def _forward(
        self, call: Call, request: wire.Request, upstream: _Upstream
    ) -> wire.Response:
        try:
            return await upstream.exchange(request)
        except UpstreamError as exc:
            return self._gateway_error(call, exc)

    async def _apply(
        self, call: Call, request: wire.Request, action: Fire, client: _Client
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
            client.write(reply.raw)
            return _Outcome(reply.status, False, request.keep_alive)
        if kind is FaultKind.RESET_BEFORE:
            self._fired(call, action, {})
            client.reset()
            return _Outcome(None, False, False)
        if kind is FaultKind.STALL:
            assert rule.stall_s is not None
            self._fired(call, action, {"stall_s": rule.stall_s})
            # Ends early when the client gives up (its read timeout) and closes.
            await client.wait_input(rule.stall_s)
            return _Outcome(None, False, False)
        # Forward first, then fail the answer: the upstream applied the call.
        response = await self._forward(call, request, client.upstream)
        detail = {"upstream_status": response.status}
        if kind is FaultKind.LOST_RECEIVE and response.status == 200:
            pairs = protocol.received_messages(call, response.body)
            detail["message_ids"] = [m for m, _ in pairs]
        fail_with = FAIL_RESET if kind is FaultKind.RESET_AFTER else rule.fail_with
        if fail_with == FAIL_RESET:
            self._fired(call, action, {**detail, "fail_with": FAIL_RESET})
            client.reset()
            return _Outcome(None, True, False, response)
        assert isinstance(fail_with, int)
        reply = protocol.server_error_response(call, fail_with)
        self._fired(call, action, {**detail, "fail_with": fail_with, "code": _error_code(reply)})
        client.write(reply.raw)
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
        if call.invocation_id is not None:
            # which SDK invocation and attempt the fault hit: a later attempt of it is a retry
            detail = {**detail, "invocation_id": call.invocation_id, "attempt": call.attempt}
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
                sdk_invocation_id=call.invocation_id,
                sdk_request=call.sdk_request,
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
