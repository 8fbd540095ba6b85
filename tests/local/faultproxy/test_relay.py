"""The relay's HTTP/1.1 behaviour and its shutdown, with raw sockets on both sides (a scripted
upstream on loopback): integration tier.

Every byte each side sent is compared with what the other side received. Each serving path
runs each test (``engine``): recording (every call identified), bytes-only in Python (no plan,
no records: framing only) and bytes-only in the compiled fast path.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from local.faultproxy import FaultProxy, Plan, Recorder, wire
from tests.local.faultproxy.conftest import RawUpstream, engine_options

pytestmark = pytest.mark.integration

#: a bound on every wait, never a measured time: a loaded machine stays far inside it
WAIT_S = 30.0
TARGET = b"X-Amz-Target: AmazonSQS.ListQueues\r\n"

#: the upstream's answer to a request: bytes to send, and whether to close after them
Script = Callable[[wire.Request], tuple[bytes, bool]]


class _Upstream(RawUpstream):
    """A scripted HTTP upstream: ``script`` answers each request."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.ended = threading.Semaphore(0)  # released when a connection reads its EOF
        super().__init__()

    def serve(self, conn: socket.socket, log: bytearray) -> None:
        buffer = wire.Buffer()
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                log += data
                buffer.feed(data)
                while (request := buffer.take_request()) is not None:
                    reply, close = self.script(request)
                    conn.sendall(reply)
                    if close:
                        return
            self.ended.release()


@contextlib.contextmanager
def _relay(script: Script, engine: str, plan: Plan | None = None) -> Iterator[_Relay]:
    upstream = _Upstream(script)
    proxy = FaultProxy(upstream.url, plan, **engine_options(engine))
    try:
        proxy.start()
        yield _Relay(proxy, upstream)
    finally:
        proxy.stop()
        upstream.close()


class _Relay:
    def __init__(self, proxy: FaultProxy, upstream: _Upstream) -> None:
        self.proxy = proxy
        self.upstream = upstream

    def connect(self) -> socket.socket:
        port = int(self.proxy.endpoint.rsplit(":", 1)[1])
        return socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)


def _read_answer(sock: socket.socket, buffer: wire.Buffer, method: str = "POST") -> bytes:
    """The next whole answer on ``sock``, as raw bytes."""
    while (response := buffer.take_response(method)) is None:
        data = sock.recv(65536)
        if not data:
            response = buffer.take_response(method, eof=True)
            assert response is not None
            break
        buffer.feed(data)
    return response.raw


def _read_to_eof(sock: socket.socket) -> bytes:
    """Everything until the proxy closes the connection (a reset counts as a close)."""
    got = bytearray()
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            got += data
    return bytes(got)


def _ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_requests_and_answers_are_relayed_byte_for_byte(engine: str) -> None:
    chunked_answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n"

    def script(request: wire.Request) -> tuple[bytes, bool]:
        return (chunked_answer if request.target == "/chunked" else _ok(request.body)), False

    head = b"POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + TARGET
    head += b"Content-Length: 5\r\n\r\n"
    chunked = b"POST /chunked HTTP/1.1\r\n" + TARGET + b"Transfer-Encoding: chunked\r\n\r\n"
    chunked += b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
    plain = b"POST /plain HTTP/1.1\r\n" + TARGET + b"Content-Length: 2\r\n\r\n{}"
    with _relay(script, engine) as relay, relay.connect() as client:
        # GIVEN a request that waits for 100 Continue before sending its body
        client.sendall(head)
        interim = b""
        while len(interim) < len(wire.CONTINUE):
            interim += client.recv(len(wire.CONTINUE) - len(interim))
        assert interim == wire.CONTINUE, "the proxy asked for the body itself"
        client.sendall(b"hello")
        answers = wire.Buffer()
        first = _read_answer(client, answers)
        # WHEN a chunked request and a plain one follow in a single write (pipelined)
        client.sendall(chunked + plain)
        second, third = _read_answer(client, answers), _read_answer(client, answers)
    # THEN the upstream got each request as sent, once, in order, on one connection
    assert [bytes(log) for log in relay.upstream.received] == [head + b"hello" + chunked + plain]
    # AND the client got each answer as the upstream sent it
    assert (first, second, third) == (_ok(b"hello"), chunked_answer, _ok(b"{}"))
    # AND the compiled path left the 100-continue and chunked requests to Python, relaying
    # only the plain one itself
    assert relay.proxy.compiled_calls() == (1 if engine == "compiled" else 0)


def test_head_204_and_304_answers_have_no_body_and_keep_the_connection(engine: str) -> None:
    answers = {
        "/head": b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
        "/204": b"HTTP/1.1 204 No Content\r\n\r\n",
        "/304": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
        "/ok": _ok(b"done"),
    }

    def script(request: wire.Request) -> tuple[bytes, bool]:
        return answers[request.target], False

    with _relay(script, engine) as relay, relay.connect() as client:
        buffer = wire.Buffer()
        got = []
        for target in answers:
            method = "HEAD" if target == "/head" else "GET"
            client.sendall(f"{method} {target} HTTP/1.1\r\n".encode() + TARGET + b"\r\n")
            got.append(_read_answer(client, buffer, method))
    # THEN none of them waited for a body, and all four went over one upstream connection
    assert got == list(answers.values())
    assert len(relay.upstream.received) == 1
    # (the compiled path relays every call after the connection's first)
    assert relay.proxy.compiled_calls() == (3 if engine == "compiled" else 0)


def test_a_close_delimited_answer_is_relayed_whole_and_closes_both_sides(engine: str) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the close"

    def script(request: wire.Request) -> tuple[bytes, bool]:
        return answer, True

    with _relay(script, engine) as relay:
        with relay.connect() as client:
            client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
            assert _read_to_eof(client) == answer, "the whole body, then the close"
        # AND the next client connection gets a fresh upstream connection
        with relay.connect() as client:
            client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
            assert _read_to_eof(client) == answer
        assert len(relay.upstream.received) == 2


def test_connection_close_ends_both_connections_after_the_answer(engine: str) -> None:
    def script(request: wire.Request) -> tuple[bytes, bool]:
        return _ok(b"{}"), False

    with _relay(script, engine) as relay, relay.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"Connection: close\r\n\r\n")
        assert _read_to_eof(client) == _ok(b"{}")
        assert relay.upstream.ended.acquire(timeout=WAIT_S), "the upstream connection closed"


def test_garbage_from_a_client_closes_it_unanswered_and_reaches_no_upstream(
    engine: str,
) -> None:
    def script(request: wire.Request) -> tuple[bytes, bool]:
        return _ok(b"{}"), False

    with _relay(script, engine) as relay:
        with relay.connect() as client:
            client.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert _read_to_eof(client) == b""
        # control: a well-formed call on the same proxy is answered
        with relay.connect() as client:
            client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
            assert _read_answer(client, wire.Buffer(), "GET") == _ok(b"{}")
        assert len(relay.upstream.received) == 1


def test_each_client_connection_gets_one_upstream_connection_on_first_use(
    engine: str,
) -> None:
    def script(request: wire.Request) -> tuple[bytes, bool]:
        return _ok(b"{}"), False

    with _relay(script, engine) as relay, relay.connect() as idle, relay.connect() as busy:
        # GIVEN one client connection that sends nothing and one that makes three calls
        buffer = wire.Buffer()
        for _ in range(3):
            busy.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
            assert _read_answer(busy, buffer, "GET") == _ok(b"{}")
        # THEN only the busy one has an upstream connection, one for its three calls
        assert len(relay.upstream.received) == 1
        idle.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
        assert _read_answer(idle, wire.Buffer(), "GET") == _ok(b"{}")
        assert len(relay.upstream.received) == 2
        assert relay.proxy.compiled_calls() == (2 if engine == "compiled" else 0)


def _tear_down(
    release: threading.Event, clients: list[socket.socket], proxy: FaultProxy, upstream: _Upstream
) -> None:
    """Let the upstream's held answers go, then close everything a stop test opened."""
    release.set()
    for client in clients:
        client.close()
    proxy.stop()
    upstream.close()


def _until(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` within the wait bound (a bound, not a measurement)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_stop_closes_every_connection_wherever_it_waits_and_leaves_no_thread() -> None:
    # GIVEN calls held by a stall and by a long latency, one waiting on a silent upstream,
    # and an idle client connection
    release = threading.Event()

    def script(request: wire.Request) -> tuple[bytes, bool]:
        if request.target == "/silent":
            release.wait(WAIT_S)  # never answers while the test runs
        return _ok(b"{}"), False

    plan = Plan.from_dict(
        {
            "seed": 1,
            "rules": [
                {"service": "sqs", "operation": "ReceiveMessage", "fault": "stall", "stall_s": 60},
                {
                    "service": "sqs",
                    "operation": "SendMessage",
                    "fault": "latency",
                    "latency": 60000,
                },
            ],
        }
    )
    upstream = _Upstream(script)
    proxy = FaultProxy(upstream.url, plan, Recorder(calls=False))
    proxy.start()
    relay = _Relay(proxy, upstream)
    clients = [relay.connect() for _ in range(4)]
    try:
        stalled, delayed, waiting, _idle = clients
        stalled.sendall(b"POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.ReceiveMessage\r\n\r\n")
        delayed.sendall(b"POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\r\n")
        waiting.sendall(b"POST /silent HTTP/1.1\r\n" + TARGET + b"\r\n")
        assert _until(lambda: len(proxy.fired()) == 2), "the stall and the latency fired"
        assert _until(lambda: bool(upstream.received and upstream.received[0]))
        # WHEN the proxy stops
        proxy.stop()
        # THEN every client connection was closed, none answered, and no thread is left
        assert [_read_to_eof(c) for c in clients] == [b""] * 4
        left = [t.name for t in threading.enumerate() if t.name.startswith("faultproxy")]
        assert left == []
        proxy.stop()  # idempotent
    finally:
        _tear_down(release, clients, proxy, upstream)


def test_a_one_mib_call_and_its_answer_are_relayed_whole(engine: str) -> None:
    # SQS takes messages of up to 1 MiB: the relay's buffers grow to hold a whole one
    body = bytes(range(256)) * 4096  # 1 MiB

    def script(request: wire.Request) -> tuple[bytes, bool]:
        return _ok(request.body[::-1]), False

    big = b"POST / HTTP/1.1\r\n" + TARGET + b"Content-Length: %d\r\n\r\n" % len(body) + body
    with _relay(script, engine) as relay, relay.connect() as client:
        buffer = wire.Buffer()
        client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")  # the first call
        assert _read_answer(client, buffer, "GET") == _ok(b"")
        client.sendall(big)
        assert _read_answer(client, buffer) == _ok(body[::-1])
        assert relay.proxy.compiled_calls() == (1 if engine == "compiled" else 0)
    assert bytes(relay.upstream.received[0]).endswith(big)


def test_a_plan_that_gains_a_rule_takes_the_next_call_from_the_compiled_path(
    require_compiled_relay: None,
) -> None:
    # GIVEN one kept-alive client connection whose calls the compiled path relays
    def script(request: wire.Request) -> tuple[bytes, bool]:
        return _ok(b"{}"), False

    call = b"POST / HTTP/1.1\r\n" + TARGET + b"Content-Length: 2\r\n\r\n{}"
    rule = {"service": "sqs", "operation": "ListQueues", "fault": "error_500"}
    with _relay(script, "compiled") as relay, relay.connect() as client:
        buffer = wire.Buffer()

        def answer() -> bytes:
            client.sendall(call)
            return _read_answer(client, buffer)

        assert [answer(), answer()] == [_ok(b"{}")] * 2
        assert relay.proxy.compiled_calls() == 1
        # WHEN a phase's plan gains a rule while C waits for the connection's next call
        relay.proxy.set_plan(Plan.from_dict({"seed": 1, "rules": [rule]}))
        failed = answer()
        # THEN that very call gets the fault, from Python
        assert failed.startswith(b"HTTP/1.1 500 ")
        assert [f.kind for f in relay.proxy.fired()] == ["error_500"]
        # AND once the rule is gone, the compiled path takes the connection again (from the
        # next call, or the one after when Python already waits for it)
        relay.proxy.set_plan(Plan())
        assert [answer(), answer()] == [_ok(b"{}")] * 2
        assert relay.proxy.compiled_calls() >= 2
    # the faulted call never reached the upstream
    assert bytes(relay.upstream.received[0]).count(call) == 4


def test_stop_ends_the_connections_the_compiled_path_holds(require_compiled_relay: None) -> None:
    # GIVEN two connections in C after their first call: one waiting for its client's next
    # call, one waiting for an upstream that does not answer its second
    release = threading.Event()
    calls = 0

    def script(request: wire.Request) -> tuple[bytes, bool]:
        nonlocal calls
        calls += 1
        if request.target == "/silent":
            release.wait(WAIT_S)
        return _ok(b"{}"), False

    upstream = _Upstream(script)
    proxy = FaultProxy(upstream.url, compiled=True, recorder=Recorder(calls=False))
    proxy.start()
    relay = _Relay(proxy, upstream)
    clients = [relay.connect() for _ in range(2)]
    try:
        for client in clients:
            client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
            assert _read_answer(client, wire.Buffer(), "GET") == _ok(b"{}")
        clients[1].sendall(b"GET /silent HTTP/1.1\r\n" + TARGET + b"\r\n")
        assert _until(lambda: calls == 3), "the silent call reached the upstream"
        # WHEN the proxy stops
        proxy.stop()
        # THEN both connections are closed unanswered and no proxy thread is left
        assert [_read_to_eof(c) for c in clients] == [b""] * 2
        assert [t.name for t in threading.enumerate() if t.name.startswith("faultproxy")] == []
    finally:
        _tear_down(release, clients, proxy, upstream)


def test_signals_that_interrupt_the_compiled_path_lose_no_call(
    require_compiled_relay: None,
) -> None:
    # GIVEN a handler installed the way Python installs one (interrupting system calls),
    # and a connection's thread inside C
    def script(request: wire.Request) -> tuple[bytes, bool]:
        time.sleep(0.002)  # the thread waits in recv on the upstream, too
        return _ok(request.body), False

    interrupted = []
    previous = signal.signal(signal.SIGUSR2, lambda *_: interrupted.append(1))
    stop = threading.Event()
    try:
        with _relay(script, "compiled") as relay, relay.connect() as client:
            buffer = wire.Buffer()
            client.sendall(b"GET / HTTP/1.1\r\n" + TARGET + b"\r\n")
            assert _read_answer(client, buffer, "GET") == _ok(b"")
            (connection,) = relay.proxy._connections
            ident = connection.thread.ident
            assert ident is not None

            def interrupt() -> None:  # aimed at the connection's thread itself
                while not stop.wait(0.001):
                    with contextlib.suppress(ProcessLookupError):
                        signal.pthread_kill(ident, signal.SIGUSR2)

            sender = threading.Thread(target=interrupt, daemon=True)
            sender.start()
            # WHEN signals keep arriving while 200 calls go through it
            bodies = [b"%d" % i for i in range(200)]
            got = []
            for body in bodies:
                client.sendall(
                    b"POST / HTTP/1.1\r\n"
                    + TARGET
                    + b"Content-Length: %d\r\n\r\n" % len(body)
                    + body
                )
                got.append(_read_answer(client, buffer))
            stop.set()
            sender.join(WAIT_S)
            # THEN each call got its own answer, relayed in C
            assert got == [_ok(b) for b in bodies]
            assert relay.proxy.compiled_calls() == 200
    finally:
        stop.set()
        signal.signal(signal.SIGUSR2, previous)
    assert interrupted, "the signals were delivered"
