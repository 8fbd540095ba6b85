"""Service and operation identification, and AWS-shaped answers read by botocore itself:
unit tier (requests are captured before they leave the client; nothing touches the network).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from botocore.retries.standard import RetryContext, StandardRetryConditions

from local.faultproxy import protocol, wire
from local.faultproxy.protocol import Call, Protocol
from local.faultproxy.wire import Request, Response
from tests.local.faultproxy.conftest import captured_request, client, query_sqs_session

pytestmark = pytest.mark.unit

ENDPOINT = "http://127.0.0.1:1"
QUEUE = "http://127.0.0.1:1/000000000000/q"


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    session = botocore.session.get_session()
    return {s: session.get_service_model(s) for s in ("sqs", "dynamodb")}


@pytest.fixture
def query_sqs(tmp_path: Path) -> Any:
    return query_sqs_session(tmp_path).client("sqs", endpoint_url=ENDPOINT)


def _parse(response: Response, model: Any, operation: str, wire_protocol: str) -> dict[str, Any]:
    """What botocore makes of ``response`` for ``operation``, as its client does (the
    modeled fields of an error, like ``CancellationReasons``, included).
    """
    parser = create_parser(wire_protocol)
    raw = {"status_code": response.status, "headers": response.headers, "body": response.body}
    parsed: dict[str, Any] = parser.parse(raw, model.operation_model(operation).output_shape)
    code = parsed.get("Error", {}).get("QueryErrorCode") or parsed.get("Error", {}).get("Code")
    error_shape = model.shape_for_error_code(code) if code else None
    if error_shape is not None:
        parsed.update(parser.parse(raw, error_shape))
    return parsed


class _Raw:
    """The raw body AWSResponse reads (botocore checks DynamoDB's x-amz-crc32 against it)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> list[bytes]:
        return [self.body]


def _retryable(response: Response, parsed: dict[str, Any], model: Any, operation: str) -> bool:
    context = RetryContext(
        attempt_number=1,
        operation_model=model.operation_model(operation),
        parsed_response=parsed,
        http_response=AWSResponse(
            ENDPOINT, response.status, cast(Any, response.headers), _Raw(response.body)
        ),
    )
    return bool(StandardRetryConditions(max_attempts=3).is_retryable(context))


# -- identification ---------------------------------------------------------------------------


def test_json_sqs_and_dynamodb_calls_are_identified() -> None:
    sqs = client("sqs", ENDPOINT)
    call = protocol.identify(
        captured_request(sqs, "delete_message", QueueUrl=QUEUE, ReceiptHandle="rh")
    )
    assert (call.service, call.operation, call.protocol) == ("sqs", "DeleteMessage", Protocol.JSON)
    ddb = client("dynamodb", ENDPOINT)
    call = protocol.identify(
        captured_request(ddb, "put_item", TableName="t", Item={"k": {"S": "v"}})
    )
    assert (call.service, call.operation, call.protocol) == ("dynamodb", "PutItem", Protocol.JSON)


def test_query_sqs_calls_are_identified(query_sqs: Any) -> None:
    request = captured_request(query_sqs, "receive_message", QueueUrl=QUEUE)
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    call = protocol.identify(request)
    assert (call.service, call.operation, call.protocol) == (
        "sqs",
        "ReceiveMessage",
        Protocol.QUERY,
    )
    assert protocol.queue_url(call) == QUEUE


def test_unknown_targets_fall_back_to_the_signature_scope() -> None:
    sts = client("sts", ENDPOINT)
    call = protocol.identify(captured_request(sts, "get_caller_identity"))
    assert call.service == "sts", "from the SigV4 credential scope"
    assert call.operation == "GetCallerIdentity"
    bare = protocol.identify(Request("GET", "/health", "HTTP/1.1", {}, b"", b""))
    assert (bare.service, bare.operation, bare.protocol) == ("unknown", "", Protocol.OTHER)


# -- errors, as botocore reads them ---------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("sqs", "SendMessage", {"QueueUrl": QUEUE, "MessageBody": "x"}, "RequestThrottled", 403),
        ("sqs", "SendMessage", {"QueueUrl": QUEUE, "MessageBody": "x"}, "ThrottlingException", 400),
        (
            "dynamodb",
            "PutItem",
            {"TableName": "t", "Item": {"k": {"S": "v"}}},
            "ProvisionedThroughputExceededException",
            400,
        ),
        (
            "dynamodb",
            "PutItem",
            {"TableName": "t", "Item": {"k": {"S": "v"}}},
            "ThrottlingException",
            400,
        ),
    ],
)
def test_throttles_parse_to_their_code_and_are_retried(
    models: dict[str, Any], case: tuple[str, str, dict[str, Any], str, int]
) -> None:
    service, operation, params, code, status = case
    method = {"SendMessage": "send_message", "PutItem": "put_item"}[operation]
    call = protocol.identify(captured_request(client(service, ENDPOINT), method, **params))
    response = protocol.throttle_response(call, code)
    parsed = _parse(response, models[service], operation, "json")
    assert parsed["Error"]["Code"] == code
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert parsed["ResponseMetadata"]["RequestId"] == response.headers["x-amzn-requestid"]
    assert _retryable(response, parsed, models[service], operation)


def test_sqs_json_errors_carry_the_query_error_header(models: dict[str, Any]) -> None:
    call = Call("sqs", "DeleteMessage", Protocol.JSON)
    response = protocol.throttle_response(call, "RequestThrottled")
    assert response.headers["x-amzn-query-error"] == "RequestThrottled;Sender"
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#RequestThrottled"
    error = protocol.server_error_response(call, 503)
    assert error.headers["x-amzn-query-error"] == "ServiceUnavailable;Receiver"


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("service", ["sqs", "dynamodb"])
def test_server_errors_are_retried(models: dict[str, Any], service: str, status: int) -> None:
    operation = "SendMessage" if service == "sqs" else "PutItem"
    response = protocol.server_error_response(Call(service, operation, Protocol.JSON), status)
    parsed = _parse(response, models[service], operation, "json")
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert parsed["Error"]["Code"] == protocol.SERVER_ERROR_CODES[service][status]
    assert _retryable(response, parsed, models[service], operation)


def test_query_errors_parse_and_throttles_are_retried(
    models: dict[str, Any], query_sqs: Any
) -> None:
    call = protocol.identify(
        captured_request(query_sqs, "delete_message", QueueUrl=QUEUE, ReceiptHandle="h")
    )
    response = protocol.throttle_response(call, "RequestThrottled")
    assert response.headers["content-type"] == "text/xml"
    assert b"<Type>Sender</Type><Code>RequestThrottled</Code>" in response.body
    parsed = _parse(response, models["sqs"], "DeleteMessage", "query")
    assert parsed["Error"]["Code"] == "RequestThrottled"
    assert parsed["ResponseMetadata"]["RequestId"] == response.headers["x-amzn-requestid"]
    assert _retryable(response, parsed, models["sqs"], "DeleteMessage")


def test_dynamodb_race_errors_parse_and_are_not_retried(models: dict[str, Any]) -> None:
    ddb = client("dynamodb", ENDPOINT)
    items = [{"Put": {"TableName": "t", "Item": {"k": {"S": str(i)}}}} for i in range(3)]
    call = protocol.identify(captured_request(ddb, "transact_write_items", TransactItems=items))
    canceled = protocol.transaction_canceled_response(call, "TransactionConflict")
    parsed = _parse(canceled, models["dynamodb"], "TransactWriteItems", "json")
    assert parsed["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in parsed["CancellationReasons"]] == [
        "TransactionConflict",
        "None",
        "None",
    ]
    assert "[TransactionConflict, None, None]" in parsed["Error"]["Message"]
    assert not _retryable(canceled, parsed, models["dynamodb"], "TransactWriteItems")

    ccf = protocol.conditional_check_failed_response(Call("dynamodb", "PutItem", Protocol.JSON))
    parsed = _parse(ccf, models["dynamodb"], "PutItem", "json")
    assert parsed["Error"]["Code"] == "ConditionalCheckFailedException"
    # a wrong x-amz-crc32 would make botocore retry even this (RetryDDBChecksumError)
    assert not _retryable(ccf, parsed, models["dynamodb"], "PutItem")


def test_a_wrong_dynamodb_checksum_would_be_retried(models: dict[str, Any]) -> None:
    """The control for the test above: the checker does look at x-amz-crc32."""
    ccf = protocol.conditional_check_failed_response(Call("dynamodb", "PutItem", Protocol.JSON))
    ccf.headers["x-amz-crc32"] = "1"
    parsed = _parse(ccf, models["dynamodb"], "PutItem", "json")
    assert _retryable(ccf, parsed, models["dynamodb"], "PutItem")


# -- acknowledged but dropped -------------------------------------------------------------------


def test_ack_answers_parse_as_success_with_every_batch_entry_successful(
    models: dict[str, Any],
) -> None:
    sqs = client("sqs", ENDPOINT)
    entries = [{"Id": f"e{i}", "ReceiptHandle": f"h{i}"} for i in range(3)]
    call = protocol.identify(
        captured_request(sqs, "delete_message_batch", QueueUrl=QUEUE, Entries=entries)
    )
    assert protocol.request_receipt_handles(call) == ["h0", "h1", "h2"]
    parsed = _parse(protocol.ack_response(call), models["sqs"], "DeleteMessageBatch", "json")
    assert [e["Id"] for e in parsed["Successful"]] == ["e0", "e1", "e2"]
    assert parsed.get("Failed", []) == []
    vis_entries = [{"Id": "a", "ReceiptHandle": "h", "VisibilityTimeout": 0}]
    call = protocol.identify(
        captured_request(
            sqs, "change_message_visibility_batch", QueueUrl=QUEUE, Entries=vis_entries
        )
    )
    parsed = _parse(
        protocol.ack_response(call), models["sqs"], "ChangeMessageVisibilityBatch", "json"
    )
    assert [e["Id"] for e in parsed["Successful"]] == ["a"]
    single = protocol.identify(
        captured_request(sqs, "delete_message", QueueUrl=QUEUE, ReceiptHandle="h")
    )
    answer = protocol.ack_response(single)
    assert answer.status == 200 and json.loads(answer.body) == {}


def test_query_ack_answers_name_every_batch_entry(query_sqs: Any) -> None:
    request = Request(
        "POST",
        "/",
        "HTTP/1.1",
        {"content-type": "application/x-www-form-urlencoded"},
        b"Action=DeleteMessageBatch&Version=2012-11-05&QueueUrl=q"
        b"&DeleteMessageBatchRequestEntry.2.Id=b&DeleteMessageBatchRequestEntry.2.ReceiptHandle=h2"
        b"&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=h1",
        b"",
    )
    call = protocol.identify(request)
    assert protocol.request_receipt_handles(call) == ["h1", "h2"]
    body = protocol.ack_response(call).body.decode()
    assert (
        "<DeleteMessageBatchResult><DeleteMessageBatchResultEntry><Id>a</Id>"
        "</DeleteMessageBatchResultEntry><DeleteMessageBatchResultEntry><Id>b</Id>"
    ) in body
    single = protocol.identify(
        captured_request(query_sqs, "delete_message", QueueUrl=QUEUE, ReceiptHandle="h")
    )
    assert b"<DeleteMessageResponse" in protocol.ack_response(single).body


# -- what a receive returned ---------------------------------------------------------------------


def test_received_messages_and_sent_ids_from_json_and_xml() -> None:
    json_call = Call("sqs", "ReceiveMessage", Protocol.JSON)
    body = json.dumps({"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1"}]}).encode()
    assert protocol.received_messages(json_call, body) == [("m1", "r1")]
    assert protocol.received_messages(json_call, b"{}") == []
    xml_call = Call("sqs", "ReceiveMessage", Protocol.QUERY, params={})
    xml = (
        f'<ReceiveMessageResponse xmlns="{protocol.SQS_XML_NAMESPACE}"><ReceiveMessageResult>'
        "<Message><MessageId>m1</MessageId><ReceiptHandle>r1</ReceiptHandle></Message>"
        "<Message><MessageId>m2</MessageId><ReceiptHandle>r2</ReceiptHandle></Message>"
        "</ReceiveMessageResult></ReceiveMessageResponse>"
    ).encode()
    assert protocol.received_messages(xml_call, xml) == [("m1", "r1"), ("m2", "r2")]
    send = Call("sqs", "SendMessageBatch", Protocol.JSON)
    sent = json.dumps(
        {"Successful": [{"Id": "0", "MessageId": "a"}, {"Id": "1", "MessageId": "b"}]}
    )
    assert protocol.sent_message_ids(send, sent.encode()) == ["a", "b"]


def test_the_sdk_retry_headers_are_read_from_a_botocore_call() -> None:
    # GIVEN a call as botocore sends it (every attempt carries the two retry headers)
    sqs = client("sqs", ENDPOINT)
    call = protocol.identify(captured_request(sqs, "send_message", QueueUrl=QUEUE, MessageBody="x"))
    # THEN the invocation id is botocore's UUID and this is the first of three attempts
    assert call.invocation_id is not None and len(call.invocation_id) == 36
    assert call.sdk_request is not None and call.attempt == 1
    # AND a client that sends no such header has neither
    bare = protocol.identify(Request("GET", "/health", "HTTP/1.1", {}, b"", b""))
    assert (bare.invocation_id, bare.sdk_request, bare.attempt) == (None, None, None)


@pytest.mark.parametrize(
    ("header", "attempt"),
    [
        ("attempt=1; max=3", 1),
        ("ttl=20261130T051500Z; attempt=2; max=5", 2),
        ("attempt=12", 12),
        ("max=3", None),
        ("xattempt=2", None),
        ("", None),
        (None, None),
    ],
)
def test_the_attempt_number_is_parsed_only_from_an_attempt_field(
    header: str | None, attempt: int | None
) -> None:
    assert protocol.sdk_attempt(header) == attempt


def _as_received(request: Request) -> Request:
    """``request`` as the proxy receives it: framed from raw bytes, its headers not parsed."""
    head = f"{request.method} {request.target} {request.version}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items()
    )
    buffer = wire.Buffer()
    buffer.feed(head.encode("latin-1") + b"\r\n" + request.body)
    received = buffer.take_request(eof=True)
    assert received is not None
    return received


def test_a_received_call_is_identified_as_its_parsed_headers_say(query_sqs: Any) -> None:
    # GIVEN calls of each protocol, identified once from parsed headers, once from raw bytes
    sqs, ddb = client("sqs", ENDPOINT), client("dynamodb", ENDPOINT)
    requests = [
        captured_request(sqs, "delete_message", QueueUrl=QUEUE, ReceiptHandle="h"),
        captured_request(query_sqs, "send_message", QueueUrl=QUEUE, MessageBody="q"),
        captured_request(ddb, "get_item", TableName="t", Key={"k": {"S": "v"}}),
        Request("GET", "/health", "HTTP/1.1", {}, b"", b""),
    ]
    for request in requests:
        parsed, received = protocol.identify(request), protocol.identify(_as_received(request))
        # THEN both say the same
        fields = ("service", "operation", "protocol", "invocation_id", "sdk_request", "body")
        assert [getattr(received, f) for f in fields] == [getattr(parsed, f) for f in fields]
        assert received.params() == parsed.params()
    assert [protocol.identify(_as_received(r)).operation for r in requests] == [
        "DeleteMessage",
        "SendMessage",
        "GetItem",
        "",
    ]
