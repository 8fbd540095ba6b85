"""Fault proxy overhead (issue 16): SQS calls through the proxy with no faults, against the same
calls straight to the embedded emulator (MiniStack), measured side by side in one run.

The proxy runs as its own process (``python -m local.faultproxy``), as it would in front of
consumers: as a plain relay with its compiled fast path (``--fastpath on``: calls no rule can
touch are relayed in C), as a plain relay in Python only (``--fastpath off``, what a machine
without a C compiler gets), and recording every call (``--record``, JSON lines; records are
Python's). Two workloads, each on a fresh queue:
- single: ``SendMessage``, ``ReceiveMessage``, ``DeleteMessage``, one message at a time;
- batch: ``SendMessageBatch``, ``ReceiveMessage`` (up to 10), ``DeleteMessageBatch`` of 10.
Rounds rotate which endpoint goes first; the medians over rounds are compared. Reported:
calls per second and p50 call latency, each as a ratio proxy / direct (target: at most 10%
lost, throughput ratio >= 0.90, p50 ratio <= 1.10), and the CPU the proxy process spends per
call (user and system), the number a loaded machine moves least.

The floor: when ``socat`` is installed, the same workload through a bare TCP relay in C
(``socat`` with TCP_NODELAY, no parsing at all) - what the extra loopback hop alone costs on
this machine, which no relay can go below. Without socat the floor is left out, and said so.
With it, a ``proxy bound`` line per workload names what bounds the proxy: the hop (the bare
relay misses the target too) or the proxy's own work (the bare relay meets it).

``BENCH_PROXY_N`` (default 200 cycles) and ``BENCH_PROXY_ROUNDS`` (default 7) scale it;
``SQSKIT_BENCH_ENDPOINT`` uses an emulator that is already running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from bench._emulator import bench_endpoint
from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_SECRET_ACCESS_KEY,
)
from local.faultproxy.fastpath import FastPathUnavailable
from local.faultproxy.fastpath import load as load_fastpath
from local.faultproxy.proxy import parse_upstream

TARGET_THROUGHPUT = 0.90
TARGET_P50 = 1.10
#: the label of the bare C relay the proxy is compared with (the extra hop's own cost)
FLOOR = "floor (socat, bare TCP relay)"
#: the label of the proxy relaying in Python only
PYTHON_ONLY = "proxy (Python only)"


@dataclass(frozen=True)
class Relay:
    """One relay against the direct endpoint: ratios, and the p50 it adds in ms."""

    throughput: float
    p50: float
    added_ms: float

    @property
    def meets(self) -> bool:
        """Both targets met."""
        return self.throughput >= TARGET_THROUGHPUT and self.p50 <= TARGET_P50


def bound(proxy: Relay, floor: Relay) -> str:
    """What bounds the proxy's overhead, in one line: the extra loopback hop (when the bare C
    relay misses the target too) or the proxy's own work (when that relay meets it)."""
    hop = (
        f"a bare C relay loses {1 - floor.throughput:.0%} throughput and adds "
        f"{floor.p50 - 1:.0%} ({floor.added_ms:.2f} ms) to p50"
    )
    beyond = proxy.added_ms - floor.added_ms
    own = (
        f"the proxy's own work adds {beyond:.2f} ms p50 beyond it"
        if beyond > 0
        else f"the proxy adds {-beyond:.2f} ms p50 less than it"
    )
    if proxy.meets:
        return f"targets met; {hop}; {own}"
    if not floor.meets:
        return f"bound: the extra loopback hop, {hop}, so no relay meets the target here; {own}"
    return f"not the hop: {hop} and meets the target; {own}"


def _client(endpoint: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=EMULATOR_CREDENTIALS[ENV_AWS_ACCESS_KEY_ID],
        aws_secret_access_key=EMULATOR_CREDENTIALS[ENV_AWS_SECRET_ACCESS_KEY],
        config=Config(retries={"mode": "standard"}),
    )


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def _socat(upstream: str) -> Iterator[str | None]:
    """A bare C relay in front of ``upstream`` (the floor), or None when socat is missing."""
    binary = shutil.which("socat")
    if binary is None:
        yield None
        return
    host, port = parse_upstream(upstream)
    listen = _free_port()
    process = subprocess.Popen(
        [
            binary,
            f"TCP-LISTEN:{listen},bind=127.0.0.1,reuseaddr,fork,nodelay",
            f"TCP:{host}:{port},nodelay",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # until it listens, bounded
            with contextlib.closing(socket.socket()) as probe:
                if probe.connect_ex(("127.0.0.1", listen)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{listen}"
    finally:
        process.terminate()
        process.wait(timeout=30)


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


def _engine() -> tuple[bool, str]:
    """Whether the compiled fast path is here, and the engine line that says what runs."""
    threads = "blocking sockets, one thread per client connection"
    try:
        library = load_fastpath()
    except FastPathUnavailable as exc:
        return False, f"{threads}; Python only ({exc})"
    return True, f"{threads}; compiled fast path ({library.path.name}) for calls no rule can touch"


def run() -> list[tuple[str, str]]:
    n = int(os.environ.get("BENCH_PROXY_N", "200"))
    rounds = int(os.environ.get("BENCH_PROXY_ROUNDS", "7"))
    compiled, engine = _engine()
    print(f"proxy engine: {engine}", flush=True)
    results: list[tuple[str, str]] = [("proxy engine", engine)]
    fast = "on" if compiled else "off"
    with (
        bench_endpoint() as upstream,
        tempfile.TemporaryDirectory() as tmp,
        _proxy(upstream, "--fastpath", fast) as (relay, relay_pid),
        _proxy(upstream, "--fastpath", "off") as (python_relay, python_pid),
        _proxy(upstream, "--record", f"{tmp}/calls.jsonl") as (recording, recording_pid),
        _socat(upstream) as floor,
    ):
        endpoints = {"direct": upstream, "proxy": relay}
        pids = {"proxy": relay_pid}
        if compiled:  # else "proxy" is the Python relay already
            endpoints[PYTHON_ONLY], pids[PYTHON_ONLY] = python_relay, python_pid
        endpoints["proxy+record"], pids["proxy+record"] = recording, recording_pid
        if floor is None:
            results.append((FLOOR, "not measured: socat is not installed (apt-get install socat)"))
        else:
            endpoints[FLOOR] = floor
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
            relays: dict[str, Relay] = {}
            for key in [k for k in endpoints if k != "direct"]:
                rate = statistics.median(throughput[key])
                median = statistics.median(p50[key])
                rate_ratio, p50_ratio = rate / direct_rate, median / direct_p50
                relays[key] = Relay(rate_ratio, p50_ratio, median - direct_p50)
                print(f"{name}: {key} {rate:.0f} calls/s, p50 {median:.2f} ms", flush=True)
                rate_text = f"{rate_ratio:.3f} ({rate:.0f} / {direct_rate:.0f} calls/s)"
                p50_text = f"{p50_ratio:.3f} ({median:.2f} / {direct_p50:.2f} ms)"
                if key == FLOOR:  # no candidate: what the hop alone costs, without a verdict
                    results += [
                        (f"{name}: {key} throughput / direct", rate_text),
                        (f"{name}: {key} p50 latency / direct", p50_text),
                    ]
                    continue
                results += [
                    (
                        f"{name}: {key} throughput / direct (target >= {TARGET_THROUGHPUT:.2f})",
                        f"{rate_text} {_verdict(rate_ratio >= TARGET_THROUGHPUT)}",
                    ),
                    (
                        f"{name}: {key} p50 latency / direct (target <= {TARGET_P50:.2f})",
                        f"{p50_text} {_verdict(p50_ratio <= TARGET_P50)}",
                    ),
                ]
            if FLOOR in relays:
                results.append((f"{name}: proxy bound", bound(relays["proxy"], relays[FLOOR])))
        # The number a loaded machine moves least: what the proxy process itself spends.
        for key, pid in pids.items():
            user, system = (
                (now - then) / max(1, calls_through[key]) * 1e6
                for now, then in zip(_cpu_seconds(pid), cpu_start[key], strict=True)
            )
            results.append(
                (
                    f"{key}: CPU of the proxy process per call",
                    f"{user + system:.0f} us (user {user:.0f}, system {system:.0f})",
                )
            )
    return results


def _verdict(met: bool) -> str:
    return "ok" if met else "MISSED"
