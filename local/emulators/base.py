"""The Emulator interface and the small network helpers every backend shares."""

from __future__ import annotations

import abc
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from core.lifecycle import Scoped

log = logging.getLogger(__name__)

DEFAULT_PORT = 4566
LOOPBACK = "127.0.0.1"
_POLL_INTERVAL_S = 0.03


class Emulator(Scoped, abc.ABC):
    """Something that speaks the AWS APIs at ``endpoint``.

    ``start()`` returns once the emulator answers (or raises ``EmulatorUnavailable``); ``stop()``
    is idempotent. As a context manager it starts on entry and stops on exit, also on Ctrl-C.
    """

    name: str = "base"
    #: ``embedded`` (a subprocess we own), ``compose`` (a container) or ``external``.
    kind: str = "base"

    @property
    @abc.abstractmethod
    def endpoint(self) -> str:
        """The endpoint URL clients pass as ``endpoint_url``."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the emulator and wait until it is ready."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the emulator; a no-op when it is not running or not ours."""

    def ready(self, timeout: float = 0.0) -> bool:
        """True once the emulator answers its health check, polling for up to ``timeout`` s."""
        return wait_until(lambda: http_ok(self.health_url), timeout)

    @property
    def health_url(self) -> str:
        """The URL whose HTTP 200 means ready."""
        return f"{self.endpoint}/_localstack/health"

    def reset(self) -> None:
        """Drop every resource, when the backend supports it."""

    @abc.abstractmethod
    def capabilities(self) -> frozenset[str]:
        """What this backend is known to support (``core.capabilities``); the probe measures."""

    def describe(self) -> str:
        return f"{self.name} ({self.kind}) at {self.endpoint}"

    def open(self) -> None:
        """``with emulator:`` starts it."""
        self.start()

    def close(self) -> None:
        """Leaving ``with emulator:`` stops it."""
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint}>"


# -- helpers ----------------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    """A port the OS says is free right now on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when something listens on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status ``url`` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own URLs
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def http_ok(url: str, timeout: float = 1.0) -> bool:
    return http_status(url, timeout) == 200


def answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when any HTTP server answers at ``endpoint`` (any status counts)."""
    return http_status(endpoint.rstrip("/") + "/", timeout) is not None


def identify(endpoint: str, timeout: float = 1.0) -> str:
    """Which emulator answers at ``endpoint``: ministack, localstack, moto or unknown."""
    base = endpoint.rstrip("/")
    if http_ok(f"{base}/_ministack/health", timeout):
        return "ministack"
    if http_ok(f"{base}/_localstack/health", timeout):
        return "localstack"
    if http_ok(f"{base}/moto-api/", timeout):
        return "moto"
    return "unknown"


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass; one try when 0."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL_S)
