"""Fault proxy overhead (issue 16): SQS calls through the proxy with no faults, against the same
calls straight to the embedded emulator (MiniStack), measured side by side in one run.

The proxy runs as its own process (``python -m local.faultproxy``), as it would in front of
consumers: once as a plain relay, once recording every call (``--record``, JSON lines). Two
workloads, each on a fresh queue:
- single: ``SendMessage``, ``ReceiveMessage``, ``DeleteMessage``, one message at a time;
- batch: ``SendMessageBatch``, ``ReceiveMessage`` (up to 10), ``DeleteMessageBatch`` of 10.
Rounds rotate which endpoint goes first; the medians over rounds are compared. Reported:
calls per second and p50 call latency, each as a ratio proxy / direct (target: at most 10%
lost, throughput ratio >= 0.90, p50 ratio <= 1.10), and the CPU the proxy process spends per
call, the number a loaded machine moves least.

``BENCH_PROXY_N`` (default 200 cycles) and ``BENCH_PROXY_ROUNDS`` (default 7) scale it;
``SQSKIT_BENCH_ENDPOINT`` uses an emulator that is already running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config

from bench._emulator import bench_endpoint
from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_SECRET_ACCESS_KEY,
)

TARGET_THROUGHPUT = 0.90
TARGET_P50 = 1.10


def _client(endpoint: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=EMULATOR_CREDENTIALS[ENV_AWS_ACCESS_KEY_ID],
        aws_secret_access_key=EMULATOR_CREDENTIALS[ENV_AWS_SECRET_ACCESS_KEY],
        config=Config(retries={"mode": "standard"}),
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _proxy(upstream: str, *args: str) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.faultproxy", "--upstream", upstream, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        if not endpoint:
            raise RuntimeError("the fault proxy did not start")
        yield endpoint, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _timed(latencies: list[float], call: Callable[..., Any], **params: Any) -> Any:
    start = time.perf_counter()
    result = call(**params)
    latencies.append(time.perf_counter() - start)
    return result


def _single(sqs: Any, url: str, n: int, latencies: list[float]) -> int:
    for i in range(n):
        _timed(latencies, sqs.send_message, QueueUrl=url, MessageBody=f"m{i:06d}")
        messages: list[dict[str, Any]] = []
        while not messages:
            answer = _timed(latencies, sqs.receive_message, QueueUrl=url, WaitTimeSeconds=1)
            messages = answer.get("Messages", [])
        handle = messages[0]["ReceiptHandle"]
        _timed(latencies, sqs.delete_message, QueueUrl=url, ReceiptHandle=handle)
    return len(latencies)


def _batch(sqs: Any, url: str, n: int, latencies: list[float]) -> int:
    for cycle in range(max(1, n // 10)):
        entries = [{"Id": str(i), "MessageBody": f"m{cycle:05d}-{i}"} for i in range(10)]
        _timed(latencies, sqs.send_message_batch, QueueUrl=url, Entries=entries)
        received = 0
        while received < 10:
            answer = _timed(
                latencies,
                sqs.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
            )
            messages = answer.get("Messages", [])
            if messages:
                handles = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                _timed(latencies, sqs.delete_message_batch, QueueUrl=url, Entries=handles)
                received += len(messages)
    return len(latencies)


def _round(endpoint: str, workload: Callable[..., int], n: int) -> tuple[float, float, int]:
    """(calls per second, p50 latency in ms, calls) of one workload on a fresh queue."""
    sqs = _client(endpoint)
    url = sqs.create_queue(QueueName=f"bench-proxy-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    try:
        latencies: list[float] = []
        start = time.perf_counter()
        calls = workload(sqs, url, n, latencies)
        wall = time.perf_counter() - start
    finally:
        sqs.delete_queue(QueueUrl=url)
    return calls / wall, statistics.median(latencies) * 1000, calls


def run() -> list[tuple[str, str]]:
    n = int(os.environ.get("BENCH_PROXY_N", "200"))
    rounds = int(os.environ.get("BENCH_PROXY_ROUNDS", "7"))
    results: list[tuple[str, str]] = []
    with (
        bench_endpoint() as upstream,
        tempfile.TemporaryDirectory() as tmp,
        _proxy(upstream) as (relay, relay_pid),
        _proxy(upstream, "--record", f"{tmp}/calls.jsonl") as (recording, recording_pid),
    ):
        endpoints = {"direct": upstream, "proxy": relay, "proxy+record": recording}
        pids = {"proxy": relay_pid, "proxy+record": recording_pid}
        calls_through = dict.fromkeys(pids, 0)
        cpu_start = {key: _cpu_seconds(pid) for key, pid in pids.items()}
        for name, workload in (("single", _single), ("batch", _batch)):
            throughput: dict[str, list[float]] = {k: [] for k in endpoints}
            p50: dict[str, list[float]] = {k: [] for k in endpoints}
            for r in range(rounds + 1):
                keys = list(endpoints)
                order = keys[r % len(keys) :] + keys[: r % len(keys)]
                for key in order:
                    rate, median, calls = _round(endpoints[key], workload, n if r else 10)
                    if key in calls_through:
                        calls_through[key] += calls
                    if r:  # round 0 warms connections and the emulator up
                        throughput[key].append(rate)
                        p50[key].append(median)
            direct_rate = statistics.median(throughput["direct"])
            direct_p50 = statistics.median(p50["direct"])
            print(f"{name}: direct {direct_rate:.0f} calls/s, p50 {direct_p50:.2f} ms", flush=True)
            for key in pids:
                rate = statistics.median(throughput[key])
                median = statistics.median(p50[key])
                rate_ratio, p50_ratio = rate / direct_rate, median / direct_p50
                print(f"{name}: {key} {rate:.0f} calls/s, p50 {median:.2f} ms", flush=True)
                rate_ok = "ok" if rate_ratio >= TARGET_THROUGHPUT else "MISSED"
                p50_ok = "ok" if p50_ratio <= TARGET_P50 else "MISSED"
                results += [
                    (
                        f"{name}: {key} throughput / direct (target >= {TARGET_THROUGHPUT:.2f})",
                        f"{rate_ratio:.3f} ({rate:.0f} / {direct_rate:.0f} calls/s) {rate_ok}",
                    ),
                    (
                        f"{name}: {key} p50 latency / direct (target <= {TARGET_P50:.2f})",
                        f"{p50_ratio:.3f} ({median:.2f} / {direct_p50:.2f} ms) {p50_ok}",
                    ),
                ]
        # The number a loaded machine moves least: what the proxy process itself spends.
        for key, pid in pids.items():
            cpu_us = (_cpu_seconds(pid) - cpu_start[key]) / max(1, calls_through[key]) * 1e6
            results.append((f"{key}: CPU of the proxy process per call", f"{cpu_us:.0f} us"))
    return results
