"""Records as typed objects and JSON lines: unit tier."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import pytest

from local.faultproxy import CallRecord, FiredFault, Recorder, read_records

pytestmark = pytest.mark.unit


def _fault(kind: str = "throttle", count: int = 1) -> FiredFault:
    return FiredFault(
        ts=1.5,
        service="sqs",
        operation="DeleteMessage",
        kind=kind,
        rule="rules[0]",
        count=count,
        plan="phase-1",
        detail={"status": 403, "code": "RequestThrottled"},
    )


def _call(op: str = "ReceiveMessage") -> CallRecord:
    return CallRecord(
        ts=2.5,
        service="sqs",
        operation=op,
        protocol="json",
        status=200,
        latency_ms=1.25,
        forwarded=True,
        queue_url="http://q",
        message_ids=("m1",),
        receipt_handles=("r1",),
    )


def test_records_round_trip_through_json_lines(tmp_path: Path) -> None:
    sink = tmp_path / "calls.jsonl"
    recorder = Recorder(sink=sink)
    recorder.add_fault(_fault())
    recorder.add_call(_call())
    recorder.close()
    lines = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [line["record"] for line in lines] == ["fault", "call"]
    assert lines[1]["message_ids"] == ["m1"]
    faults, calls = read_records(sink)
    assert faults == [_fault()]
    assert calls == [_call()]


def test_an_unknown_record_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"record": "other"}\n')
    with pytest.raises(ValueError, match=re.escape("bad.jsonl:1: unknown record type 'other'")):
        read_records(path)


def test_fired_counts_by_kind_and_handle_resolution() -> None:
    recorder = Recorder(calls=False)
    for kind in ("throttle", "throttle", "ack_dropped"):
        recorder.add_fault(_fault(kind))
    assert recorder.fired_counts() == {"throttle": 2, "ack_dropped": 1}
    recorder.remember_handles([("m1", "r1"), ("m2", "r2")])
    assert recorder.message_ids_for(["r2", "unknown", "r1"]) == ("m2", "", "m1")


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    sink = tmp_path / "many.jsonl"
    recorder = Recorder(sink=sink)

    def write() -> None:
        for _ in range(200):
            recorder.add_call(_call())

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    assert len(recorder.calls()) == 800
    assert len(read_records(sink)[1]) == 800


def test_the_sdk_retry_headers_round_trip_and_old_lines_still_load(tmp_path: Path) -> None:
    # GIVEN a call recorded with botocore's retry headers
    sink = tmp_path / "calls.jsonl"
    recorder = Recorder(sink=sink)
    retry = dataclasses.replace(
        _call(), sdk_invocation_id="inv-1", sdk_request="ttl=20261130T051500Z; attempt=2; max=3"
    )
    recorder.add_call(retry)
    recorder.close()
    # THEN they are in the line, typed back, and the attempt is read from them
    assert json.loads(sink.read_text())["sdk_invocation_id"] == "inv-1"
    [back] = read_records(sink)[1]
    assert back == retry and back.attempt == 2
    # AND a line written before these fields existed still loads, with neither
    old = tmp_path / "old.jsonl"
    line = {k: v for k, v in _call().to_dict().items() if not k.startswith("sdk_")}
    old.write_text(json.dumps(line) + "\n")
    [loaded] = read_records(old)[1]
    assert loaded.sdk_invocation_id is None and loaded.attempt is None
