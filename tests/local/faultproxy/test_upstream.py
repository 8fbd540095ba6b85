"""The relay against misbehaving upstreams (a fake server on loopback): integration tier."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from local.faultproxy import FaultProxy
from tests.local.faultproxy.conftest import engine_options

pytestmark = pytest.mark.integration

#: the upstream timeout of the deadline test, the pause between its calls and the second
#: call's answer time: that answer comes after the first call's deadline (2.5 s > 2 s) and
#: well before its own (3.2 s), with half a second of margin each way for a loaded machine
TIMEOUT_S = 2.0
PAUSE_S = 1.2
SLOW_ANSWER_S = 1.3
SQS_HEADERS = {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"}


class _Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    server: _Upstream

    def handle(self) -> None:
        self.server.connections += 1
        if self.server.mode == "slower-each-call":
            self._serve_kept_alive()
            return
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            chunk = self.rfile.readline()
            if not chunk:
                return
            head += chunk
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        self.rfile.read(length)
        if self.server.mode == "silent":
            self.server.release.wait(30)
            return
        if self.server.mode == "truncated":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}")
            return
        # "one-per-connection": answer keep-alive, then close anyway (an idle-timeout race)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    def _serve_kept_alive(self) -> None:
        """One connection, kept alive: the first call answered at once, the second after
        ``SLOW_ANSWER_S``, any later one never."""
        calls = 0
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                chunk = self.rfile.readline()
                if not chunk:
                    return
                head += chunk
            self.rfile.read(2)  # the tests' body: b"{}"
            calls += 1
            if calls == 2:
                time.sleep(SLOW_ANSWER_S)
            elif calls > 2:
                self.server.release.wait(30)
                return
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


@contextlib.contextmanager
def _upstream(mode: str) -> Iterator[_Upstream]:
    server = _Upstream(mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _post(conn: http.client.HTTPConnection) -> tuple[int, bytes]:
    conn.request("POST", "/", body=b"{}", headers=SQS_HEADERS)
    response = conn.getresponse()
    return response.status, response.read()


def test_a_kept_alive_upstream_connection_closed_while_idle_is_reopened(engine: str) -> None:
    with (
        _upstream("one-per-connection") as upstream,
        FaultProxy(upstream.url, **engine_options(engine)) as proxy,
    ):
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            # GIVEN one client connection, WHEN the upstream drops its side between calls
            assert _post(conn) == (200, b"{}")
            assert _post(conn) == (200, b"{}")
            assert _post(conn) == (200, b"{}")
        finally:
            conn.close()
    # THEN each call went through, on a fresh upstream connection each time
    assert upstream.connections == 3


def test_an_upstream_that_does_not_answer_is_a_504(engine: str) -> None:
    with (
        _upstream("silent") as upstream,
        FaultProxy(upstream.url, **engine_options(engine), upstream_timeout_s=1) as proxy,
    ):
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            status, body = _post(conn)
        finally:
            conn.close()
    assert status == 504
    assert json.loads(body)["__type"].endswith("#ServiceUnavailable")


def test_a_truncated_answer_is_a_502_and_an_unreachable_upstream_too(engine: str) -> None:
    with (
        _upstream("truncated") as upstream,
        FaultProxy(upstream.url, **engine_options(engine)) as proxy,
    ):
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            assert _post(conn)[0] == 502
        finally:
            conn.close()
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with FaultProxy(f"http://127.0.0.1:{free}", **engine_options(engine)) as proxy:
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            status, body = _post(conn)
        finally:
            conn.close()
    assert status == 502
    assert b"cannot connect" in body


def test_each_exchange_on_a_kept_alive_connection_gets_its_own_timeout(engine: str) -> None:
    with (
        _upstream("slower-each-call") as upstream,
        FaultProxy(upstream.url, **engine_options(engine), upstream_timeout_s=TIMEOUT_S) as proxy,
    ):
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            # GIVEN a first call answered at once on a kept-alive upstream connection
            assert _post(conn) == (200, b"{}")
            time.sleep(PAUSE_S)
            # WHEN the second is answered after the first one's deadline, but within its own
            # THEN it is relayed (the deadline moved with the exchange) ...
            assert _post(conn) == (200, b"{}")
            # ... AND a third, never answered, still times out
            status, _ = _post(conn)
        finally:
            conn.close()
    assert status == 504
    assert upstream.connections == 1
    # the second and third calls were the compiled path's: its deadline and its timeout
    assert proxy.compiled_calls() == (1 if engine == "compiled" else 0)
