"""The fault proxy: an HTTP/1.1 relay between AWS clients and an endpoint that applies a plan's
faults and records what it saw.

It serves from background threads, so a test, the scenario engine or the CLI can start it
in-process, swap plans between phases and read its records while clients talk through it: one
thread accepts, and each client connection gets its own thread and its own upstream connection,
opened on first use. Requests and answers are relayed byte for byte, so the proxy adds one
loopback hop and the framing of each message (:mod:`local.faultproxy.wire`) to a call.

The relay is built for a small overhead (issue 16). Its sockets block: a thread waiting in
``recv`` is woken by the kernel with the bytes, where an event loop runs a poll, a callback and
a timer per message; a call that no rule of the plan can touch and whose record nobody keeps is
not even identified, only framed. The upstream timeout is the kernel's (``SO_RCVTIMEO``), not
a timer. ``stop()`` shuts every socket down (``shutdown`` wakes a thread blocked in ``recv``,
where ``close`` from another thread does not) and joins the threads, with a bound.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

from local.faultproxy import fastpath, protocol, wire
from local.faultproxy.errors import FaultProxyError, UpstreamError, UpstreamTimeout
from local.faultproxy.fastpath import FastConnection
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
_BACKLOG: Final = 128
#: bytes asked of one ``recv``: a whole AWS message, most often
_READ_SIZE: Final = 256 * 1024
#: the rest of an answer read this soon after the exchange began keeps the full timeout: the
#: exchange's deadline may pass by this much, and a read right after the first costs no syscall
_DEADLINE_SLACK_S: Final = 0.05
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


def _timeval(seconds: float) -> bytes:
    """A ``struct timeval`` for SO_RCVTIMEO / SO_SNDTIMEO (never zero: zero means no limit)."""
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    return struct.pack("@ll", whole, micros if whole or micros else 1)


#: what an upstream exchange ends with: the answer, or why there is none
Answer = wire.Response | UpstreamError


class _Stale(Exception):
    """A kept-alive upstream connection turned out closed before a single byte of answer."""


@dataclass(slots=True)
class _Outcome:
    """How a call ended: what the client got (``reply`` bytes, a reset, or nothing)."""

    status: int | None
    forwarded: bool
    keep_alive: bool
    upstream: wire.Response | None = None
    reply: bytes | None = None
    reset: bool = False


class _Connection:
    """One client connection and the upstream connection paired with it, served by one thread,
    one call at a time (a pipelined next request waits in the buffer until this one is
    answered)."""

    def __init__(
        self, proxy: FaultProxy, client: socket.socket, number: int, stopping: threading.Event
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.stopping = stopping
        self.requests = wire.Buffer()
        self.answers = wire.Buffer()
        self.upstream: socket.socket | None = None
        self.eof = False
        self.aborted = False
        self._closed = False
        self.timeout_s = proxy._timeout_s
        self._read_timeout_s = 0.0
        # Guards the sockets against stop(): only this connection's thread closes them, and
        # stop() shuts down only those still open (never a descriptor already reused).
        self._lock = threading.Lock()
        switch = proxy._fast
        #: this connection's state in the compiled fast path (None: Python relays every call)
        self.fast = None if switch is None else switch.connection(client.fileno(), self.timeout_s)
        self.thread = threading.Thread(
            target=self._run, name=f"faultproxy-conn-{number}", daemon=True
        )

    def _run(self) -> None:
        try:
            self._serve()
        except OSError:
            pass  # the client went away, or stop() shut the connection down
        except Exception:
            # A bug, not the client: logged, and never raised out of the thread.
            log.exception("faultproxy.connection_failed")
        finally:
            self.close()
            if self.fast is not None:
                self.fast.release()
            self.proxy._forget(self)

    def _serve(self) -> None:
        proxy = self.proxy
        recorder = proxy.recorder
        requests = self.requests
        take = requests.take_request
        recv = self.client.recv
        send = self.client.sendall
        on_continue = self._continue
        fast = self.fast
        python_turn = True  # the first call opens the upstream connection, in Python
        while True:
            if fast is not None and not python_turn and self._compiled_can_serve():
                # Calls no rule can touch, relayed in C until one is Python's.
                python_turn = True
                if not self._relay_compiled(fast):
                    return
                continue
            if requests.data or self.eof:
                try:
                    request = take(on_continue, eof=self.eof)
                except wire.WireError:
                    return  # the client spoke garbage: nothing left to answer
                if request is not None:
                    python_turn = False
                    if recorder.calls_enabled or proxy._injector.plan.rules:
                        keep_alive = proxy._serve_call(self, request)
                    else:
                        keep_alive = self._relay(request, send)
                    if not keep_alive or self.aborted:
                        return
                    continue
                if self.eof:
                    return  # a clean close between requests
            data = recv(_READ_SIZE)
            if data:
                requests.feed(data)
            else:
                self.eof = True

    def _compiled_can_serve(self) -> bool:
        """Whether the compiled fast path may take the connection now: it is on, the upstream
        is open, and no byte is half-framed on either side."""
        switch = self.proxy._fast
        return (
            switch is not None
            and switch.on
            and self.upstream is not None
            and not self.eof
            and self.requests.between_messages
            and not self.answers.data
        )

    def _relay(self, request: wire.Request, send: Callable[[bytes], None]) -> bool:
        """Relay a call that no rule can touch and nobody records, so which operation it is
        does not matter; whether the connection stays open."""
        answer = self.exchange(request)
        if isinstance(answer, UpstreamError):
            if self.aborted:
                return False  # stop(): not an upstream failure worth a warning
            return self._answer_failure(request, answer)
        send(answer.raw)
        return request.keep_alive and answer.keep_alive

    def _answer_failure(self, request: wire.Request, error: UpstreamError) -> bool:
        """Answer a relayed call whose upstream failed with its 502/504; whether the
        connection stays open."""
        answer = self.proxy._gateway_error(protocol.identify(request), error)
        self.send(answer.raw)
        return request.keep_alive and answer.keep_alive

    def _relay_compiled(self, fast: FastConnection) -> bool:
        """Hand the connection to the compiled fast path until a call is Python's; whether
        the connection goes on (in Python, for at least one call)."""
        upstream = self.upstream
        assert upstream is not None
        if self._read_timeout_s != self.timeout_s:
            self._set_read_timeout(upstream, self.timeout_s)
        event, pending, reason = fast.serve(upstream.fileno(), self.requests.hand_over())
        self.requests.feed(pending)
        if self.aborted or event in (fastpath.CLIENT_ERROR, fastpath.CLOSE):
            return False
        if event == fastpath.EOF:
            self.eof = True
        elif event == fastpath.UPSTREAM_SPOILED:
            self._spoiled()
        elif event == fastpath.STALE:
            self._close_upstream()  # Python's exchange retries it on a fresh connection
        elif event in (fastpath.UPSTREAM_ERROR, fastpath.UPSTREAM_TIMEOUT):
            # The request went out and the upstream failed: answered here, as Python would.
            self._close_upstream()
            request = self.requests.take_request()
            assert request is not None, "the fast path returns a failed request whole"
            failed = UpstreamTimeout if event == fastpath.UPSTREAM_TIMEOUT else UpstreamError
            return self._answer_failure(request, failed(reason))
        return True

    def _continue(self) -> None:
        self.client.sendall(wire.CONTINUE)

    def send(self, data: bytes) -> None:
        """Send bytes to the client (an OSError ends the connection: the client is gone)."""
        self.client.sendall(data)

    # -- upstream ---------------------------------------------------------------------------

    def exchange(self, request: wire.Request) -> Answer:
        """Relay ``request`` upstream: its answer, or the ``UpstreamError`` why there is none.

        One retry, on a fresh connection, when a kept-alive one turned out to be closed by the
        upstream's idle timeout: the upstream closed without a single byte of answer. Never
        once an answer began.
        """
        if self.upstream is not None:
            try:
                return self._exchange(self.upstream, request, reused=True)
            except _Stale:
                self._close_upstream()
        try:
            upstream = self._open()
            return self._exchange(upstream, request, reused=False)
        except UpstreamError as exc:
            return exc

    def _open(self) -> socket.socket:
        host, port = self.proxy._up_host, self.proxy._up_port
        try:
            upstream = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {host}:{port}: {exc}") from exc
        timeout_s = self.timeout_s
        try:
            upstream.settimeout(None)  # blocking: the kernel's timeouts below, no poll per recv
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(timeout_s))
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(timeout_s))
        except OSError as exc:
            upstream.close()
            raise UpstreamError(f"cannot connect to {host}:{port}: {exc}") from exc
        with self._lock:
            if self._closed or self.aborted:
                upstream.close()
                raise UpstreamError("the fault proxy is stopping")
            self.upstream = upstream
        self.answers = wire.Buffer()
        self._read_timeout_s = timeout_s
        return upstream

    def _set_read_timeout(self, upstream: socket.socket, seconds: float) -> None:
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        self._read_timeout_s = seconds

    def _exchange(  # noqa: PLR0912 - the relay's hot path, kept in one frame (issue 16)
        self, upstream: socket.socket, request: wire.Request, *, reused: bool
    ) -> Answer:
        """One exchange on ``upstream``: the answer, or the ``UpstreamError`` why there is
        none; raises ``_Stale`` for the retry (``reused`` only)."""
        timeout_s = self.timeout_s
        started = time.monotonic()
        if self._read_timeout_s != timeout_s:
            self._set_read_timeout(upstream, timeout_s)
        answers = self.answers
        method = request.method
        answering = eof = False
        try:
            upstream.sendall(request.raw)
            while True:
                if answers.data or eof:
                    response = answers.take_response(method, eof=eof)
                    if response is not None:
                        if answers.data:
                            self._spoiled()
                        elif not response.keep_alive:
                            self._close_upstream()
                        return response
                if answering:  # the rest of an answer: within what is left of the deadline
                    elapsed = time.monotonic() - started
                    if elapsed >= timeout_s:
                        raise UpstreamTimeout(f"no answer within {timeout_s:g} s")
                    if elapsed > _DEADLINE_SLACK_S:
                        self._set_read_timeout(upstream, timeout_s - elapsed)
                data = upstream.recv(_READ_SIZE)
                if data:
                    answering = True
                    answers.feed(data)
                else:
                    eof = True
        except UpstreamError as exc:
            failure = exc
        except BlockingIOError:  # SO_SNDTIMEO / SO_RCVTIMEO ran out
            failure = UpstreamTimeout(f"no answer within {timeout_s:g} s")
        except wire.ClosedBeforeAnswer as exc:
            if reused and not answering:
                raise _Stale from exc
            failure = UpstreamError(str(exc))
        except (wire.WireError, OSError) as exc:
            if reused and not answering and isinstance(exc, OSError):
                raise _Stale from exc
            failure = UpstreamError(f"upstream connection failed: {exc}")
        self._close_upstream()
        return failure

    def _spoiled(self) -> None:
        """The upstream sent bytes after a whole answer that no request asked for: taken as
        the next answer, they would answer the wrong call. Its connection is closed and the
        bytes dropped; the next call gets a fresh connection."""
        log.warning("faultproxy.upstream_extra_bytes", extra={"upstream": self.proxy.upstream})
        self._close_upstream()
        self.answers = wire.Buffer()

    def _close_upstream(self) -> None:
        with self._lock:
            upstream, self.upstream = self.upstream, None
            if upstream is not None:
                upstream.close()

    # -- faults and shutdown ----------------------------------------------------------------

    def wait_input(self, timeout_s: float) -> None:
        """Until the client sends a byte or closes, at most ``timeout_s`` (stop() ends it)."""
        if self.eof:
            return
        poller = select.poll()
        poller.register(self.client, select.POLLIN | select.POLLHUP | select.POLLERR)
        poller.poll(timeout_s * 1000)

    def reset(self) -> None:
        """Abort the client connection with a TCP RST (SO_LINGER 0), like a dropped link."""
        with self._lock:
            if not self._closed:
                with contextlib.suppress(OSError):
                    self.client.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
        self.close()

    def close(self) -> None:
        """Close both sockets (this connection's thread only); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            upstream, self.upstream = self.upstream, None
            self.client.close()
            if upstream is not None:
                upstream.close()

    def abort(self) -> None:
        """From stop(): shut both sockets down, which wakes the thread wherever it blocks."""
        with self._lock:
            self.aborted = True
            if self._closed:
                return
            for sock in (self.client, self.upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


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
        compiled: bool | None = None,
    ) -> None:
        """``compiled``: whether calls no rule can touch are relayed by the compiled fast path
        (:mod:`local.faultproxy.fastpath`): True needs it, False refuses it, None follows
        ``SQSKIT_PROXY_FASTPATH`` (by default, used where it builds). A proxy that records
        calls relays in Python whatever it says."""
        self.upstream = upstream.rstrip("/")
        self._up_host, self._up_port = parse_upstream(self.upstream)
        self.recorder = recorder if recorder is not None else Recorder()
        self._injector = Injector(plan or Plan())
        self._fast = fastpath.switch_for(compiled, records=self.recorder.calls_enabled)
        self._update_fast()
        self._host = host
        self._port = port
        self._timeout_s = upstream_timeout_s
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[_Connection] = set()
        self._opened = 0
        self._lock = threading.Lock()  # the connections, against stop()
        self._decide_lock = threading.Lock()  # a plan's counters and random streams
        self._endpoint: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the running proxy."""
        if self._endpoint is None:
            raise FaultProxyError("the fault proxy is not running: call start() first")
        return self._endpoint

    def start(self) -> str:
        """Listen and serve from background threads; returns the endpoint URL."""
        if self._accepting is not None:
            raise FaultProxyError("the fault proxy is already running")
        listener = self._listen()
        stopping = self._stopping = threading.Event()
        thread = threading.Thread(
            target=self._accept, args=(listener, stopping), name="faultproxy-accept", daemon=True
        )
        self._listener, self._accepting = listener, thread
        thread.start()
        self._endpoint = f"http://{self._host}:{listener.getsockname()[1]}"
        log.info(
            "faultproxy.started",
            extra={
                "endpoint": self._endpoint,
                "upstream": self.upstream,
                "engine": self.engine,
                **self._plan_fields(),
            },
        )
        return self._endpoint

    def _listen(self) -> socket.socket:
        where = f"{self._host}:{self._port}"
        try:
            found = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            # IPv4 first, as a client resolving "localhost" most often tries it first
            family, _, _, _, address = min(found, key=lambda f: f[0] != socket.AF_INET)
            listener = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            raise FaultProxyError(f"cannot listen on {where}: {exc.strerror}") from exc
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(_BACKLOG)
        except OSError as exc:
            listener.close()
            raise FaultProxyError(f"cannot listen on {where}: {exc.strerror}") from exc
        return listener

    def _accept(self, listener: socket.socket, stopping: threading.Event) -> None:
        try:
            while True:
                try:
                    client, _ = listener.accept()
                except OSError as exc:
                    if stopping.is_set():
                        return
                    # out of descriptors, say: wait a little rather than spin
                    log.warning("faultproxy.accept_failed", extra={"error": str(exc)})
                    if stopping.wait(0.1):
                        return
                    continue
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    if stopping.is_set():
                        client.close()
                        return
                    self._opened += 1
                    connection = _Connection(self, client, self._opened, stopping)
                    self._connections.add(connection)
                    connection.thread.start()  # under the lock: stop() joins only started ones
        except Exception:
            log.exception("faultproxy.accept_failed")

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def stop(self) -> None:
        """Close the listener and every connection, join the threads (bounded); idempotent."""
        listener, accepting = self._listener, self._accepting
        if listener is None or accepting is None:
            return
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        with self._lock:  # no connection registers after this
            self._stopping.set()
            connections = list(self._connections)
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        for connection in connections:
            connection.abort()
        accepting.join(1.0)
        if accepting.is_alive():  # where shutdown does not wake accept(): connect to wake it
            with (
                contextlib.suppress(OSError),
                socket.create_connection(listener.getsockname()[:2], timeout=1.0),
            ):
                pass
        accepting.join(max(0.0, deadline - time.monotonic()))
        listener.close()
        for connection in connections:
            connection.thread.join(max(0.0, deadline - time.monotonic()))
        self._listener = self._accepting = None
        log.info(
            "faultproxy.stopped",
            extra={
                "endpoint": self._endpoint,
                "faults_fired": self.recorder.fired_counts(),
                "compiled_calls": self.compiled_calls(),
            },
        )
        self._endpoint = None

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
        self._injector = Injector(plan)  # one reference swap: atomic for the serving threads
        self._update_fast()
        log.info("faultproxy.plan_set", extra=self._plan_fields())

    def _update_fast(self) -> None:
        # The compiled path relays bytes only: on while no rule can fire.
        if self._fast is not None:
            self._fast.set(not self._injector.plan.rules)

    @property
    def engine(self) -> str:
        """``compiled`` when calls no rule can touch are relayed in C, else ``python``."""
        return "python" if self._fast is None else "compiled"

    def compiled_calls(self) -> int:
        """Calls relayed by the compiled fast path so far (0 without it)."""
        return 0 if self._fast is None else self._fast.relayed

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

    def _serve_call(self, connection: _Connection, request: wire.Request) -> bool:
        """Identify a call, decide its fate and serve it (the connection relays a call that
        no rule can touch and nobody records itself); whether the connection stays open."""
        injector = self._injector
        recording = self.recorder.calls_enabled
        call = protocol.identify(request)
        started_at = time.time()
        t0 = time.perf_counter()
        with self._decide_lock:
            decision = injector.decide(call.service, call.operation)
        if decision is not PASS:
            return self._handle(connection, request, call, decision, started_at=started_at, t0=t0)
        answer = connection.exchange(request)
        if isinstance(answer, UpstreamError):
            if connection.aborted:
                return False  # stop(): not an upstream failure worth a warning
            answer = self._gateway_error(call, answer)
        keep_alive = request.keep_alive and answer.keep_alive
        if recording and not connection.aborted:
            # Recorded before the client gets its answer: whoever holds a response can read
            # the record of the call that produced it.
            self._record(call, started_at, t0, _Outcome(answer.status, True, keep_alive, answer))
        connection.send(answer.raw)
        return keep_alive

    def _handle(
        self,
        connection: _Connection,
        request: wire.Request,
        call: Call,
        decision: Decision,
        *,
        started_at: float,
        t0: float,
    ) -> bool:
        """A call some rule fired on: its latency, then its fault (or its relay)."""
        for fire in decision.latency:
            latency = fire.rule.latency
            assert latency is not None
            self._fired(
                call, fire, {"delay_ms": round(fire.delay_s * 1000, 3), **latency.describe()}
            )
        if decision.delay_s > 0 and connection.stopping.wait(decision.delay_s):
            return False  # stop(): the call ends with the proxy
        action = decision.action
        if action is None:
            response = self._forward(call, request, connection)
            keep_alive = request.keep_alive and response.keep_alive
            outcome = _Outcome(response.status, True, keep_alive, response, reply=response.raw)
        else:
            outcome = self._apply(call, request, action, connection)
        if connection.aborted:
            return False
        if self.recorder.calls_enabled:
            self._record(call, started_at, t0, outcome, action)
        if outcome.reset:
            connection.reset()
            return False
        if outcome.reply is not None:
            connection.send(outcome.reply)
        return outcome.keep_alive

    def _gateway_error(self, call: Call, exc: UpstreamError) -> wire.Response:
        """The 502/504 a client gets for ``exc``, logged."""
        log.warning(
            "faultproxy.upstream_error",
            extra={"upstream": self.upstream, "operation": call.operation, "error": str(exc)},
        )
        status = 504 if isinstance(exc, UpstreamTimeout) else 502
        return protocol.gateway_error_response(call, status, str(exc))

    def _forward(self, call: Call, request: wire.Request, connection: _Connection) -> wire.Response:
        answer = connection.exchange(request)
        if isinstance(answer, UpstreamError):
            return self._gateway_error(call, answer)
        return answer

    def _apply(
        self, call: Call, request: wire.Request, action: Fire, connection: _Connection
    ) -> _Outcome:
        """Apply the fault ``action`` to ``call``: what the client is to get, not sent yet."""
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
            return _Outcome(reply.status, False, request.keep_alive, reply=reply.raw)
        if kind is FaultKind.RESET_BEFORE:
            self._fired(call, action, {})
            return _Outcome(None, False, False, reset=True)
        if kind is FaultKind.STALL:
            assert rule.stall_s is not None
            self._fired(call, action, {"stall_s": rule.stall_s})
            # Ends early when the client gives up (its read timeout) and closes.
            connection.wait_input(rule.stall_s)
            return _Outcome(None, False, False)
        # Forward first, then fail the answer: the upstream applied the call.
        response = self._forward(call, request, connection)
        detail = {"upstream_status": response.status}
        if kind is FaultKind.LOST_RECEIVE and response.status == 200:
            pairs = protocol.received_messages(call, response.body)
            detail["message_ids"] = [m for m, _ in pairs]
        fail_with = FAIL_RESET if kind is FaultKind.RESET_AFTER else rule.fail_with
        if fail_with == FAIL_RESET:
            self._fired(call, action, {**detail, "fail_with": FAIL_RESET})
            return _Outcome(None, True, False, response, reset=True)
        assert isinstance(fail_with, int)
        reply = protocol.server_error_response(call, fail_with)
        self._fired(call, action, {**detail, "fail_with": fail_with, "code": _error_code(reply)})
        return _Outcome(reply.status, True, request.keep_alive, response, reply=reply.raw)

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
        self,
        call: Call,
        started_at: float,
        t0: float,
        outcome: _Outcome,
        action: Fire | None = None,
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
