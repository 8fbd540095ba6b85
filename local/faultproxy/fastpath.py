"""The fault proxy's compiled fast path: ``fastrelay.c``, built on first use and loaded with
ctypes.

Why it exists (issue 16): with no fault configured, the pure-Python relay lost 9-15% of
throughput against the direct endpoint, and the best pure-Python byte pump measured the same.
What costs is the interpreter waking up for each message, not the hop or the framing. So a
connection whose calls no rule can touch hands its socket to C, which relays call after call
without running Python, and hands it back the moment a call needs Python (a rule, a record, an
unusual request, an upstream failure to answer).

The library is compiled with the machine's C compiler (``$CC``, else ``cc``, ``gcc`` or
``clang``) into a per-user cache, keyed by the source and the compiler, so only the first proxy
of a machine pays for it. Without a compiler the proxy relays in Python and says so once.
``SQSKIT_PROXY_FASTPATH`` chooses: ``auto`` (default: use it when it builds), ``on`` (a proxy
that cannot have it fails to start), ``off`` (Python only).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from local.faultproxy.errors import FaultProxyError

log = logging.getLogger(__name__)

SOURCE: Final = Path(__file__).with_name("fastrelay.c")
ENV_MODE: Final = "SQSKIT_PROXY_FASTPATH"
ENV_CACHE: Final = "SQSKIT_CACHE_DIR"
MODES: Final = ("auto", "on", "off")
_ABI: Final = 1
_BUILD_TIMEOUT_S: Final = 120.0

# What fr_serve() returns (enum fr_event in fastrelay.c).
YIELD: Final = 0
EOF: Final = 1
CLIENT_ERROR: Final = 2
CLOSE: Final = 3
STALE: Final = 4
UPSTREAM_ERROR: Final = 5
UPSTREAM_TIMEOUT: Final = 6
UPSTREAM_SPOILED: Final = 7


class FastPathUnavailable(FaultProxyError):
    """The compiled fast path cannot be built or loaded here (the reason says why)."""


class Conn(ctypes.Structure):
    """``struct fr_conn`` of fastrelay.c, field for field."""

    _fields_ = (
        ("client_fd", ctypes.c_int),
        ("upstream_fd", ctypes.c_int),
        ("timeout_s", ctypes.c_double),
        ("enabled", ctypes.POINTER(ctypes.c_int)),
        ("relayed", ctypes.POINTER(ctypes.c_ulonglong)),
        ("req", ctypes.c_void_p),
        ("req_len", ctypes.c_size_t),
        ("req_cap", ctypes.c_size_t),
        ("ans", ctypes.c_void_p),
        ("ans_len", ctypes.c_size_t),
        ("ans_cap", ctypes.c_size_t),
        ("reason", ctypes.c_char * 200),
    )


def mode() -> str:
    """The mode ``SQSKIT_PROXY_FASTPATH`` asks for; a clear error for anything else."""
    value = os.environ.get(ENV_MODE, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise FaultProxyError(f"{ENV_MODE}={value!r} is invalid: use one of {', '.join(MODES)}")
    return value


def _compiler() -> str:
    named = os.environ.get("CC", "").strip()
    if named:
        found = shutil.which(named.split()[0])
        if found is None:
            raise FastPathUnavailable(f"CC={named!r} is not on PATH")
        return found
    for candidate in ("cc", "gcc", "clang"):
        found = shutil.which(candidate)
        if found is not None:
            return found
    raise FastPathUnavailable("no C compiler on PATH (cc, gcc or clang; or set CC)")


def _cache_dir() -> Path:
    base = os.environ.get(ENV_CACHE) or os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "sqs-kit"


def _build(compiler: str, target: Path) -> None:
    """Compile the library to ``target`` atomically (a concurrent build wins or loses whole)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    command = [compiler, "-O2", "-shared", "-fPIC", "-o", partial, str(SOURCE)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise FastPathUnavailable(f"{' '.join(command)} failed: {' | '.join(detail)}")
        os.replace(partial, target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FastPathUnavailable(f"cannot build the fast path with {compiler}: {exc}") from exc
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


@dataclass(frozen=True)
class Library:
    """The loaded library and where it came from."""

    cdll: ctypes.CDLL
    path: Path


_build_lock = threading.Lock()
_loaded: Library | FastPathUnavailable | None = None


def load() -> Library:
    """The compiled fast path, built once per source and compiler; raises
    ``FastPathUnavailable`` with the reason when it cannot be had (once tried, the outcome is
    kept for the process: a missing compiler is not looked for again)."""
    global _loaded  # noqa: PLW0603 - one library per process
    with _build_lock:
        if _loaded is None:
            try:
                _loaded = _load()
            except FastPathUnavailable as exc:
                _loaded = exc
        if isinstance(_loaded, FastPathUnavailable):
            raise _loaded
        return _loaded


def _load() -> Library:
    compiler = _compiler()
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + compiler.encode() + sys.platform.encode()).hexdigest()[:16]
    name = f"fastrelay-{key}-{platform.machine() or 'cpu'}.so"
    target = _cache_dir() / name
    if not target.exists():
        try:
            _build(compiler, target)
        except FastPathUnavailable:
            raise
        except OSError:  # an unwritable cache: build into a private temporary folder
            target = Path(tempfile.mkdtemp(prefix="sqs-kit-")) / name
            _build(compiler, target)
        log.info("faultproxy.fastpath_built", extra={"library": str(target)})
    try:
        cdll = ctypes.CDLL(str(target))
    except OSError as exc:
        raise FastPathUnavailable(f"cannot load {target}: {exc}") from exc
    cdll.fr_abi.restype = ctypes.c_int
    cdll.fr_conn_size.restype = ctypes.c_size_t
    if cdll.fr_abi() != _ABI or cdll.fr_conn_size() != ctypes.sizeof(Conn):
        raise FastPathUnavailable(f"{target} does not match this kit (ABI or layout)")
    cdll.fr_serve.argtypes = [ctypes.POINTER(Conn)]
    cdll.fr_serve.restype = ctypes.c_int
    cdll.fr_feed.argtypes = [ctypes.POINTER(Conn), ctypes.c_char_p, ctypes.c_size_t]
    cdll.fr_feed.restype = ctypes.c_int
    cdll.fr_release.argtypes = [ctypes.POINTER(Conn)]
    cdll.fr_release.restype = None
    return Library(cdll, target)


class Switch:
    """A proxy's fast path: on while its plan has no rule and nobody records calls.

    The flag and the count of relayed calls live in C memory that every connection of the
    proxy shares: C reads the flag before each call it would relay, so a plan that gains a rule
    takes effect at the next call, and counts atomically.
    """

    def __init__(self, library: Library) -> None:
        self.library = library
        self._flag = ctypes.c_int(0)
        self._relayed = ctypes.c_ulonglong(0)

    @property
    def on(self) -> bool:
        return bool(self._flag.value)

    def set(self, on: bool) -> None:
        self._flag.value = 1 if on else 0

    @property
    def relayed(self) -> int:
        """Calls relayed by the compiled path so far, across connections."""
        return int(self._relayed.value)

    def connection(self, client_fd: int, timeout_s: float) -> FastConnection:
        return FastConnection(self, client_fd, timeout_s)


class FastConnection:
    """One client connection's state in C; ``release()`` frees its buffers."""

    def __init__(self, switch: Switch, client_fd: int, timeout_s: float) -> None:
        self._cdll = switch.library.cdll
        self._conn = Conn()
        self._conn.client_fd = client_fd
        self._conn.upstream_fd = -1
        self._conn.timeout_s = timeout_s
        # pointers into the switch's memory: the switch outlives its connections
        self._conn.enabled = ctypes.pointer(switch._flag)
        self._conn.relayed = ctypes.pointer(switch._relayed)
        self._pointer = ctypes.byref(self._conn)

    def serve(self, upstream_fd: int, held: bytes) -> tuple[int, bytes, str]:
        """Relay from C until a call is Python's or the connection ends (GIL released).

        ``held``: the client bytes Python received and did not frame yet. Returns the event
        (``YIELD`` ...), the client bytes C received and did not relay (a request is whole at
        their front after ``YIELD`` with a complete head, ``STALE`` and the upstream events),
        and the reason of an upstream event.
        """
        conn = self._conn
        conn.upstream_fd = upstream_fd
        if held and self._cdll.fr_feed(self._pointer, held, len(held)) != 0:
            raise MemoryError("the fast path could not hold the client's bytes")
        event: int = self._cdll.fr_serve(self._pointer)
        pending = ctypes.string_at(conn.req, conn.req_len) if conn.req_len else b""
        conn.req_len = 0
        return event, pending, conn.reason.decode("utf-8", "replace")

    def release(self) -> None:
        self._cdll.fr_release(self._pointer)


def switch_for(requested: bool | None, *, records: bool = False) -> Switch | None:
    """The fast path a new proxy gets: ``requested`` True needs it, False refuses it, None
    follows ``SQSKIT_PROXY_FASTPATH``. None when the proxy relays in Python only, as one that
    keeps call ``records`` always does (records are built in Python, for the proxy's life)."""
    wanted = mode() if requested is None else ("on" if requested else "off")
    if wanted == "off" or records:
        return None
    try:
        return Switch(load())
    except FastPathUnavailable as exc:
        if wanted == "on":
            raise
        _say_unavailable(str(exc))
        return None


@functools.cache
def _say_unavailable(reason: str) -> None:
    log.warning(
        "faultproxy.fastpath_unavailable",
        extra={"reason": reason, "effect": "the proxy relays in Python, with more overhead"},
    )
