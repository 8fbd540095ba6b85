"""Consumer numbers (issues 2 and 11), measured side by side in one run on the embedded emulator.

1. Throughput with no simulated work: the ``Worker`` (CONCURRENCY=1, MAX_MESSAGES=10, both
   DynamoDB tables, JSON logs formatted and written to /dev/null) against a minimal boto3 loop
   that makes exactly the same API calls with the same clients. A receive never asks for more
   than the free handler slots, so at CONCURRENCY=1 both make, per message: ``ReceiveMessage``
   (of 1, long poll 1 s), ``json.loads``, a conditional ``PutItem`` (STARTED), one
   ``TransactWriteItems`` (status COMPLETED + completed item) and a ``DeleteMessageBatch`` (of
   1). Rounds alternate which goes first on fresh queues; medians are compared.
2. 0.2 s of simulated work (the default handler): CONCURRENCY=10 (250 messages) against
   CONCURRENCY=1 (25 messages), two alternating rounds.
3. DynamoDB write requests per first-time message, counted by a botocore event hook, with the
   demo handler's side effect on (EFFECTS_TABLE, idempotent): writes to the idempotency
   (status + completed) tables, and the handler's own effect writes, reported apart.
4. VmRSS of an idle ``python -m consumer`` process (from /proc/<pid>/status).

Targets: 1 >= 0.9x, 2 >= 8x, 3 <= 2 idempotency writes, 4 <= 80 MB. ``BENCH_CONSUMER_N``
(default 200) and ``BENCH_CONSUMER_ROUNDS`` (default 7) scale part 1; ``SQSKIT_BENCH_ENDPOINT``
uses an emulator that is already running instead of starting MiniStack. The stacks are made
with boto3 here (queue, three tables), so the benchmark needs nothing from scenarios/.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bench._emulator import bench_endpoint
from consumer import Worker, WorkerConfig
from consumer import logging as consumer_logging
from consumer.aws import build_client
from consumer.contract import (
    EFFECT_HASH_KEY,
    EFFECT_RANGE_KEY,
    EMULATOR_CREDENTIALS,
    ENV_AWS_ENDPOINT_URL,
    ENV_EFFECTS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
)

ROOT = Path(__file__).resolve().parent.parent
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

THROUGHPUT_TARGET = 0.9
CONCURRENCY_TARGET = 8.0
WRITES_TARGET = 2.0
RSS_TARGET_MB = 80.0
WORK_SECONDS = 0.2


REGION = "us-east-1"
# At CONCURRENCY=1 the worker asks for one message per receive (its free handler slots).
RECEIVE_BATCH = 1


@dataclass(frozen=True)
class _Stack:
    queue_url: str
    status_table: str
    completed_table: str
    effects_table: str


def _clients(endpoint: str) -> tuple[Any, Any]:
    session: Any = boto3.session.Session()
    kwargs: dict[str, Any] = {"endpoint_url": endpoint, "region_name": REGION}
    return session.client("sqs", **kwargs), session.client("dynamodb", **kwargs)


def _table(ddb: Any, name: str, *, range_key: str | None = None) -> None:
    """A table keyed by ``message_id`` (S), and ``range_key`` (S) when given (the effects)."""
    keys = [{"AttributeName": EFFECT_HASH_KEY, "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
    ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=[
            {"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in keys
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})


@contextlib.contextmanager
def _stack(endpoint: str) -> Iterator[_Stack]:
    """A queue (visibility 30 s, long poll 1 s) and the three tables, deleted afterwards."""
    sqs, ddb = _clients(endpoint)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(
        QueueName=f"{prefix}-queue",
        Attributes={"VisibilityTimeout": "30", "ReceiveMessageWaitTimeSeconds": "1"},
    )["QueueUrl"]
    stack = _Stack(url, f"{prefix}-status", f"{prefix}-completed", f"{prefix}-effects")
    try:
        _table(ddb, stack.status_table)
        _table(ddb, stack.completed_table)
        _table(ddb, stack.effects_table, range_key=EFFECT_RANGE_KEY)
        yield stack
    finally:
        with contextlib.suppress(Exception):
            sqs.delete_queue(QueueUrl=url)
        for table in (stack.status_table, stack.completed_table, stack.effects_table):
            with contextlib.suppress(Exception):
                ddb.delete_table(TableName=table)


def _config(stack: _Stack, **overrides: Any) -> WorkerConfig:
    values: dict[str, Any] = {
        "queue_url": stack.queue_url,
        "region": REGION,
        "wait_time_seconds": 1,
        "max_messages": 10,
        "sleep_min_seconds": 0,
        "sleep_max_seconds": 0,
        "message_status_table": stack.status_table,
        "message_completed_table": stack.completed_table,
        "idle_timeout_seconds": 0,
        "consumer_id": "bench",
    }
    values.update(overrides)
    return WorkerConfig(**values)


def _fill(sqs: Any, url: str, n: int, tag: str) -> None:
    for start in range(0, n, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"id": f"{tag}-{start + i}", "sent_at": 0})}
            for i in range(min(10, n - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _count_writes(client: Any) -> list[str]:
    """Every DynamoDB write request from now on, as ``"<operation> <table>"``."""
    calls: list[str] = []

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES:
            calls.append(f"{model.name} {params.get('TableName', '')}")

    client.meta.events.register("before-parameter-build.dynamodb", hook)
    return calls


def _baseline(stack: _Stack, sqs: Any, ddb: Any, n: int) -> float:
    """The minimal loop: same calls as the worker, nothing else. Returns messages per second."""
    done = 0
    start = time.perf_counter()
    while done < n:
        response = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=RECEIVE_BATCH,
            WaitTimeSeconds=1,
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        for message in response.get("Messages", []):
            message_id = str(json.loads(message["Body"])["id"])
            now = time.time()
            key = {"message_id": {"S": message_id}}
            ddb.put_item(
                TableName=stack.status_table,
                Item={
                    **key,
                    "status": {"S": "STARTED"},
                    "attempts": {"N": "1"},
                    "owner": {"S": "baseline"},
                    "lease_expires_at": {"N": f"{now + 30:.3f}"},
                    "updated_at": {"N": f"{now:.3f}"},
                },
                ConditionExpression="attribute_not_exists(message_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": stack.status_table,
                            "Key": key,
                            "UpdateExpression": "SET #s = :c, #u = :now",
                            "ConditionExpression": "#s = :s AND #o = :me AND #a = :one",
                            "ExpressionAttributeNames": {
                                "#s": "status",
                                "#u": "updated_at",
                                "#o": "owner",
                                "#a": "attempts",
                            },
                            "ExpressionAttributeValues": {
                                ":c": {"S": "COMPLETED"},
                                ":s": {"S": "STARTED"},
                                ":me": {"S": "baseline"},
                                ":one": {"N": "1"},
                                ":now": {"N": f"{now:.3f}"},
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": stack.completed_table,
                            "Item": {
                                **key,
                                "completed_at": {"N": str(int(now * 1000))},
                                "owner": {"S": "baseline"},
                                "attempts": {"N": "1"},
                            },
                            "ConditionExpression": "attribute_not_exists(message_id)",
                        }
                    },
                ]
            )
            done += 1
        if response.get("Messages"):
            sqs.delete_message_batch(
                QueueUrl=stack.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(response["Messages"])
                ],
            )
    return n / (time.perf_counter() - start)


def _worker_rate(config: WorkerConfig, sqs: Any, ddb: Any, n: int) -> tuple[float, Worker]:
    worker = Worker(config, sqs=sqs, dynamodb=ddb)
    start = time.perf_counter()
    worker.start()
    worker.join()
    elapsed = time.perf_counter() - start
    if worker.counters.completed != n:
        raise RuntimeError(f"worker completed {worker.counters.completed} of {n}")
    return n / elapsed, worker


def _throughput(endpoint: str, n: int, rounds: int) -> tuple[float, float, float]:
    """Median msg/s of the worker and of the baseline, and the median of the per-round ratios
    (each round runs both back to back, so load from other processes hits both alike)."""
    worker_rates: list[float] = []
    loop_rates: list[float] = []
    for r in range(rounds):
        order = ("worker", "loop") if r % 2 == 0 else ("loop", "worker")
        for who in order:
            with _stack(endpoint) as stack:
                config = _config(stack, message_limit=n)
                sqs, ddb = build_client("sqs", config), build_client("dynamodb", config)
                _fill(sqs, stack.queue_url, n, f"{who}{r}")
                if who == "loop":
                    loop_rates.append(_baseline(stack, sqs, ddb, n))
                else:
                    rate, _ = _worker_rate(config, sqs, ddb, n)
                    worker_rates.append(rate)
        print(
            f"  round {r + 1}: worker {worker_rates[-1]:.0f} msg/s, "
            f"boto3 loop {loop_rates[-1]:.0f} msg/s",
            flush=True,
        )
    ratios = [w / b for w, b in zip(worker_rates, loop_rates, strict=True)]
    return statistics.median(worker_rates), statistics.median(loop_rates), statistics.median(ratios)


def _writes(endpoint: str, n: int) -> tuple[float, float]:
    """Write requests per first-time message: to the idempotency tables, and the handler's
    own effect writes (EFFECTS_TABLE, idempotent mode)."""
    with _stack(endpoint) as stack:
        config = _config(stack, message_limit=n, effects_table=stack.effects_table)
        sqs, ddb = build_client("sqs", config), build_client("dynamodb", config)
        _fill(sqs, stack.queue_url, n, "writes")
        writes = _count_writes(ddb)
        _worker_rate(config, sqs, ddb, n)
    effect = [w for w in writes if w.endswith(f" {stack.effects_table}")]
    return (len(writes) - len(effect)) / n, len(effect) / n


def _concurrency(endpoint: str, rounds: int = 2) -> tuple[float, float, float]:
    """Median msg/s at CONCURRENCY=10 and 1, and the median of the per-round ratios."""
    tens: list[float] = []
    ones: list[float] = []
    for r in range(rounds):
        order = ((1, 25), (10, 250)) if r % 2 == 0 else ((10, 250), (1, 25))
        rates = _concurrency_round(endpoint, order)
        tens.append(rates[10])
        ones.append(rates[1])
    ratios = [t / o for t, o in zip(tens, ones, strict=True)]
    return statistics.median(tens), statistics.median(ones), statistics.median(ratios)


def _concurrency_round(endpoint: str, order: tuple[tuple[int, int], ...]) -> dict[int, float]:
    rates = {}
    for concurrency, n in order:
        with _stack(endpoint) as stack:
            config = _config(
                stack,
                message_limit=n,
                concurrency=concurrency,
                sleep_min_seconds=WORK_SECONDS,
                sleep_max_seconds=WORK_SECONDS,
            )
            sqs, ddb = build_client("sqs", config), build_client("dynamodb", config)
            _fill(sqs, stack.queue_url, n, f"c{concurrency}")
            rates[concurrency], _ = _worker_rate(config, sqs, ddb, n)
            print(f"  CONCURRENCY={concurrency}: {rates[concurrency]:.1f} msg/s", flush=True)
    return rates


def _vmrss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


def _idle_rss(endpoint: str) -> float:
    with _stack(endpoint) as stack:
        env = {
            **os.environ,
            ENV_QUEUE_URL: stack.queue_url,
            ENV_MESSAGE_STATUS_TABLE: stack.status_table,
            ENV_MESSAGE_COMPLETED_TABLE: stack.completed_table,
            ENV_EFFECTS_TABLE: stack.effects_table,
            ENV_AWS_ENDPOINT_URL: endpoint,
            "WAIT_TIME_SECONDS": "1",
        }
        for name, value in EMULATOR_CREDENTIALS.items():
            env.setdefault(name, value)
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "consumer"], cwd=ROOT, env=env, stdout=out, stderr=out
            )
            try:
                deadline = time.monotonic() + 30
                while b"consumer.started" not in _read(out) and time.monotonic() < deadline:
                    if proc.poll() is not None:
                        raise RuntimeError(f"consumer exited: {_read(out)[-500:]!r}")
                    time.sleep(0.1)
                time.sleep(3)  # a few empty long polls: the steady idle state
                return _vmrss_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(30)


@contextlib.contextmanager
def _sdk_env(endpoint: str) -> Iterator[None]:
    """The worker builds its clients from the SDK's environment, as in production."""
    wanted = {ENV_AWS_ENDPOINT_URL: endpoint}
    if not any(os.environ.get(name) for name in EMULATOR_CREDENTIALS):
        wanted |= EMULATOR_CREDENTIALS
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _read(f: Any) -> bytes:
    f.seek(0)
    data: bytes = f.read()
    return data


def run() -> list[tuple[str, str]]:
    n = int(os.environ.get("BENCH_CONSUMER_N", "200"))
    rounds = int(os.environ.get("BENCH_CONSUMER_ROUNDS", "7"))
    results: list[tuple[str, str]] = []

    def report(label: str, value: str) -> None:
        print(f"{label}: {value}", flush=True)
        results.append((label, value))

    # Format every log line as in production, but do not flood the terminal with them.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the whole run
    consumer_logging.configure(level="INFO", fmt="json", stream=devnull)
    try:
        with bench_endpoint() as endpoint, _sdk_env(endpoint):
            print(f"emulator: {endpoint}; {n} messages x {rounds} rounds", flush=True)
            worker, loop, ratio = _throughput(endpoint, n, rounds)
            report(
                "throughput, no work: worker vs boto3 loop (target >= 0.9x)",
                f"{worker:.0f} vs {loop:.0f} msg/s (medians); median round ratio {ratio:.2f}x "
                f"({ratio / THROUGHPUT_TARGET:.2f} of target)",
            )
            status_writes, effect_writes = _writes(endpoint, n)
            report(
                "idempotency-table writes per first-time message (target <= 2)",
                f"{status_writes:.2f} ({status_writes / WRITES_TARGET:.2f} of the limit)",
            )
            report(
                "the handler's own effect writes per first-time message (idempotent)",
                f"{effect_writes:.2f}",
            )
            c10, c1, speedup = _concurrency(endpoint)
            report(
                "0.2 s work: CONCURRENCY=10 vs 1 (target >= 8x)",
                f"{c10:.1f} vs {c1:.1f} msg/s (medians); median round ratio {speedup:.1f}x "
                f"({speedup / CONCURRENCY_TARGET:.2f} of target)",
            )
            rss = _idle_rss(endpoint)
            report(
                "RSS of an idle worker process (target <= 80 MB)",
                f"{rss:.1f} MB ({rss / RSS_TARGET_MB:.2f} of the limit)",
            )
    finally:
        logging.getLogger().handlers.clear()
        devnull.close()
    return results


if __name__ == "__main__":
    run()
