"""HTTP/1.1 framing, sans I/O: just enough to relay AWS API calls byte for byte.

A :class:`Buffer` holds the bytes one connection received so far and cuts whole messages out
of them; the proxy's connection threads feed it from their sockets. Requests and responses keep
their head and body exactly as received, so a relayed call is what the client sent (its SigV4
signature stays valid) and a relayed answer is what the upstream said.

Framing is on the path of every relayed call, so it reads only what it must, with a few
C-level byte operations (issue 16): where the head ends (``find``), the method or status from
the first line, and the four headers that frame a message or its connection (Content-Length,
Transfer-Encoding, Connection, Expect) with one precompiled regex over the head. The header
dict is parsed lazily, the first time something asks for it (:attr:`Request.headers`), and
that parse is what rejects a header line without a colon: the relay passes such a request on
for the upstream to judge, as it passes on any header it does not read.
:meth:`Request.pick_headers` reads a few headers with one scan and no dict of the rest. The
body is sliced from the raw message on demand; a chunked one is kept decoded beside it.

Header names match case-insensitively and start their line; optional whitespace around the
colon is space and tab (RFC 9110's OWS). A header repeated is one value, joined with ", "
(RFC 9110), so two Content-Length headers are an error, like a malformed one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Final

_CRLF: Final = b"\r\n"
_HEAD_END: Final = b"\r\n\r\n"
MAX_HEAD_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
_NO_BODY_STATUS: Final = frozenset({204, 304})
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
#: body framings besides a Content-Length
_CHUNKED: Final = -1
_TO_EOF: Final = -2
_HTTP_1: Final = b"HTTP/1."
_HEX_DIGITS: Final = b"0123456789abcdefABCDEF"

#: a header value: up to the CRLF that ends its line (a bare CR or LF is part of the value)
_VALUE: Final = rb"([^\r]*(?:\r(?!\n)[^\r]*)*)"
#: the headers that frame a message or its connection, searched between the first line's CRLF
#: and the last header line's; a name must start its line (right after a CRLF: a line that
#: starts with whitespace continues the one before, RFC 9112), so neither another header's
#: value nor the body can fool it
_FRAMING: Final = re.compile(
    rb"\r\n(content-length|transfer-encoding|connection|expect)[ \t]*:[ \t]*" + _VALUE,
    re.IGNORECASE,
)


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
        key = name.strip(" \t").lower()
        value = value.strip(" \t")
        # Repeated headers are joined as RFC 9110 allows; only a handful are ever read here.
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _keep_alive(version: str, connection: str | None) -> bool:
    """Whether a message of ``version`` with this Connection header keeps its connection."""
    if connection is None:
        return version != "HTTP/1.0"
    tokens = {t.strip(" \t").lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def _keep_alive_bytes(version: bytes, connection: bytes | None) -> bool:
    if connection is None:  # the common case, decided without decoding
        return version != b"HTTP/1.0"
    return _keep_alive(version.decode("latin-1"), connection.decode("latin-1"))


@functools.cache
def _picker(names: tuple[str, ...]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(n.encode("latin-1")) for n in names)
    return re.compile(rb"\r\n[ \t]*(" + alternatives + rb")[ \t]*:" + _VALUE, re.IGNORECASE)


class _Message:
    """What requests and responses share: the raw bytes, the lazily parsed head, the body."""

    __slots__ = ("_body", "_headers", "head_size", "keep_alive", "raw", "version")

    _body: bytes | None
    _headers: dict[str, str] | None
    head_size: int
    keep_alive: bool
    raw: bytes
    version: str

    @property
    def headers(self) -> dict[str, str]:
        """Every header, names in lower case (parsed from ``raw`` on first use)."""
        headers = self._headers
        if headers is None:
            raw = self.raw
            line_end = raw.find(_CRLF, 0, self.head_size)
            text = raw[line_end + 2 : self.head_size - 4].decode("latin-1")
            headers = self._headers = _parse_headers(text)
        return headers

    def pick_headers(self, *names: str) -> dict[str, str]:
        """The headers named (lower case) that the message has, read with one scan of the head
        and without parsing the others."""
        if self._headers is not None:
            return {n: self._headers[n] for n in names if n in self._headers}
        found: dict[str, str] = {}
        for name, value in _picker(names).findall(self.raw, 0, self.head_size - 2):
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1").strip(" \t")
            found[key] = f"{found[key]}, {text}" if key in found else text
        return found

    @property
    def body(self) -> bytes:
        """The body, decoded from its transfer coding."""
        body = self._body
        if body is None:
            body = self._body = self.raw[self.head_size :]
        return body


def _head_size(raw: bytes) -> int:
    end = raw.find(_HEAD_END)
    return end + 4 if end >= 0 else len(raw)


class Request(_Message):
    """One HTTP request as received: ``raw`` is forwarded unchanged, ``body`` is decoded.

    Built by :class:`Buffer` from ``raw`` alone (``headers`` None: parsed on first use;
    ``body`` None: sliced from ``raw``), or from its parts, as a test does.
    """

    __slots__ = ("method", "target")

    def __init__(  # noqa: PLR0917 - the parts of a request, positional as before
        self,
        method: str,
        target: str,
        version: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        raw: bytes,
        *,
        head_size: int | None = None,
        keep_alive: bool | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self._headers = None if headers is None else dict(headers)
        self._body = body
        self.raw = raw
        self.head_size = _head_size(raw) if head_size is None else head_size
        if keep_alive is None:
            keep_alive = _keep_alive(version, self.headers.get("connection"))
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"Request({self.method} {self.target} {self.version}, {len(self.raw)} bytes)"


class Response(_Message):
    """One HTTP response: ``raw`` is relayed unchanged, ``body`` is decoded.

    ``close_delimited``: its body ended with the connection (no length, not chunked).
    """

    __slots__ = ("close_delimited", "status")

    def __init__(  # noqa: PLR0917 - the parts of a response, positional as before
        self,
        status: int,
        version: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        raw: bytes,
        close_delimited: bool = False,
        *,
        head_size: int | None = None,
        keep_alive: bool | None = None,
    ) -> None:
        self.status = status
        self.version = version
        self._headers = None if headers is None else dict(headers)
        self._body = body
        self.raw = raw
        self.head_size = _head_size(raw) if head_size is None else head_size
        self.close_delimited = close_delimited
        if keep_alive is None:
            keep_alive = _keep_alive(version, self.headers.get("connection"))
        self.keep_alive = keep_alive and not close_delimited

    def __repr__(self) -> str:
        return f"Response({self.version} {self.status}, {len(self.raw)} bytes)"


#: what a request's head says: head size, body (a length, _CHUNKED), keep-alive, whether it
#: expects 100-continue, method, target, version
_RequestFrame = tuple[int, int, bool, bool, str, str, str]
#: what a response's head says: head size, body (a length, _CHUNKED, _TO_EOF), keep-alive,
#: status, version
_ResponseFrame = tuple[int, int, bool, int, str]


def _framing_fields(
    data: bytes | bytearray, line_end: int, end: int
) -> tuple[bytes | None, bool, bytes | None, bytes | None]:
    """The framing headers of the head ending at ``end``: (Content-Length, chunked,
    Connection, Expect), repeated ones joined."""
    length = connection = expect = None
    chunked = False
    for name, raw_value in _FRAMING.findall(data, line_end, end + 2):
        value = raw_value.rstrip(b" \t")
        key = name.lower()
        if key == b"content-length":
            length = value if length is None else length + b", " + value
        elif key == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
        elif key == b"connection":
            connection = value if connection is None else connection + b", " + value
        else:
            expect = value if expect is None else expect + b", " + value
    return length, chunked, connection, expect


def _content_length(value: bytes) -> int:
    if not value.isdigit():  # ASCII digits only: no sign, no "_", no list
        if not value:
            return 0
        raise WireError(f"malformed Content-Length {value.decode('latin-1')!r}")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise WireError(f"Content-Length {length} out of range")
    return length


def _request_frame(data: bytes | bytearray, end: int) -> _RequestFrame:
    line_end = data.find(_CRLF, 0, end + 2)
    first = data.find(b" ", 0, line_end)
    second = data.find(b" ", first + 1, line_end)  # -1 too when there is no first
    if first < 0 or second < 0 or not data.startswith(_HTTP_1, second + 1, line_end):
        line = bytes(data[:line_end]).decode("latin-1")
        raise WireError(f"malformed request line {line[:80]!r}")
    length, chunked, connection, expect = _framing_fields(data, line_end, end)
    version = bytes(data[second + 1 : line_end])
    body = _CHUNKED if chunked else 0 if length is None else _content_length(length)
    return (
        end + 4,
        body,
        version != b"HTTP/1.0" if connection is None else _keep_alive_bytes(version, connection),
        expect is not None and expect.lower() == b"100-continue",
        data[:first].decode("latin-1"),
        data[first + 1 : second].decode("latin-1"),
        version.decode("latin-1"),
    )


def _response_frame(data: bytes | bytearray, end: int, method: str) -> _ResponseFrame | None:
    """The frame of the response whose head ends at ``end``; None for an interim (1xx) one."""
    line_end = data.find(_CRLF, 0, end + 2)
    first = data.find(b" ", 0, line_end)
    status = -1
    if first > 0 and data.startswith(_HTTP_1, 0, first):
        second = data.find(b" ", first + 1, line_end)
        token = data[first + 1 : second if second >= 0 else line_end]
        if len(token) == 3 and token.isdigit():  # 3DIGIT (RFC 9112)
            status = int(token)
    if status < 0:
        line = bytes(data[:line_end]).decode("latin-1")
        raise WireError(f"malformed status line {line[:80]!r}")
    if 100 <= status < 200:  # interim
        return None
    length, chunked, connection, _ = _framing_fields(data, line_end, end)
    if method == "HEAD" or status in _NO_BODY_STATUS:
        body = 0
    elif chunked:
        body = _CHUNKED
    elif length is not None:
        body = _content_length(length)
    else:
        body = _TO_EOF
    version = bytes(data[:first])
    if body == _TO_EOF:
        keep_alive = False
    else:
        keep_alive = (
            version != b"HTTP/1.0" if connection is None else _keep_alive_bytes(version, connection)
        )
    return end + 4, body, keep_alive, status, version.decode("latin-1")


def _chunked(data: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode the chunked body at ``data[start:]``: (decoded, end offset), None if incomplete."""
    decoded = bytearray()
    pos = start
    while True:
        eol = data.find(_CRLF, pos)
        if eol < 0:
            return None
        size_field = bytes(data[pos:eol]).split(b";", 1)[0].strip(b" \t")
        # 1*HEXDIG (RFC 9112) and nothing else: int() alone would take "-6" and step back
        # forever, or "0x2", "+2" and "0_2"
        if not size_field or size_field.strip(_HEX_DIGITS):
            raise WireError(f"malformed chunk size {bytes(data[pos:eol])[:40]!r}")
        size = int(size_field, 16)
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


class Buffer:
    """The bytes a connection received and not yet consumed, cut into whole messages.

    ``take_request`` / ``take_response`` return the message at the front once all of it is
    there (and drop its bytes), None while it is incomplete. ``eof=True`` says the peer closed:
    a message cut short is then an error, and a response framed by the close completes.

    A message that arrived in one read is passed on as that read's own bytes object, never
    copied; one that arrived in pieces is collected in a bytearray and copied out once.
    """

    __slots__ = ("_continued", "_request", "_response", "_scanned", "data")

    def __init__(self) -> None:
        self.data: bytes | bytearray = b""
        # the head at the front, read while its body is incomplete
        self._request: _RequestFrame | None = None
        self._response: _ResponseFrame | None = None
        self._continued = False
        self._scanned = 0  # where to resume looking for the head's end

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        held = self.data
        if not held:
            self.data = data
        elif isinstance(held, bytearray):
            held += data
        else:
            self.data = bytearray(held) + data

    @property
    def between_messages(self) -> bool:
        """No message is half-framed at the front (its head read, its body awaited)."""
        return self._request is None and self._response is None

    def hand_over(self) -> bytes:
        """Every byte held, taken out for another relay to frame (between messages only)."""
        assert self.between_messages, "a message is half-framed"
        data = self.data
        self.data = b""
        self._scanned = 0
        return data if isinstance(data, bytes) else bytes(data)

    def _no_head(self, end: int, eof: bool) -> None:
        """No whole head at the front (``end`` < 0), or one too long: None, or the error."""
        data = self.data
        if end > MAX_HEAD_BYTES or len(data) > MAX_HEAD_BYTES:
            raise WireError(f"message head longer than {MAX_HEAD_BYTES} bytes")
        if eof and data:
            raise WireError("connection closed inside a message head")
        self._scanned = max(0, len(data) - 3)

    def _body_end(self, head_size: int, body: int, eof: bool) -> tuple[int, bytes | None] | None:
        """Where the message ends, with its decoded body when that is not sliced from the raw
        one (chunked); None while incomplete."""
        data = self.data
        if body >= 0:
            stop = head_size + body
            return (stop, None) if len(data) >= stop else None
        if body == _CHUNKED:
            found = _chunked(data, head_size)
            return None if found is None else (found[1], found[0])
        if not eof:  # _TO_EOF
            if len(data) - head_size > MAX_BODY_BYTES:
                raise WireError(f"body longer than {MAX_BODY_BYTES} bytes")
            return None
        return len(data), None

    def _cut(self, stop: int) -> bytes:
        """Cut the first ``stop`` bytes out of the buffer."""
        data = self.data
        if stop == len(data):
            raw = data if isinstance(data, bytes) else bytes(data)
            self.data = b""
        else:
            raw = bytes(data[:stop])
            self.data = data[stop:]
        self._scanned = 0
        return raw

    def take_request(
        self, on_continue: Callable[[], None] | None = None, *, eof: bool = False
    ) -> Request | None:
        """The next whole request, or None (incomplete, or a clean close between requests).

        ``Expect: 100-continue`` calls ``on_continue`` once, as soon as the head is in.
        """
        frame = self._request
        data = self.data
        if frame is None:
            end = data.find(_HEAD_END, self._scanned)
            if end < 0 or end > MAX_HEAD_BYTES:
                self._no_head(end, eof)
                return None
            frame = _request_frame(data, end)
        head_size, body, keep_alive, expect, method, target, version = frame
        if expect and on_continue is not None and not self._continued:
            self._continued = True
            on_continue()
        taken = self._take(head_size, body, eof, "connection closed inside a request body")
        if taken is None:
            self._request = frame
            return None
        self._request = None
        self._continued = False
        raw, decoded = taken
        return Request(
            method,
            target,
            version,
            None,
            decoded,
            raw,
            head_size=head_size,
            keep_alive=keep_alive,
        )

    def _take(
        self, head_size: int, body: int, eof: bool, cut_short: str
    ) -> tuple[bytes, bytes | None] | None:
        """Cut the whole message at the front (its head is ``head_size`` bytes, its body framed
        by ``body``): (raw, decoded body when it is not the raw one); None while incomplete,
        a WireError saying ``cut_short`` when the peer closed inside it."""
        data = self.data
        decoded: bytes | None = None
        if body >= 0 and len(data) >= head_size + body:  # the common case: a Content-Length
            stop = head_size + body
        else:
            found = self._body_end(head_size, body, eof)
            if found is None:
                if eof:
                    raise WireError(cut_short)
                return None
            stop, decoded = found
        return self._cut(stop), decoded

    def take_response(self, method: str, *, eof: bool = False) -> Response | None:
        """The next whole response to a ``method`` request (interim 1xx ones are dropped)."""
        frame = self._response
        while frame is None:
            data = self.data
            if eof and not data:
                raise ClosedBeforeAnswer("upstream closed the connection before answering")
            end = data.find(_HEAD_END, self._scanned)
            if end < 0 or end > MAX_HEAD_BYTES:
                self._no_head(end, eof)
                return None
            frame = _response_frame(data, end, method)
            if frame is None:  # an interim answer: dropped
                self._cut(end + 4)
        head_size, body, keep_alive, status, version = frame
        taken = self._take(
            head_size, body, eof, "upstream closed the connection inside a response body"
        )
        if taken is None:
            self._response = frame
            return None
        self._response = None
        raw, decoded = taken
        return Response(
            status,
            version,
            None,
            decoded,
            raw,
            body == _TO_EOF,
            head_size=head_size,
            keep_alive=keep_alive,
        )


_REASONS: Final = {
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
    return Response(status, "HTTP/1.1", lowered, body, head + body, head_size=len(head))
