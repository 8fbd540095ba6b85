"""The scaling curve (issue 19): throughput of 1, 2, 4 and 8 consumers, and what bounds it.

Each point is N ``python -m consumer`` processes (CONCURRENCY=1, 0.05 s of simulated work per
message, long poll 1 s, both idempotency tables) draining a fresh queue whose backlog was filled
before they started, on the embedded default emulator (one MiniStack for the whole curve). The
backlog is sized from the previous point's rate so that each point runs about
``BENCH_SCALING_SECONDS`` (default 10). Throughput is measured from the consumers' own
``message.completed`` timestamps between the 10th and the 90th percentile, which leaves out the
processes' start-up and the last stragglers; every message must complete exactly once.

Reported per point: msg/s, speed-up against 1 consumer and efficiency (speed-up / N), and the
efficiency of each doubling (rate(2N) / (2 x rate(N))). The bound is named from evidence sampled
every 0.2 s over the same window: the CPU time of the emulator process (one Python process, so
about one core at most), of the consumers, of this benchmark, and of the whole machine from
/proc/stat (which includes whatever else runs on it), against ``os.cpu_count()`` cores. A short
second part measures the emulator's CPU per API call the consumer makes (ReceiveMessage,
PutItem, TransactWriteItems, DeleteMessageBatch), which splits its per-message cost between SQS
and the DynamoDB writes.

``SQSKIT_BENCH_ENDPOINT`` measures an emulator that is already running instead; its CPU is then
not visible, and the bound is named from the machine and the consumers only. Linux only (/proc).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3

from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_REGION,
    ENV_CONCURRENCY,
    ENV_IDLE_TIMEOUT_SECONDS,
    ENV_LOG_FORMAT,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
    ENV_SLEEP_MAX_SECONDS,
    ENV_SLEEP_MIN_SECONDS,
    ENV_WAIT_TIME_SECONDS,
    EV_COMPLETED,
    LOG_FORMAT_JSON,
)
from local.emulators import start_embedded

REGION = "us-east-1"
COUNTS = (1, 2, 4, 8)
WORK_S = 0.05
FIRST_BACKLOG = 150
MIN_BACKLOG, MAX_BACKLOG = 100, 4000
# Each point doubles the consumers; a rate that at best doubles too, times a margin for a curve
# that flattens, keeps each point near the target duration.
GROWTH_GUESS = 1.6
SAMPLE_S = 0.2
IDLE_EXIT_S = 3
VISIBILITY_S = 60  # far above a message's handling time: no redelivery inside a point
OP_CALLS = 150
_TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU time from /proc ---------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot, every core summed."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS  # user .. steal; guest time is inside user


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU seconds at wall-clock time ``t`` (epoch seconds)."""

    t: float
    emulator: float
    consumers: float
    bench: float
    machine_busy: float


class CpuSampler:
    """Samples the CPU time of the emulator, the consumers, this process and the machine.

    A consumer that has exited keeps its last reading, so sums never go backwards.
    """

    def __init__(self, emulator_pid: int | None, interval_s: float = SAMPLE_S) -> None:
        self.emulator_pid = emulator_pid
        self.interval_s = interval_s
        self.samples: list[CpuSample] = []
        self._consumer_last: dict[int, float] = {}
        self._pids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def watch(self, pids: Sequence[int]) -> None:
        """Start counting these consumer processes."""
        self._pids = list(pids)

    def _emulator_s(self) -> float:
        if self.emulator_pid is None:
            return 0.0
        pids = [self.emulator_pid, *_children(self.emulator_pid)]
        return sum(_proc_cpu_s(p) or 0.0 for p in pids)

    def sample(self) -> CpuSample:
        """Take one reading now (also the loop's step)."""
        for pid in self._pids:
            cpu = _proc_cpu_s(pid)
            if cpu is not None:
                self._consumer_last[pid] = cpu
        bench = resource.getrusage(resource.RUSAGE_SELF)
        point = CpuSample(
            t=time.time(),
            emulator=self._emulator_s(),
            consumers=sum(self._consumer_last.values()),
            bench=bench.ru_utime + bench.ru_stime,
            machine_busy=_machine_busy_s(),
        )
        self.samples.append(point)
        return point

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def between(self, start: float, end: float) -> tuple[CpuSample, CpuSample]:
        """The last sample at or before ``start`` and the first at or after ``end``."""
        before = [s for s in self.samples if s.t <= start]
        after = [s for s in self.samples if s.t >= end]
        if not before or not after:
            raise RuntimeError("the CPU samples do not cover the measured window")
        return before[-1], after[0]


# -- One point of the curve ------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One measured point: N consumers on one backlog, and the CPU spent in its window."""

    consumers: int
    messages: int
    rate: float  # msg/s between the 10th and 90th percentile completions
    wall_s: float  # from the consumers' start to the last completion
    emulator_cores: float
    consumer_cores: float
    bench_cores: float
    machine_cores: float  # every process on the machine, this run's included

    @property
    def other_cores(self) -> float:
        """What the rest of the machine used meanwhile (other users' processes, the kernel)."""
        return max(
            0.0, self.machine_cores - self.emulator_cores - self.consumer_cores - self.bench_cores
        )

    @property
    def emulator_ms_per_msg(self) -> float:
        return 1000 * self.emulator_cores / self.rate

    @property
    def consumer_ms_per_msg(self) -> float:
        return 1000 * self.consumer_cores / self.rate


def window_rate(completed_ms: Sequence[float]) -> tuple[float, float, float]:
    """(msg/s, window start, window end) between the 10th and 90th percentile completion.

    Epoch seconds for the window. The central 80 % leaves out the consumers' start-up and the
    last stragglers, which say nothing about the steady rate.
    """
    times = sorted(t / 1000 for t in completed_ms)
    if len(times) < 20:
        raise ValueError(f"need at least 20 completions to measure a rate, got {len(times)}")
    lo, hi = int(0.1 * len(times)), int(0.9 * len(times)) - 1
    span = times[hi] - times[lo]
    if span <= 0:
        raise ValueError("the completions have no time between them")
    return (hi - lo) / span, times[lo], times[hi]


def completions(lines: Iterable[str]) -> list[float]:
    """``completed_at`` (epoch ms) of every ``message.completed`` event among JSON log lines."""
    found: list[float] = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == EV_COMPLETED:
            found.append(float(event["completed_at"]))
    return found


def _clients(endpoint: str) -> tuple[Any, Any]:
    session: Any = boto3.session.Session()
    kwargs: dict[str, Any] = {"endpoint_url": endpoint, "region_name": REGION}
    kwargs |= {k.lower(): v for k, v in EMULATOR_CREDENTIALS.items()}
    return session.client("sqs", **kwargs), session.client("dynamodb", **kwargs)


@dataclass(frozen=True)
class _Stack:
    queue_url: str
    status_table: str
    completed_table: str


@contextlib.contextmanager
def _stack(endpoint: str) -> Iterator[_Stack]:
    """A fresh queue and the two idempotency tables, deleted afterwards."""
    sqs, ddb = _clients(endpoint)
    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(
        QueueName=f"{prefix}-queue",
        Attributes={"VisibilityTimeout": str(VISIBILITY_S), "ReceiveMessageWaitTimeSeconds": "1"},
    )["QueueUrl"]
    stack = _Stack(url, f"{prefix}-status", f"{prefix}-completed")
    try:
        for table in (stack.status_table, stack.completed_table):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2})
        yield stack
    finally:
        with contextlib.suppress(Exception):
            sqs.delete_queue(QueueUrl=url)
        for table in (stack.status_table, stack.completed_table):
            with contextlib.suppress(Exception):
                ddb.delete_table(TableName=table)


def _fill(sqs: Any, url: str, n: int, tag: str) -> None:
    for start in range(0, n, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"id": f"{tag}-{start + i}"})}
            for i in range(min(10, n - start))
        ]
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"the backlog was not accepted: {response['Failed'][:2]}")


def _consumer_env(endpoint: str, stack: _Stack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    env |= dict(EMULATOR_CREDENTIALS)
    env |= {
        ENV_QUEUE_URL: stack.queue_url,
        ENV_MESSAGE_STATUS_TABLE: stack.status_table,
        ENV_MESSAGE_COMPLETED_TABLE: stack.completed_table,
        ENV_AWS_ENDPOINT_URL: endpoint,
        ENV_AWS_REGION: REGION,
        ENV_CONCURRENCY: "1",
        ENV_SLEEP_MIN_SECONDS: str(WORK_S),
        ENV_SLEEP_MAX_SECONDS: str(WORK_S),
        ENV_WAIT_TIME_SECONDS: "1",
        ENV_IDLE_TIMEOUT_SECONDS: str(IDLE_EXIT_S),
        ENV_LOG_FORMAT: LOG_FORMAT_JSON,
    }
    return env


def _run_point(endpoint: str, emulator_pid: int | None, n: int, backlog: int) -> Point:
    with _stack(endpoint) as stack, tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        sqs, _ = _clients(endpoint)
        _fill(sqs, stack.queue_url, backlog, f"n{n}")
        env = _consumer_env(endpoint, stack)
        logs: list[IO[bytes]] = []
        procs: list[subprocess.Popen[bytes]] = []
        with CpuSampler(emulator_pid) as sampler:
            started = time.time()
            try:
                for i in range(n):
                    out = open(Path(tmp) / f"consumer-{i}.log", "wb")  # noqa: SIM115 - closed below
                    logs.append(out)
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "consumer"],
                            cwd=tmp,  # no stray .env is read: QUEUE_URL is set anyway
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
                sampler.watch([p.pid for p in procs])
                deadline = time.monotonic() + 300
                for proc in procs:
                    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                for log in logs:
                    log.close()
        done: list[float] = []
        for i in range(n):
            done += completions((Path(tmp) / f"consumer-{i}.log").read_text().splitlines())
        failed = [p.returncode for p in procs if p.returncode != 0]
    if failed or len(done) != backlog:
        raise RuntimeError(
            f"{n} consumer(s): {len(done)} completions for {backlog} messages, "
            f"exit codes {[p.returncode for p in procs]}"
        )
    rate, start, end = window_rate(done)
    first, last = sampler.between(start, end)
    span = last.t - first.t
    return Point(
        consumers=n,
        messages=backlog,
        rate=rate,
        wall_s=max(done) / 1000 - started,
        emulator_cores=(last.emulator - first.emulator) / span,
        consumer_cores=(last.consumers - first.consumers) / span,
        bench_cores=(last.bench - first.bench) / span,
        machine_cores=(last.machine_busy - first.machine_busy) / span,
    )


def next_backlog(rate: float, target_s: float) -> int:
    """The backlog that keeps the next point (twice the consumers) near ``target_s``."""
    return max(MIN_BACKLOG, min(MAX_BACKLOG, math.ceil(rate * GROWTH_GUESS * target_s)))


# -- The emulator's CPU per API call ---------------------------------------------------------------


def _op_costs(endpoint: str, emulator_pid: int) -> dict[str, float]:
    """Emulator CPU milliseconds per call, for each call a consumer makes per message."""
    costs: dict[str, float] = {}
    with _stack(endpoint) as stack:
        sqs, ddb = _clients(endpoint)
        _fill(sqs, stack.queue_url, OP_CALLS, "ops")
        receipts: list[str] = []
        keys = [f"op-{i}" for i in range(OP_CALLS)]

        def receive(i: int) -> None:
            got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1)
            receipts.extend(m["ReceiptHandle"] for m in got.get("Messages", []))

        def put(i: int) -> None:
            ddb.put_item(
                TableName=stack.status_table,
                Item={"message_id": {"S": keys[i]}, "status": {"S": "STARTED"}},
                ConditionExpression="attribute_not_exists(message_id)",
            )

        def transact(i: int) -> None:
            key = {"message_id": {"S": keys[i]}}
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": stack.status_table,
                            "Key": key,
                            "UpdateExpression": "SET #s = :c",
                            "ConditionExpression": "#s = :s",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":c": {"S": "COMPLETED"},
                                ":s": {"S": "STARTED"},
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": stack.completed_table,
                            "Item": key,
                            "ConditionExpression": "attribute_not_exists(message_id)",
                        }
                    },
                ]
            )

        def delete(i: int) -> None:
            if i < len(receipts):
                sqs.delete_message_batch(
                    QueueUrl=stack.queue_url,
                    Entries=[{"Id": "0", "ReceiptHandle": receipts[i]}],
                )

        calls: list[tuple[str, Callable[[int], None]]] = [
            ("ReceiveMessage", receive),
            ("PutItem", put),
            ("TransactWriteItems", transact),
            ("DeleteMessageBatch", delete),
        ]
        for name, call in calls:
            before = _proc_cpu_s(emulator_pid) or 0.0
            for i in range(OP_CALLS):
                call(i)
            costs[name] = 1000 * ((_proc_cpu_s(emulator_pid) or 0.0) - before) / OP_CALLS
    return costs


# -- The verdict -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ceilings:
    """What each candidate bound allows at the largest point's cost per message, in msg/s."""

    linear: float  # N x the 1-consumer rate: the work and the round trips, nothing shared
    machine: float  # the cores the rest of the machine left free / this run's CPU per message
    idle_machine: float  # every core / this run's CPU per message: the same box with nothing else
    emulator: float | None  # one core / the emulator's CPU per message (None: not measured)


def ceilings(points: Sequence[Point], cores: int) -> Ceilings:
    """Each candidate's ceiling, from the CPU the largest point spent per message."""
    top = max(points, key=lambda p: p.consumers)
    base = min(points, key=lambda p: p.consumers)
    own_cores = top.emulator_cores + top.consumer_cores + top.bench_cores
    free_cores = max(0.0, cores - top.other_cores)
    return Ceilings(
        linear=base.rate * top.consumers / base.consumers,
        machine=free_cores * top.rate / own_cores if own_cores > 0 else math.inf,
        idle_machine=cores * top.rate / own_cores if own_cores > 0 else math.inf,
        emulator=top.rate / top.emulator_cores if top.emulator_cores > 0 else None,
    )


def name_bound(points: Sequence[Point], cores: int, costs: dict[str, float] | None) -> str:
    """Name what bounds the curve at its largest point: the lowest ceiling, with its evidence.

    The candidates are the issue's: the emulator's CPU (one Python process: one core at most),
    the DynamoDB writes (part of the emulator's CPU, split out by ``costs``), and this
    machine's cores (shared with whatever else runs). Plain linear scaling is the fourth.
    """
    top = max(points, key=lambda p: p.consumers)
    c = ceilings(points, cores)
    usage = (
        f"at {top.consumers} consumers the machine ran {top.machine_cores:.2f} of {cores} cores: "
        f"consumers {top.consumer_cores:.2f}, emulator {top.emulator_cores:.2f}, this benchmark "
        f"{top.bench_cores:.2f}, other processes {top.other_cores:.2f}"
    )
    candidates = {"linear scaling (nothing shared is saturated)": c.linear}
    candidates[f"this machine's {cores} cores"] = c.machine
    if c.emulator is not None:
        candidates["the emulator's CPU"] = c.emulator
    name, ceiling = min(candidates.items(), key=lambda kv: kv[1])
    parts = [
        f"{name}: {top.rate:.1f} msg/s observed, {top.rate / ceiling:.0%} of its ceiling "
        f"{ceiling:.0f} msg/s; {usage}",
        f"ceilings: linear {c.linear:.0f}, free cores {c.machine:.0f}"
        + (f", emulator {c.emulator:.0f}" if c.emulator is not None else "")
        + f" msg/s (all {cores} cores idle but for this run: {c.idle_machine:.0f} msg/s)",
    ]
    if c.emulator is not None:
        parts.append(
            f"the emulator used {top.emulator_cores:.2f} of the ~1 core one Python process can "
            f"use ({top.emulator_ms_per_msg:.1f} ms per message)"
        )
    if costs:
        writes = costs.get("PutItem", 0.0) + costs.get("TransactWriteItems", 0.0)
        total = sum(costs.values())
        if total > 0:
            parts.append(
                f"DynamoDB writes are {writes:.1f} of the emulator's {total:.1f} ms per "
                f"message's calls ({writes / total:.0%}), so they bound only with the emulator"
            )
    return "; ".join(parts)


@contextlib.contextmanager
def _emulator() -> Iterator[tuple[str, int | None]]:
    given = os.environ.get("SQSKIT_BENCH_ENDPOINT")
    if given:
        yield given, None
        return
    with start_embedded("ministack") as emulator:
        yield emulator.endpoint, emulator.pid


def run() -> list[tuple[str, str]]:
    target_s = float(os.environ.get("BENCH_SCALING_SECONDS", "10"))
    cores = os.cpu_count() or 1
    results: list[tuple[str, str]] = []

    def report(label: str, value: str) -> None:
        print(f"{label}: {value}", flush=True)
        results.append((label, value))

    points: list[Point] = []
    with _emulator() as (endpoint, emulator_pid):
        print(
            f"emulator: {endpoint} (pid {emulator_pid}); {WORK_S} s work per message, "
            f"CONCURRENCY=1, ~{target_s:.0f} s per point, {cores} cores",
            flush=True,
        )
        backlog = FIRST_BACKLOG
        for n in COUNTS:
            point = _run_point(endpoint, emulator_pid, n, backlog)
            points.append(point)
            print(
                f"  {n} consumer(s): {point.messages} messages in {point.wall_s:.1f} s, "
                f"{point.rate:.1f} msg/s; CPU cores: emulator {point.emulator_cores:.2f}, "
                f"consumers {point.consumer_cores:.2f}, bench {point.bench_cores:.2f}, "
                f"others {point.other_cores:.2f} (machine {point.machine_cores:.2f}/{cores})",
                flush=True,
            )
            backlog = next_backlog(point.rate, target_s)
        costs = _op_costs(endpoint, emulator_pid) if emulator_pid else None

    one = points[0].rate
    ideal = 1 / WORK_S
    report(
        "1 consumer, 0.05 s work (ceiling 20 msg/s: the work alone)",
        f"{one:.1f} msg/s ({one / ideal:.0%} of the ceiling; "
        f"{1000 / one - 1000 * WORK_S:.0f} ms per message besides the work)",
    )
    for prev, point in itertools.pairwise(points):
        speedup = point.rate / one
        report(
            f"{point.consumers} consumers: msg/s, speed-up vs 1, efficiency",
            f"{point.rate:.1f} msg/s, {speedup:.2f}x, {speedup / point.consumers:.0%} "
            f"(this doubling: {point.rate / (2 * prev.rate):.0%})",
        )
    report(
        "CPU per message (ms), 1 -> 2 -> 4 -> 8 consumers",
        "consumers "
        + " -> ".join(f"{p.consumer_ms_per_msg:.1f}" for p in points)
        + "; emulator "
        + (" -> ".join(f"{p.emulator_ms_per_msg:.1f}" for p in points) if emulator_pid else "n/a"),
    )
    if costs:
        report(
            "emulator CPU per call (ms)",
            ", ".join(f"{name} {ms:.2f}" for name, ms in costs.items()),
        )
    report("bound", name_bound(points, cores, costs))
    medians = statistics.median(p.other_cores for p in points)
    report("other load on the machine during the curve (median cores)", f"{medians:.2f}")
    return results


if __name__ == "__main__":
    run()
