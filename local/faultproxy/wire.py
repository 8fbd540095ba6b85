"""HTTP/1.1 framing on asyncio streams: just enough to relay AWS API calls byte for byte.

Requests and responses keep their head and body exactly as received, so a relayed call is
what the client sent (its SigV4 signature stays valid) and a relayed answer is what the
upstream said. The decoded body is kept beside the raw one for the protocol layer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class WireError(Exception):
    """A message that is not valid HTTP/1.1 (or exceeds the limits above)."""


class ClosedBeforeAnswer(WireError):
    """The peer closed the connection before sending a single byte of its answer."""


def _parse_headers(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise WireError(f"malformed header line {line[:80]!r}")
        key = name.strip().decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        # Repeated headers are joined as RFC 9110 allows; only a handful are ever read here.
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
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


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(_HEAD_END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise WireError("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise WireError(f"message head longer than {MAX_HEAD_BYTES} bytes") from exc


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Decode a chunked body; returns (decoded, raw framing as received)."""
    decoded = bytearray()
    raw = bytearray()
    while True:
        size_line = await reader.readuntil(_CRLF)
        raw += size_line
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise WireError(f"malformed chunk size {size_line[:40]!r}") from exc
        if size == 0:
            break
        if len(decoded) + size > MAX_BODY_BYTES:
            raise WireError(f"body longer than {MAX_BODY_BYTES} bytes")
        chunk = await reader.readexactly(size + 2)
        raw += chunk
        decoded += chunk[:-2]
    while True:  # trailers, up to the empty line
        line = await reader.readuntil(_CRLF)
        raw += line
        if line == _CRLF:
            break
    return bytes(decoded), bytes(raw)


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    data = bytearray()
    while chunk := await reader.read(65536):
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise WireError(f"body longer than {MAX_BODY_BYTES} bytes")
    return bytes(data)


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


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None
) -> Request | None:
    """The next request on a client connection, or None when the client closed it cleanly.

    ``Expect: 100-continue`` is answered here (through ``writer``) before the body is read.
    """
    head = await _read_head(reader)
    if head is None:
        return None
    lines = head[: -len(_HEAD_END)].split(_CRLF)
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise WireError(f"malformed request line {lines[0][:80]!r}")
    method, target, version = parts
    headers = _parse_headers(lines[1:])
    if writer is not None and headers.get("expect", "").lower() == "100-continue":
        writer.write(_CONTINUE)
    try:
        if _is_chunked(headers):
            body, raw_body = await _read_chunked(reader)
        else:
            length = _content_length(headers)
            body = raw_body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise WireError("connection closed inside a request body") from exc
    return Request(method, target, version, headers, body, head + raw_body)


async def read_response(reader: asyncio.StreamReader, method: str) -> Response:
    """The response to a request sent with ``method``; interim 1xx responses are skipped."""
    while True:
        head = await _read_head(reader)
        if head is None:
            raise ClosedBeforeAnswer("upstream closed the connection before answering")
        lines = head[: -len(_HEAD_END)].split(_CRLF)
        status_line = lines[0].decode("latin-1").split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise WireError(f"malformed status line {lines[0][:80]!r}")
        try:
            status = int(status_line[1])
        except ValueError as exc:
            raise WireError(f"malformed status line {lines[0][:80]!r}") from exc
        if 100 <= status < 200:
            continue
        break
    version = status_line[0]
    headers = _parse_headers(lines[1:])
    close_delimited = False
    try:
        if method == "HEAD" or status in _NO_BODY_STATUS:
            body = raw_body = b""
        elif _is_chunked(headers):
            body, raw_body = await _read_chunked(reader)
        elif "content-length" in headers:
            length = _content_length(headers)
            body = raw_body = await reader.readexactly(length) if length else b""
        else:
            body = raw_body = await _read_to_eof(reader)
            close_delimited = True
    except asyncio.IncompleteReadError as exc:
        raise WireError("upstream closed the connection inside a response body") from exc
    return Response(status, version, headers, body, head + raw_body, close_delimited)


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
