"""The AWS wire protocols the proxy speaks: which service and operation a call is, and answers
shaped like AWS's own.

- JSON protocol (SQS since botocore 1.31, DynamoDB): ``X-Amz-Target: <prefix>.<Operation>``;
  errors carry ``__type`` in the body, ``x-amzn-RequestId``, and for SQS (a former query
  service, ``awsQueryCompatible``) the ``x-amzn-query-error: <Code>;<Sender|Receiver>`` header
  that botocore reads the error code from. DynamoDB answers carry ``x-amz-crc32``.
- Query protocol (SQS from older SDKs): a form body with ``Action=<Operation>``; errors are
  ``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``.

Error codes and statuses follow the services' models: SQS ``RequestThrottled`` is a 403 (the
SQS model's ``awsQueryError``), DynamoDB's throttling errors are 400s. botocore's standard
retry mode retries exactly these codes (``retries/standard.py``) and every 500/502/503/504.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from local.faultproxy import wire

SQS: Final = "sqs"
DYNAMODB: Final = "dynamodb"
SERVICES: Final = (SQS, DYNAMODB)
UNKNOWN: Final = "unknown"

_TARGET_PREFIXES: Final = {"AmazonSQS": SQS, "DynamoDB_20120810": DYNAMODB}
_SQS_API_VERSION: Final = "2012-11-05"
SQS_XML_NAMESPACE: Final = "http://queue.amazonaws.com/doc/2012-11-05/"
_JSON_CONTENT_TYPE: Final = "application/x-amz-json-1.0"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ENTRY_FIELD = re.compile(r"\.(\d+)\.(Id|ReceiptHandle)$")

# -- error codes -------------------------------------------------------------------------------

THROTTLING_EXCEPTION: Final = "ThrottlingException"
PROVISIONED_THROUGHPUT_EXCEEDED: Final = "ProvisionedThroughputExceededException"
REQUEST_THROTTLED: Final = "RequestThrottled"
#: throttling codes the proxy emits, with the HTTP status each service model gives them
THROTTLE_STATUS: Final = {
    THROTTLING_EXCEPTION: 400,
    PROVISIONED_THROUGHPUT_EXCEEDED: 400,
    REQUEST_THROTTLED: 403,
}
DEFAULT_THROTTLE: Final = {SQS: REQUEST_THROTTLED, DYNAMODB: PROVISIONED_THROUGHPUT_EXCEEDED}
SERVER_ERROR_CODES: Final = {
    SQS: {500: "InternalFailure", 503: "ServiceUnavailable"},
    DYNAMODB: {500: "InternalServerError", 503: "ServiceUnavailable"},
}
TRANSACTION_CANCELED: Final = "TransactionCanceledException"
CONDITIONAL_CHECK_FAILED: Final = "ConditionalCheckFailedException"
#: DynamoDB cancellation reason codes, with the message DynamoDB sends for each
CANCELLATION_REASONS: Final = {
    "ConditionalCheckFailed": "The conditional request failed",
    "TransactionConflict": "Transaction is ongoing for the item",
    "ThrottlingError": "Throughput exceeds the current capacity for one or more tables",
    "ProvisionedThroughputExceeded": "The level of configured provisioned throughput is exceeded",
    "ValidationError": "One or more parameter values were invalid",
}

# -- operations whose calls the records describe in detail ----------------------------------------

RECEIVE_MESSAGE: Final = "ReceiveMessage"
SEND_OPS: Final = frozenset({"SendMessage", "SendMessageBatch"})
#: operations that target received messages by receipt handle
HANDLE_OPS: Final = frozenset(
    {
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    }
)


class Protocol(StrEnum):
    """How a call is encoded on the wire."""

    JSON = "json"
    QUERY = "query"
    OTHER = "other"


#: the SDK's retry headers (botocore, the AWS SDK for JavaScript v3, ...): one invocation id for
#: all attempts of one API call, and ``attempt=N; max=M`` (with a ``ttl=`` in some modes)
INVOCATION_ID_HEADER: Final = "amz-sdk-invocation-id"
SDK_REQUEST_HEADER: Final = "amz-sdk-request"
_ATTEMPT = re.compile(r"(?:^|;)\s*attempt=(\d+)")


def sdk_attempt(sdk_request: str | None) -> int | None:
    """The attempt number an ``amz-sdk-request`` header carries (1 = the first try), or None."""
    found = _ATTEMPT.search(sdk_request) if sdk_request else None
    return int(found.group(1)) if found else None


class Call:
    """One identified API call: service, operation, protocol, and its parameters on demand.

    ``invocation_id`` and ``sdk_request`` are the SDK's retry headers, when the client sent
    them: a later call with the same invocation id is the SDK retrying this one.
    """

    __slots__ = (
        "_params",
        "body",
        "invocation_id",
        "operation",
        "protocol",
        "sdk_request",
        "service",
    )

    def __init__(
        self,
        service: str,
        operation: str,
        protocol: Protocol,
        body: bytes = b"",
        params: dict[str, Any] | None = None,
        *,
        invocation_id: str | None = None,
        sdk_request: str | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.protocol = protocol
        self.body = body
        self._params = params
        self.invocation_id = invocation_id
        self.sdk_request = sdk_request

    @property
    def attempt(self) -> int | None:
        """Which attempt of its invocation this call is (1 = the first), when the SDK says."""
        return sdk_attempt(self.sdk_request)

    def __repr__(self) -> str:
        return f"Call({self.service}.{self.operation or '?'} over {self.protocol})"

    def params(self) -> dict[str, Any]:
        """The request parameters: the JSON body, or the query form fields (first value each)."""
        if self._params is None:
            try:
                parsed = json.loads(self.body) if self.body else {}
            except ValueError:
                parsed = {}
            self._params = parsed if isinstance(parsed, dict) else {}
        return self._params


def _scope_service(headers: Mapping[str, str]) -> str | None:
    found = _SCOPE.search(headers.get("authorization", ""))
    return found.group(1) if found else None


#: the headers :func:`identify` reads: picked with one scan of the head, not a full parse
_IDENTIFY_HEADERS: Final = (
    "x-amz-target",
    INVOCATION_ID_HEADER,
    SDK_REQUEST_HEADER,
    "content-type",
    "authorization",
)


def identify(request: wire.Request) -> Call:
    """Which service and operation ``request`` is, from its target header, form or signature."""
    headers = request.pick_headers(*_IDENTIFY_HEADERS)
    invocation_id = headers.get(INVOCATION_ID_HEADER)
    sdk_request = headers.get(SDK_REQUEST_HEADER)
    target = headers.get("x-amz-target")
    if target:
        prefix, _, operation = target.rpartition(".")
        service = _TARGET_PREFIXES.get(prefix) or _scope_service(headers) or UNKNOWN
        return Call(
            service,
            operation,
            Protocol.JSON,
            request.body,
            invocation_id=invocation_id,
            sdk_request=sdk_request,
        )
    query = urlsplit(request.target).query
    form = request.body.decode("utf-8", "replace") if _is_form(headers) else ""
    fields = dict(parse_qsl(query)) if query else {}
    if form:
        fields.update(parse_qsl(form, keep_blank_values=True))
    action = fields.get("Action")
    if action:
        service = _scope_service(headers) or (
            SQS if fields.get("Version") == _SQS_API_VERSION else UNKNOWN
        )
        return Call(
            service,
            action,
            Protocol.QUERY,
            request.body,
            fields,
            invocation_id=invocation_id,
            sdk_request=sdk_request,
        )
    return Call(
        _scope_service(headers) or UNKNOWN,
        "",
        Protocol.OTHER,
        request.body,
        invocation_id=invocation_id,
        sdk_request=sdk_request,
    )


def _is_form(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


# -- answers -------------------------------------------------------------------------------------


def _request_id() -> str:
    return str(uuid.uuid4())


def _json_response(call: Call, status: int, payload: Mapping[str, Any]) -> wire.Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": _JSON_CONTENT_TYPE, "x-amzn-RequestId": _request_id()}
    if call.service == DYNAMODB:
        # botocore checks this checksum on DynamoDB answers; a wrong one would be retried.
        headers["x-amz-crc32"] = str(zlib.crc32(body))
    return wire.build_response(status, headers, body)


def _xml_response(status: int, document: str) -> wire.Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>' + document).encode()
    return wire.build_response(status, {"Content-Type": "text/xml"}, body)


def _json_type(service: str, code: str) -> str:
    if service == DYNAMODB:
        if code in (THROTTLING_EXCEPTION, "ServiceUnavailable"):
            return f"com.amazon.coral.availability#{code}"
        return f"com.amazonaws.dynamodb.v20120810#{code}"
    if service == SQS:
        return f"com.amazonaws.sqs#{code}"
    return code


def error_response(
    call: Call,
    status: int,
    code: str,
    message: str,
    extra: Mapping[str, Any] | None = None,
) -> wire.Response:
    """An AWS error answer for ``call``'s protocol: status, code, message, request id."""
    fault_side = "Sender" if status < 500 else "Receiver"
    if call.protocol is Protocol.QUERY:
        request_id = _request_id()
        document = (
            f'<ErrorResponse xmlns="{SQS_XML_NAMESPACE}"><Error><Type>{fault_side}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return _with_header(_xml_response(status, document), "x-amzn-RequestId", request_id)
    message_key = "Message" if code == TRANSACTION_CANCELED else "message"
    payload: dict[str, Any] = {"__type": _json_type(call.service, code), message_key: message}
    payload.update(extra or {})
    response = _json_response(call, status, payload)
    if call.service == SQS:
        return _with_header(response, "x-amzn-query-error", f"{code};{fault_side}")
    return response


def _with_header(response: wire.Response, name: str, value: str) -> wire.Response:
    """``response`` with one more header, re-framed."""
    head, _, _ = response.raw.partition(b"\r\n\r\n")
    raw = head + f"\r\n{name}: {value}\r\n\r\n".encode("latin-1") + response.body
    headers = dict(response.headers)
    headers[name.lower()] = value
    return wire.Response(response.status, response.version, headers, response.body, raw)


def throttle_response(call: Call, code: str) -> wire.Response:
    """A throttling error with the status the service model gives ``code``."""
    return error_response(call, THROTTLE_STATUS[code], code, "Rate exceeded")


def server_error_response(call: Call, status: int) -> wire.Response:
    """A 500 or 503 with the service's own code for it."""
    code = SERVER_ERROR_CODES.get(call.service, SERVER_ERROR_CODES[SQS])[status]
    return error_response(call, status, code, "We encountered an internal error. Try again.")


def transaction_canceled_response(call: Call, reason: str) -> wire.Response:
    """``TransactionCanceledException``: ``reason`` for the first item, ``None`` for the rest."""
    items = call.params().get("TransactItems")
    count = len(items) if isinstance(items, list) and items else 1
    reasons: list[dict[str, str]] = [{"Code": reason, "Message": CANCELLATION_REASONS[reason]}]
    reasons += [{"Code": "None"}] * (count - 1)
    codes = ", ".join(r["Code"] for r in reasons)
    message = (
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
    )
    return error_response(
        call, 400, TRANSACTION_CANCELED, message, {"CancellationReasons": reasons}
    )


def conditional_check_failed_response(call: Call) -> wire.Response:
    """``ConditionalCheckFailedException``, as DynamoDB sends it."""
    return error_response(call, 400, CONDITIONAL_CHECK_FAILED, "The conditional request failed")


def gateway_error_response(call: Call, status: int, message: str) -> wire.Response:
    """502/504 when the upstream cannot be reached or does not answer in time."""
    return error_response(call, status, "ServiceUnavailable", message)


def ack_response(call: Call) -> wire.Response:
    """A success answer for an SQS delete or visibility change that was never forwarded.

    Batch operations report every entry in ``Successful``, as AWS does when all of them apply.
    """
    op = call.operation
    ids = batch_entry_ids(call) if op.endswith("Batch") else []
    if call.protocol is Protocol.QUERY:
        result = ""
        if op.endswith("Batch"):
            entries = "".join(
                f"<{op}ResultEntry><Id>{escape(i)}</Id></{op}ResultEntry>" for i in ids
            )
            result = f"<{op}Result>{entries}</{op}Result>"
        request_id = _request_id()
        document = (
            f'<{op}Response xmlns="{SQS_XML_NAMESPACE}">{result}<ResponseMetadata>'
            f"<RequestId>{request_id}</RequestId></ResponseMetadata></{op}Response>"
        )
        return _with_header(_xml_response(200, document), "x-amzn-RequestId", request_id)
    payload: dict[str, Any] = {}
    if op.endswith("Batch"):
        payload = {"Successful": [{"Id": i} for i in ids], "Failed": []}
    return _json_response(call, 200, payload)


# -- what an SQS call targeted and returned ------------------------------------------------------


def _entry_fields(call: Call, name: str) -> list[str]:
    params = call.params()
    if call.protocol is Protocol.JSON:
        entries = params.get("Entries")
        if not isinstance(entries, list):
            return []
        return [str(e[name]) for e in entries if isinstance(e, dict) and name in e]
    found: list[tuple[int, str]] = []
    for key, value in params.items():
        match = _ENTRY_FIELD.search(key)
        if match and match.group(2) == name:
            found.append((int(match.group(1)), value))
    return [value for _, value in sorted(found)]


def batch_entry_ids(call: Call) -> list[str]:
    """The ``Id`` of every entry of a batch request, in order."""
    return _entry_fields(call, "Id")


def queue_url(call: Call) -> str | None:
    """The ``QueueUrl`` a call names, if any."""
    value = call.params().get("QueueUrl")
    return str(value) if value else None


def request_receipt_handles(call: Call) -> list[str]:
    """The receipt handles a delete or visibility change targets."""
    if call.operation.endswith("Batch"):
        return _entry_fields(call, "ReceiptHandle")
    handle = call.params().get("ReceiptHandle")
    return [str(handle)] if handle else []


def _xml_elements(body: bytes) -> list[ET.Element]:
    try:
        return list(ET.fromstring(body).iter())  # noqa: S314 - the upstream is the user's own endpoint
    except ET.ParseError:
        return []


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def received_messages(call: Call, body: bytes) -> list[tuple[str, str]]:
    """``(MessageId, ReceiptHandle)`` of every message a ReceiveMessage answer returned."""
    if call.protocol is Protocol.JSON:
        try:
            messages = json.loads(body).get("Messages") or []
        except (ValueError, AttributeError):
            return []
        return [
            (str(m.get("MessageId", "")), str(m.get("ReceiptHandle", "")))
            for m in messages
            if isinstance(m, dict)
        ]
    pairs = []
    for element in _xml_elements(body):
        if _local(element.tag) == "Message":
            fields = {_local(child.tag): child.text or "" for child in element}
            pairs.append((fields.get("MessageId", ""), fields.get("ReceiptHandle", "")))
    return pairs


def sent_message_ids(call: Call, body: bytes) -> list[str]:
    """The ``MessageId`` of every message a SendMessage(Batch) answer accepted."""
    if call.protocol is Protocol.JSON:
        try:
            parsed = json.loads(body)
        except ValueError:
            return []
        if not isinstance(parsed, dict):
            return []
        if "MessageId" in parsed:
            return [str(parsed["MessageId"])]
        return [str(e.get("MessageId")) for e in parsed.get("Successful") or []]
    return [e.text or "" for e in _xml_elements(body) if _local(e.tag) == "MessageId"]
