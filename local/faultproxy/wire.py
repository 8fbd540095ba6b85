"""HTTP/1.1 framing, sans I/O: just enough to relay AWS API calls byte for byte.

A :class:`Buffer` holds the bytes one connection received so far and cuts whole messages out
of them; the proxy feeds it from its asyncio protocols. Requests and responses keep their head
and body exactly as received, so a relayed call is what the client sent (its SigV4 signature
stays valid) and a relayed answer is what the upstream said. The decoded body is kept beside
the raw one for the protocol layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: body framings besides a Content-Length
_CHUNKED = -1
_TO_EOF = -2


class WireError(Exception):
    """A message that is not valid HTTP/1.1 (or exceeds the limits above)."""


class ClosedBeforeAnswer(WireError):
    """The peer closed the connection before sending a single byte of its answer."""


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise WireError(f"malformed header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        # Repeated headers are joined as RFC 9110 allows; only a handful are ever read here.
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection")
    if connection is None:
        return version != "HTTP/1.0"
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


@dataclass(slots=True)
class Request:
    """One HTTP request as received: ``raw`` is forwarded unchanged, ``body`` is decoded."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    raw: bytes

    @property
    def keep_alive(self) -> bool:
        return _keep_alive(self.version, self.headers)


@dataclass(slots=True)
class Response:
    """One HTTP response: ``raw`` is relayed unchanged, ``body`` is decoded."""

    status: int
    version: str
    headers: dict[str, str]
    body: bytes
    raw: bytes
    close_delimited: bool = field(default=False)

    @property
    def keep_alive(self) -> bool:
        return not self.close_delimited and _keep_alive(self.version, self.headers)


@dataclass(slots=True)
class _Head:
    """The parsed head of the message at the front of a buffer (its body may be incomplete)."""

    start: list[str]
    headers: dict[str, str]
    size: int
    body: int  # a Content-Length, _CHUNKED or _TO_EOF


def _content_length(headers: dict[str, str]) -> int:
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError as exc:
        raise WireError(f"malformed Content-Length {headers['content-length']!r}") from exc
    if length < 0 or length > MAX_BODY_BYTES:
        raise WireError(f"Content-Length {length} out of range")
    return length


def _is_chunked(headers: dict[str, str]) -> bool:
    return "chunked" in headers.get("transfer-encoding", "").lower()


def _chunked(data: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode the chunked body at ``data[start:]``: (decoded, end offset), None if incomplete."""
    decoded = bytearray()
    pos = start
    while True:
        eol = data.find(_CRLF, pos)
        if eol < 0:
            return None
        size_field = bytes(data[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError as exc:
            raise WireError(f"malformed chunk size {bytes(data[pos:eol])[:40]!r}") from exc
        pos = eol + 2
        if size == 0:
            break
        if len(decoded) + size > MAX_BODY_BYTES:
            raise WireError(f"body longer than {MAX_BODY_BYTES} bytes")
        if len(data) < pos + size + 2:
            return None
        decoded += data[pos : pos + size]
        pos += size + 2
    while True:  # trailers, up to the empty line
        eol = data.find(_CRLF, pos)
        if eol < 0:
            return None
        empty = eol == pos
        pos = eol + 2
        if empty:
            return bytes(decoded), pos


def _status(start: list[str]) -> int:
    if len(start) >= 2 and start[0].startswith("HTTP/1."):
        with contextlib.suppress(ValueError):
            return int(start[1])
    raise WireError(f"malformed status line {' '.join(start)[:80]!r}")


def _response_framing(headers: dict[str, str], status: int, method: str) -> int:
    if method == "HEAD" or status in _NO_BODY_STATUS:
        return 0
    if _is_chunked(headers):
        return _CHUNKED
    if "content-length" in headers:
        return _content_length(headers)
    return _TO_EOF


class Buffer:
    """The bytes a connection received and not yet consumed, cut into whole messages.

    ``take_request`` / ``take_response`` return the message at the front once all of it is
    there (and drop its bytes), None while it is incomplete. ``eof=True`` says the peer closed:
    a message cut short is then an error, and a response framed by the close completes.
    """

    __slots__ = ("_continued", "_head", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self._head: _Head | None = None
        self._continued = False

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self.data += data

    def _parse_head(self, eof: bool) -> _Head | None:
        if self._head is not None:
            return self._head
        end = self.data.find(_HEAD_END)
        if end < 0:
            if len(self.data) > MAX_HEAD_BYTES:
                raise WireError(f"message head longer than {MAX_HEAD_BYTES} bytes")
            if eof and self.data:
                raise WireError("connection closed inside a message head")
            return None
        if end > MAX_HEAD_BYTES:
            raise WireError(f"message head longer than {MAX_HEAD_BYTES} bytes")
        text = self.data[:end].decode("latin-1")
        first, _, rest = text.partition("\r\n")
        self._head = _Head(first.split(" ", 2), _parse_headers(rest), end + 4, 0)
        return self._head

    def _end(self, head: _Head, eof: bool) -> tuple[bytes | None, int] | None:
        """Where the message ``head`` starts ends, with its decoded body when that is not
        the raw one (chunked); None while incomplete."""
        if head.body == _CHUNKED:
            found = _chunked(self.data, head.size)
            if found is None:
                return None
            return found
        if head.body == _TO_EOF:
            if not eof:
                if len(self.data) - head.size > MAX_BODY_BYTES:
                    raise WireError(f"body longer than {MAX_BODY_BYTES} bytes")
                return None
            return None, len(self.data)
        end = head.size + head.body
        if len(self.data) < end:
            return None
        return None, end

    def _consume(self, head: _Head, end: int, decoded: bytes | None) -> tuple[bytes, bytes]:
        """Cut the message out of the buffer: (raw message, decoded body)."""
        # One copy of the message, the body sliced from it (issue 16: it was copied three
        # times, and the buffer most often holds exactly the one message).
        data = self.data
        if end == len(data):
            raw = bytes(data)
            data.clear()
        else:
            raw = bytes(data[:end])
            del data[:end]
        self._head = None
        self._continued = False
        return raw, raw[head.size :] if decoded is None else decoded

    def take_request(
        self, on_continue: Callable[[], None] | None = None, *, eof: bool = False
    ) -> Request | None:
        """The next whole request, or None (incomplete, or a clean close between requests).

        ``Expect: 100-continue`` calls ``on_continue`` once, as soon as the head is in.
        """
        fresh = self._head is None
        head = self._parse_head(eof)
        if head is None:
            return None
        if fresh:
            parts = head.start
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self._head = None
                raise WireError(f"malformed request line {' '.join(parts)[:80]!r}")
            head.body = _CHUNKED if _is_chunked(head.headers) else _content_length(head.headers)
        if (
            on_continue is not None
            and not self._continued
            and head.headers.get("expect", "").lower() == "100-continue"
        ):
            self._continued = True
            on_continue()
        found = self._end(head, eof)
        if found is None:
            if eof:
                raise WireError("connection closed inside a request body")
            return None
        method, target, version = head.start
        raw, body = self._consume(head, found[1], found[0])
        return Request(method, target, version, head.headers, body, raw)

    def take_response(self, method: str, *, eof: bool = False) -> Response | None:
        """The next whole response to a ``method`` request (interim 1xx ones are dropped)."""
        while True:
            if eof and not self.data and self._head is None:
                raise ClosedBeforeAnswer("upstream closed the connection before answering")
            fresh = self._head is None
            head = self._parse_head(eof)
            if head is None:
                return None
            if not fresh:
                break
            status = _status(head.start)
            if 100 <= status < 200:
                del self.data[: head.size]
                self._head = None
                continue
            head.body = _response_framing(head.headers, status, method)
            break
        found = self._end(head, eof)
        if found is None:
            if eof:
                raise WireError("upstream closed the connection inside a response body")
            return None
        status = int(head.start[1])
        version = head.start[0]
        raw, body = self._consume(head, found[1], found[0])
        return Response(status, version, head.headers, body, raw, head.body == _TO_EOF)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def build_response(status: int, headers: dict[str, str], body: bytes) -> Response:
    """A response made here (not relayed), framed with Content-Length."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered["content-length"] = str(len(body))
    return Response(status, "HTTP/1.1", lowered, body, head + body)
