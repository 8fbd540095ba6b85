"""HTTP/1.1 framing: unit tier (streams fed in memory)."""

from __future__ import annotations

import asyncio

import pytest

from local.faultproxy import wire

pytestmark = pytest.mark.unit


async def _fed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=wire.MAX_HEAD_BYTES)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def _request(data: bytes) -> wire.Request | None:
    async def read() -> wire.Request | None:
        return await wire.read_request(await _fed(data))

    return asyncio.run(read())


def _response(data: bytes, method: str = "POST") -> wire.Response:
    async def read() -> wire.Response:
        return await wire.read_response(await _fed(data), method)

    return asyncio.run(read())


def test_a_request_keeps_its_raw_bytes_and_decodes_its_body() -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Amz-Target: AmazonSQS.X\r\n\r\nhello"
    )
    request = _request(raw + b"POST / HTTP/1.1\r\n")
    assert request is not None
    assert request.raw == raw, "only this message, byte for byte"
    assert request.body == b"hello"
    assert request.headers["x-amz-target"] == "AmazonSQS.X"
    assert request.keep_alive


def test_a_chunked_request_is_decoded_and_relayed_as_framed() -> None:
    raw = (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    )
    request = _request(raw)
    assert request is not None
    assert request.body == b"abcde"
    assert request.raw == raw


def test_clean_eof_is_none_and_garbage_is_an_error() -> None:
    assert _request(b"") is None
    with pytest.raises(wire.WireError, match="malformed request line"):
        _request(b"NOT HTTP\r\n\r\n")
    with pytest.raises(wire.WireError, match="inside a message head"):
        _request(b"POST / HTTP/1.1\r\nHost")
    with pytest.raises(wire.WireError, match="inside a request body"):
        _request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort")
    with pytest.raises(wire.WireError, match="malformed Content-Length"):
        _request(b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n")


def test_connection_close_and_http_1_0() -> None:
    closing = _request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert closing is not None and not closing.keep_alive
    old = _request(b"GET / HTTP/1.0\r\n\r\n")
    assert old is not None and not old.keep_alive


def test_responses_by_length_chunks_or_close() -> None:
    sized = _response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert (sized.status, sized.body, sized.keep_alive) == (200, b"{}", True)
    chunked = _response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    assert chunked.body == b"{}"
    until_close = _response(b"HTTP/1.1 500 Oops\r\n\r\nbody until eof")
    assert until_close.body == b"body until eof"
    assert not until_close.keep_alive
    head = _response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", method="HEAD")
    assert head.body == b""


def test_interim_responses_are_skipped() -> None:
    response = _response(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    )
    assert response.status == 200


def test_an_upstream_that_closes_before_answering_is_an_error() -> None:
    with pytest.raises(wire.WireError, match="before answering"):
        _response(b"")


def test_built_responses_are_framed() -> None:
    response = wire.build_response(503, {"Content-Type": "text/xml"}, b"<x/>")
    assert response.raw.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert response.raw.endswith(b"Content-Length: 4\r\n\r\n<x/>")
    assert _response(response.raw).body == b"<x/>"
