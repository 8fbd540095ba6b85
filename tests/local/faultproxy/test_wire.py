"""HTTP/1.1 framing: unit tier (buffers fed in memory)."""

from __future__ import annotations

import pytest

from local.faultproxy import wire

pytestmark = pytest.mark.unit


def _request(data: bytes) -> wire.Request | None:
    buffer = wire.Buffer()
    buffer.feed(data)
    return buffer.take_request(eof=True)


def _response(data: bytes, method: str = "POST") -> wire.Response:
    buffer = wire.Buffer()
    buffer.feed(data)
    response = buffer.take_response(method, eof=True)
    assert response is not None
    return response


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


def test_messages_fed_byte_by_byte_complete_exactly_once() -> None:
    # GIVEN two requests on one connection, one with Expect: 100-continue, arriving byte by byte
    first = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    second = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
    buffer = wire.Buffer()
    continued: list[bool] = []
    got: list[wire.Request] = []
    for byte in first + second:
        buffer.feed(bytes([byte]))
        request = buffer.take_request(lambda: continued.append(True))
        if request is not None:
            got.append(request)
    # THEN each is cut out once, whole, and the 100 Continue was asked for once
    assert [r.raw for r in got] == [first, second]
    assert [r.body for r in got] == [b"abc", b"de"]
    assert continued == [True]
    assert buffer.take_request(eof=True) is None, "a clean close between requests"


def test_a_response_fed_in_pieces_waits_for_its_body_or_the_close() -> None:
    buffer = wire.Buffer()
    buffer.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{")
    assert buffer.take_response("POST") is None
    buffer.feed(b'"a"}')
    response = buffer.take_response("POST")
    assert response is not None and response.body == b'{"a"'
    assert buffer.data == bytearray(b"}"), "the rest stays for the next message"
    until_close = wire.Buffer()
    until_close.feed(b"HTTP/1.1 200 OK\r\n\r\npartial")
    assert until_close.take_response("POST") is None, "framed by the close: not done yet"
    done = until_close.take_response("POST", eof=True)
    assert done is not None and done.body == b"partial" and not done.keep_alive


def test_a_response_cut_short_or_a_head_too_long_is_an_error() -> None:
    with pytest.raises(wire.WireError, match="inside a response body"):
        _response(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}")
    with pytest.raises(wire.WireError, match="malformed status line"):
        _response(b"SPDY/3 200 OK\r\n\r\n")
    huge = wire.Buffer()
    huge.feed(b"POST / HTTP/1.1\r\nX: " + b"y" * (wire.MAX_HEAD_BYTES + 1))
    with pytest.raises(wire.WireError, match="head longer"):
        huge.take_request()


def test_two_messages_in_one_read_are_cut_byte_exact_and_leave_nothing() -> None:
    first = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    second = b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
    buffer = wire.Buffer()
    buffer.feed(first + second)
    one, two = buffer.take_request(), buffer.take_request()
    assert one is not None and two is not None
    assert (one.raw, one.body) == (first, b"abc")
    assert (two.raw, two.body, two.target) == (second, b"de", "/q")
    assert buffer.data == b"", "both messages consumed, nothing else"
    assert buffer.take_request(eof=True) is None


# -- the framing fast path: a few byte scans, the header dict parsed only when asked for -------


def test_framing_headers_match_any_case_and_optional_whitespace() -> None:
    raw = (
        b"POST / HTTP/1.1\r\nCONTENT-length :\t 3 \r\nconnection:  Keep-Alive, CLOSE\r\n"
        b"eXpEcT: 100-Continue\r\n\r\nabc"
    )
    buffer = wire.Buffer()
    buffer.feed(raw)
    continued: list[bool] = []
    request = buffer.take_request(lambda: continued.append(True))
    assert request is not None
    assert (request.raw, request.body) == (raw, b"abc")
    assert not request.keep_alive, "close is a token of the Connection header, in any case"
    assert continued == [True]
    chunked = _request(b"POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n")
    assert chunked is not None and chunked.body == b"z"
    old = _request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert old is not None and old.keep_alive


def test_content_length_inside_another_header_or_the_body_does_not_fool_it() -> None:
    # GIVEN "content-length" in a header value, in longer header names and in the body
    body = b'{"note": "\r\nContent-Length: 999\r\n\r\n"}'
    raw = (
        b"POST / HTTP/1.1\r\nX-Note: content-length: 999\r\nX-Content-Length: 999\r\n"
        b"Content-Length-Hint: 999\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    following = b"GET /next HTTP/1.1\r\n\r\n"
    buffer = wire.Buffer()
    buffer.feed(raw + body + following)
    # THEN only the Content-Length header frames the body, and the next request follows it
    first, second = buffer.take_request(), buffer.take_request()
    assert first is not None and second is not None
    assert (first.raw, first.body) == (raw + body, body)
    assert (second.target, second.raw) == ("/next", following)
    no_length = _request(b"POST / HTTP/1.1\r\nX-Note: a\nContent-Length: 5\r\n\r\n")
    assert no_length is not None and no_length.body == b"", "a bare LF does not start a line"
    assert no_length.headers == {"x-note": "a\nContent-Length: 5"}


@pytest.mark.parametrize(
    "length",
    [b"Content-Length: 3\r\nContent-Length: 3", b"Content-Length: 3, 4", b"Content-Length: +3"],
    ids=["duplicate", "list", "signed"],
)
def test_a_duplicate_or_non_numeric_content_length_is_an_error(length: bytes) -> None:
    with pytest.raises(wire.WireError, match="malformed Content-Length"):
        _request(b"POST / HTTP/1.1\r\n" + length + b"\r\n\r\nabc")
    with pytest.raises(wire.WireError, match="malformed Content-Length"):
        _response(b"HTTP/1.1 200 OK\r\n" + length + b"\r\n\r\nabc")


def test_a_header_line_without_a_colon_is_the_upstreams_to_reject() -> None:
    # GIVEN a request with a header line that has no colon
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nX-Broken\r\nContent-Length: 2\r\n\r\n{}"
    request = _request(raw)
    # THEN framing does not read it: the request is relayed whole, for the upstream to judge
    assert request is not None and (request.raw, request.body) == (raw, b"{}")
    # AND parsing the head says what is wrong with it
    with pytest.raises(wire.WireError, match="malformed header line 'X-Broken'"):
        _ = request.headers


@pytest.mark.parametrize("status", [b"OK 200", b"20 OK", b"2000 OK", b"0000000200 OK"])
def test_a_status_code_that_is_not_three_digits_is_an_error(status: bytes) -> None:
    with pytest.raises(wire.WireError, match="malformed status line"):
        _response(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("size", [b"-6", b"0x2", b"+2", b"0_2", b" ", b"2\x0b"])
def test_a_chunk_size_that_is_not_hex_digits_is_an_error(size: bytes) -> None:
    # int(size, 16) would take most of these, and "-6" would step the framing back forever
    with pytest.raises(wire.WireError, match="malformed chunk size"):
        _response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\n%s\r\n0\r\n\r\n"
            % (size, b"a" * 20)
        )
    # a chunk extension and spaces or tabs around the size are RFC 9112's
    ok = _response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 2\t;ext=1\r\n{}\r\n0\r\n\r\n"
    )
    assert ok is not None and ok.body == b"{}"


def test_a_bad_status_line_or_a_body_too_long_is_an_error() -> None:
    with pytest.raises(wire.WireError, match="malformed status line"):
        _response(b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(wire.WireError, match=r"Content-Length \d+ out of range"):
        _request(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (wire.MAX_BODY_BYTES + 1))


def test_the_header_dict_is_parsed_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    real = wire._parse_headers

    def counted(text: str) -> dict[str, str]:
        parses.append(text)
        return real(text)

    monkeypatch.setattr(wire, "_parse_headers", counted)
    raw = (
        b"POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.SendMessage\r\nX-Dup: a\r\n"
        b"x-dup:  b \r\nContent-Length: 2\r\n\r\n{}"
    )
    # WHEN a request is framed and a few headers are picked
    request = _request(raw)
    assert request is not None
    picked = request.pick_headers("x-amz-target", "x-dup", "absent")
    # THEN nothing parsed the head, and the picks join repeated headers as the dict does
    assert parses == []
    assert picked == {"x-amz-target": "AmazonSQS.SendMessage", "x-dup": "a, b"}
    assert request.headers == {
        "x-amz-target": "AmazonSQS.SendMessage",
        "x-dup": "a, b",
        "content-length": "2",
    }
    assert request.headers is request.headers
    assert len(parses) == 1, "parsed once, on first use"
    assert request.pick_headers("x-dup") == {"x-dup": "a, b"}


def test_a_message_read_in_one_piece_is_passed_on_without_a_copy() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    buffer = wire.Buffer()
    buffer.feed(data)
    response = buffer.take_response("POST")
    assert response is not None and response.raw is data
    assert buffer.data == b""
