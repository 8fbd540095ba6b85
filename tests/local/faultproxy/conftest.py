"""Fault proxy test helpers: a query-protocol SQS client, captured requests, a running proxy."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.loaders import Loader

from local.faultproxy import FaultProxy, Plan, Recorder
from local.faultproxy.wire import Request

REGION = "us-east-1"


def query_sqs_session(data_dir: Path) -> boto3.Session:
    """A boto3 session whose SQS client speaks the query protocol, as older SDKs do.

    botocore >= 1.31 only ships SQS's JSON model; its query serializer and parser still work
    when the model says ``query`` and each operation's result names its XML wrapper.
    """
    model = Loader().load_service_model("sqs", "service-2")
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    for name, operation in model["operations"].items():
        if "output" in operation:
            operation["output"]["resultWrapper"] = f"{name}Result"
    target = data_dir / "sqs" / model["metadata"]["apiVersion"]
    target.mkdir(parents=True, exist_ok=True)
    (target / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.set_config_variable("data_path", str(data_dir))
    return boto3.Session(botocore_session=session, region_name=REGION)


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def captured_request(client: Any, operation: str, **params: Any) -> Request:
    """What ``client`` would send for ``operation``, as the proxy's wire layer sees it."""

    def stop(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register_first("before-send", stop)
    try:
        getattr(client, operation)(**params)
    except _Captured as captured:
        prepared = captured.request
    else:  # pragma: no cover - the hook always raises
        raise AssertionError("no request captured")
    finally:
        client.meta.events.unregister("before-send", stop)
    url = prepared.url.split("://", 1)[1]
    target = "/" + url.split("/", 1)[1] if "/" in url else "/"
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {
        k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()
    }
    return Request(prepared.method, target, "HTTP/1.1", headers, body, b"")


def client(service: str, endpoint: str, **config: Any) -> Any:
    """A boto3 client in botocore's standard retry mode.

    ``max_attempts`` counts every attempt, the first included (botocore's
    ``total_max_attempts``; its own ``max_attempts`` counts retries only). Default 3.
    """
    retries: Any = {"mode": "standard", "total_max_attempts": config.pop("max_attempts", 3)}
    factory: Any = boto3.client  # any service name; the stubs only type literal ones
    return factory(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(retries=retries, **config),
    )


#: the three ways the proxy serves a call: identified and recorded; relayed as bytes in Python;
#: relayed as bytes by the compiled fast path (each connection's calls after its first)
ENGINES = ("recording", "python", "compiled")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each of ENGINES in turn (the compiled one needs a C compiler)."""
    name: str = request.param
    if name == "compiled":
        request.getfixturevalue("require_compiled_relay")
    return name


def engine_options(engine: str) -> dict[str, Any]:
    """FaultProxy keyword arguments that make it serve calls the ``engine`` way."""
    return {"recorder": Recorder(calls=engine == "recording"), "compiled": engine == "compiled"}


class RawUpstream:
    """A scripted HTTP upstream on loopback, raw sockets on its side: each connection it
    accepts is served by ``serve`` in a thread of its own, and every byte a connection
    received is kept in ``received`` (one bytearray per connection, in order of arrival)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.received: list[bytearray] = []
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._run, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def serve(self, conn: socket.socket, log: bytearray) -> None:
        """Serve one connection (the subclass's script), appending what it received to log."""
        raise NotImplementedError

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                log = bytearray()
                self.received.append(log)
                thread = threading.Thread(target=self.serve, args=(conn, log), daemon=True)
                self._threads.append(thread)
                thread.start()

    def close(self, wait_s: float = 30.0) -> None:
        """Stop accepting and join every thread (bounded by ``wait_s`` each)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for thread in [self._accept, *self._threads]:
            thread.join(wait_s)


def unique(prefix: str) -> str:
    return f"fp-{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def proxy_factory(emulator_endpoint: str) -> Iterator[Callable[..., FaultProxy]]:
    """Start fault proxies in front of the session's emulator; all stopped at test end."""
    started: list[FaultProxy] = []

    def start(plan: Plan | None = None, recorder: Recorder | None = None) -> FaultProxy:
        proxy = FaultProxy(emulator_endpoint, plan, recorder)
        proxy.start()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()
