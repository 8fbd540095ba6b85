"""The worker's paths, end to end against in-process moto (SQS + DynamoDB)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumer import Message, StopReason, Worker
from consumer.chaos import Chaos
from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_CONSUMER_ERROR,
    EV_DUPLICATE,
    EV_FAILED,
    EV_FENCED,
    EV_HANDLER_FINISHED,
    EV_HANDLER_STARTED,
    EV_HEARTBEAT,
    EV_ID_COLLISION,
    EV_IN_PROGRESS_ELSEWHERE,
    EV_POISON,
    EV_RECEIVE_FAILED,
    EV_RELEASED,
    EV_STALE_RECEIPT,
    EV_TAKEOVER,
    OUTCOME_ERROR,
    OUTCOME_OK,
)
from consumer.idempotency import Outcome
from consumer.message import body_hash
from tests.consumer.conftest import WAIT_S, Stack, run_worker

pytestmark = pytest.mark.unit

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class Recorder:
    """A handler that records what it saw (and can be told to fail or wait)."""

    def __init__(self, *, fail: bool = False, sleep: float = 0.0) -> None:
        self.seen: list[Message] = []
        self.fail = fail
        self.sleep = sleep
        self.started = threading.Event()

    def __call__(self, message: Message) -> None:
        self.seen.append(message)
        self.started.set()
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail:
            raise RuntimeError("handler exploded")


def count_writes(client: Any) -> list[str]:
    calls: list[str] = []

    def hook(model: Any, **_: Any) -> None:
        if model.name in WRITES:
            calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", hook)
    return calls


def test_first_delivery_completes_once_deletes_and_costs_two_writes(
    stack: Stack, events: Any
) -> None:
    stack.send({"id": "order-1", "sent_at": 1_700_000_000_000, "n": 1})
    writes = count_writes(stack.ddb)
    handler = Recorder()
    worker = run_worker(
        Worker(stack.config(message_limit=1), handler, sqs=stack.sqs, dynamodb=stack.ddb)
    )

    assert worker.stop_reason is StopReason.LIMIT and worker.exit_code == 0
    assert [m.message_id for m in handler.seen] == ["order-1"]
    assert handler.seen[0].attempt == 1 and handler.seen[0].body["n"] == 1
    (done,) = events.named(EV_COMPLETED)
    assert done["message_id"] == "order-1" and done["attempt"] == 1 and done["receive_count"] == 1
    assert done["sent_at"] == 1_700_000_000_000
    assert abs(done["completed_at"] - time.time() * 1000) < 60_000
    assert writes == ["PutItem", "TransactWriteItems"]
    assert stack.depth() == 0
    item: Any = stack.store("x").completed_item("order-1")
    assert item["owner"] == "worker-a" and item["attempts"] == 1
    assert item["completed_at"] == done["completed_at"]
    # the records expire a week (IDEMPOTENCY_TTL_SECONDS' default) after the completion
    raw = stack.ddb.get_item(TableName=stack.status_table, Key={"message_id": {"S": "order-1"}})
    week_after = done["completed_at"] / 1000 + 7 * 24 * 3600
    assert abs(int(raw["Item"]["expires_at"]["N"]) - week_after) <= 2


def test_sqs_message_id_is_the_id_when_the_payload_has_none(stack: Stack, events: Any) -> None:
    sqs_id = stack.send({"hello": "world"})
    run_worker(Worker(stack.config(message_limit=1), Recorder(), sqs=stack.sqs, dynamodb=stack.ddb))
    (done,) = events.named(EV_COMPLETED)
    assert done["message_id"] == sqs_id == done["sqs_message_id"]
    assert "sent_at" not in done


def test_duplicate_after_completion_is_deleted_without_work(stack: Stack, events: Any) -> None:
    # GIVEN an id completed by an earlier worker process
    stack.send({"id": "dup-1"})
    run_worker(Worker(stack.config(message_limit=1), Recorder(), sqs=stack.sqs, dynamodb=stack.ddb))
    # WHEN the same id arrives again, at a fresh worker (empty LRU)
    stack.send({"id": "dup-1"})
    handler = Recorder()
    run_worker(
        Worker(
            stack.config(message_limit=1, consumer_id="worker-b"),
            handler,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN it is logged as a duplicate, deleted, and no work is done
    assert handler.seen == []
    (dup,) = events.named(EV_DUPLICATE)
    assert dup["message_id"] == "dup-1" and dup["source"] == "status"
    assert len(events.named(EV_COMPLETED)) == 1
    assert stack.depth() == 0


def test_duplicate_in_the_same_process_is_answered_by_the_lru(stack: Stack, events: Any) -> None:
    stack.send({"id": "same"})
    stack.send({"id": "same"})
    handler = Recorder()
    run_worker(Worker(stack.config(message_limit=2), handler, sqs=stack.sqs, dynamodb=stack.ddb))
    assert len(handler.seen) == 1
    assert [d["source"] for d in events.named(EV_DUPLICATE)] == ["cache"]
    assert stack.depth() == 0


def test_live_lease_elsewhere_is_released_not_deleted(stack: Stack, events: Any) -> None:
    # GIVEN another worker holds a live lease on the id
    other = stack.store("worker-other")
    other.begin("busy-1", time.time() + 300)
    stack.send({"id": "busy-1"})
    handler = Recorder()
    # WHEN this worker receives the message
    run_worker(
        Worker(
            stack.config(message_limit=1, release_backoff_seconds=0),
            handler,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN it does no work, does not delete, and releases it with the backoff
    assert handler.seen == []
    (busy,) = events.named(EV_IN_PROGRESS_ELSEWHERE)
    assert busy["owner"] == "worker-other"
    (released,) = events.named(EV_RELEASED)
    assert released["reason"] == "in_progress_elsewhere" and released["visibility"] == 0
    assert stack.visible() == 1
    assert events.named(EV_COMPLETED) == []


def test_expired_lease_is_taken_over_and_completed_as_attempt_two(
    stack: Stack, events: Any
) -> None:
    # GIVEN a worker that crashed holding a lease that has since expired
    crashed = stack.store("worker-crashed")
    crashed.begin("stuck-1", time.time() - 1)
    stack.send({"id": "stuck-1"})
    handler = Recorder()
    run_worker(Worker(stack.config(message_limit=1), handler, sqs=stack.sqs, dynamodb=stack.ddb))
    # THEN this worker takes it over with the next fencing token and completes it
    assert [m.attempt for m in handler.seen] == [2]
    (takeover,) = events.named(EV_TAKEOVER)
    assert takeover["previous_owner"] == "worker-crashed"
    (done,) = events.named(EV_COMPLETED)
    assert done["attempt"] == 2
    stuck: Any = stack.store("x").completed_item("stuck-1")
    assert stuck["attempts"] == 2
    assert stack.depth() == 0


def test_fenced_stale_completion_is_not_counted_and_not_deleted(stack: Stack, events: Any) -> None:
    # GIVEN a handler so slow that another worker takes the lease over meanwhile
    stack.send({"id": "slow-1"})
    thief = stack.store("worker-thief")

    def slow(message: Message) -> None:
        thief.clock = lambda: time.time() + 3600  # the thief sees our lease as long expired
        decision = thief.begin(message.message_id, time.time() + 3600)
        assert decision.claim is not None and decision.claim.attempt == 2

    run_worker(Worker(stack.config(message_limit=1), slow, sqs=stack.sqs, dynamodb=stack.ddb))
    # THEN our completion is fenced: no completed event, nothing written, message left alone
    assert events.named(EV_COMPLETED) == []
    assert len(events.named(EV_FENCED)) == 1
    assert stack.store("x").completed_item("slow-1") is None
    assert stack.depth() == 1
    # AND the thief's completion is the effective one
    status: Any = stack.store("x").status_item("slow-1")
    assert status.owner == "worker-thief" and status.attempts == 2


class Crashed(BaseException):
    """Stands in for os._exit in-process: unwinds the handler thread, skipping all cleanup."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_crash_after_processing_before_delete_then_redelivery_is_a_duplicate(
    make_stack: Any, events: Any
) -> None:
    stack = make_stack(visibility=1)
    stack.send({"id": "crash-1"})
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Crashed

    config = stack.config(message_limit=1, crash_after_receive=1)
    handler = Recorder()
    run_worker(
        Worker(
            config, handler, sqs=stack.sqs, dynamodb=stack.ddb, chaos=Chaos(config, exit=fake_exit)
        )
    )
    # THEN it crashed with the chaos code after completing, before deleting
    assert codes == [3]
    (crash,) = events.named(EV_CONSUMER_CRASH)
    assert crash["reason"] == "crash_after_receive" and crash["exit_code"] == 3
    assert len(events.named(EV_COMPLETED)) == 1
    assert stack.depth() == 1
    # WHEN a restarted worker receives the redelivery (its long poll waits for the 1 s
    # visibility timeout to run out)
    again = Recorder()
    run_worker(
        Worker(
            stack.config(message_limit=1, consumer_id="worker-b", wait_time_seconds=10),
            again,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN it is a duplicate: deleted, no work, still exactly one completion
    assert again.seen == []
    assert events.named(EV_DUPLICATE)[0]["receive_count"] == 2
    assert len(events.named(EV_COMPLETED)) == 1
    assert stack.depth() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("this is not json", "not JSON"),
        ("{broken", "not JSON"),
        ("[1, 2, 3]", "not an object (got list)"),
        ('"a string"', "not an object (got str)"),
        ("42", "not an object (got int)"),
        ("null", "not an object (got NoneType)"),
        ('{"id": {"nested": 1}}', "payload id must be a string (got dict)"),
        ('{"id": 1}', "payload id must be a string (got int)"),
        ('{"id": "' + "k" * 2049 + '"}', "payload id is 2049 bytes in UTF-8: at most 2048"),
    ],
)
def test_poison_is_never_deleted_and_reaches_the_dlq_after_max_receive_count(
    make_stack: Any, events: Any, body: str, reason: str
) -> None:
    # GIVEN a queue that dead-letters after 2 receives, a poison message and a good one
    stack = make_stack(max_receive_count=2)
    stack.send(body)
    stack.send({"id": "good"})
    handler = Recorder()
    run_worker(
        Worker(
            stack.config(idle_timeout_seconds=0.5, release_backoff_seconds=0),
            handler,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN the good one is done, the poison one was logged with its reason on each receive,
    # never deleted, and redrive moved it to the DLQ after exactly 2 receives
    assert [m.message_id for m in handler.seen] == ["good"]
    poison = events.named(EV_POISON)
    assert [p["receive_count"] for p in poison] == [1, 2]
    assert all(reason in p["reason"] for p in poison)
    assert stack.depth() == 0
    assert stack.depth(stack.dlq_url) == 1
    assert stack.sqs.receive_message(QueueUrl=stack.dlq_url)["Messages"][0]["Body"] == body


def test_handler_exception_follows_the_poison_path(make_stack: Any, events: Any) -> None:
    stack = make_stack(max_receive_count=2)
    stack.send({"id": "boom"})
    handler = Recorder(fail=True)
    run_worker(
        Worker(stack.config(idle_timeout_seconds=0.5), handler, sqs=stack.sqs, dynamodb=stack.ddb)
    )
    failed = events.named(EV_FAILED)
    assert [f["receive_count"] for f in failed] == [1, 2]
    assert failed[0]["error_type"] == "RuntimeError"
    # each retry is a fresh attempt, because the failed worker ended its lease
    assert [m.attempt for m in handler.seen] == [1, 2]
    assert events.named(EV_COMPLETED) == []
    assert stack.depth(stack.dlq_url) == 1


def test_heartbeat_keeps_a_slow_message_invisible_and_extends_the_lease(
    make_stack: Any, events: Any
) -> None:
    # GIVEN a 3 s visibility timeout and a heartbeat every 0.5 s
    stack = make_stack(visibility=3)
    stack.send({"id": "slow"})
    leases: list[float] = []
    peeks: list[int] = []

    def slow(message: Message) -> None:
        # WHEN the work outlasts the visibility timeout by a second, across several beats
        past = time.time() + 3 + 1
        while time.time() < past or len(events.named(EV_HEARTBEAT)) < 3:
            got = stack.sqs.receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=0)
            peeks.append(len(got.get("Messages", [])))
            time.sleep(0.2)
        record = stack.store("x").status_item("slow")
        assert record is not None
        leases.append(record.lease_expires_at)

    start = time.time()
    run_worker(
        Worker(
            stack.config(message_limit=1, heartbeat_seconds=0.5),
            slow,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        ),
        timeout=60,
    )
    # THEN nobody else could see it while it was worked on, past its original 3 s, and its
    # lease moved with its visibility
    assert peeks and set(peeks) == {0}
    assert leases[0] > start + 3
    (done,) = events.named(EV_COMPLETED)
    assert done["attempt"] == 1
    assert stack.depth() == 0


class StaleDeletes:
    """An SQS client whose batch deletes fail as they do when receipt handles have gone stale."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def delete_message_batch(self, *, Entries: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        failed = [
            {
                "Id": e["Id"],
                "SenderFault": True,
                "Code": "ReceiptHandleIsInvalid",
                "Message": "stale",
            }
            for e in Entries
        ]
        return {"Successful": [], "Failed": failed}


def test_stale_receipt_handle_is_a_warning_not_a_crash(stack: Stack, events: Any) -> None:
    stack.send({"id": "a"})
    stack.send({"id": "b"})
    worker = run_worker(
        Worker(
            stack.config(message_limit=2),
            Recorder(),
            sqs=StaleDeletes(stack.sqs),
            dynamodb=stack.ddb,
        )
    )
    assert worker.exit_code == 0
    stale = events.named(EV_STALE_RECEIPT)
    assert [s["operation"] for s in stale] == ["delete", "delete"]
    assert stale[0]["level"] == "WARNING"
    assert len(events.named(EV_COMPLETED)) == 2


@pytest.mark.usefixtures("serial_moto")
def test_concurrency_processes_messages_in_parallel(stack: Stack, events: Any) -> None:
    # GIVEN 10 messages whose handlers can only return in groups of 5 running at once
    for i in range(10):
        stack.send({"id": f"p-{i}"})
    active, peak = [0], [0]
    lock = threading.Lock()
    five = threading.Barrier(5, timeout=WAIT_S)
    broken: list[BaseException] = []

    def work(_: Message) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            five.wait()  # passes only once 5 handlers run at the same time
        except threading.BrokenBarrierError as exc:
            broken.append(exc)
        with lock:
            active[0] -= 1

    run_worker(
        Worker(
            stack.config(message_limit=10, concurrency=5, max_messages=10),
            work,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN both groups met (5 in parallel), and never more than CONCURRENCY ran
    assert broken == []
    assert peak[0] == 5
    assert len(events.named(EV_COMPLETED)) == 10


def test_idle_timeout_stops_the_worker(stack: Stack) -> None:
    worker = run_worker(
        Worker(
            stack.config(idle_timeout_seconds=0.3), Recorder(), sqs=stack.sqs, dynamodb=stack.ddb
        )
    )
    assert worker.stop_reason is StopReason.IDLE and worker.exit_code == 0


def test_without_tables_the_lru_alone_detects_duplicates(stack: Stack, events: Any) -> None:
    for _ in range(3):
        stack.send({"id": "lru"})
    config = stack.config(message_limit=3, message_status_table=None, message_completed_table=None)
    handler = Recorder()
    worker = run_worker(Worker(config, handler, sqs=stack.sqs))
    assert worker.store.name == "memory"
    assert len(handler.seen) == 1
    assert len(events.named(EV_DUPLICATE)) == 2


def test_cache_size_zero_without_tables_is_the_seed_without_idempotency(stack: Stack) -> None:
    for _ in range(2):
        stack.send({"id": "again"})
    config = stack.config(
        message_limit=2,
        message_status_table=None,
        message_completed_table=None,
        idempotency_cache_size=0,
    )
    handler = Recorder()
    run_worker(Worker(config, handler, sqs=stack.sqs))
    assert len(handler.seen) == 2


def test_default_handler_is_the_simulated_work(stack: Stack, events: Any) -> None:
    stack.send(json.dumps({"id": "sim"}))
    config = stack.config(message_limit=1, sleep_min_seconds=0.05, sleep_max_seconds=0.1)
    worker = run_worker(Worker(config, sqs=stack.sqs, dynamodb=stack.ddb))
    assert type(worker.handler).__name__ == "SimulatedWork"
    (done,) = events.named(EV_COMPLETED)
    assert done["duration_ms"] >= 50


def test_receive_errors_do_not_crash_the_worker(stack: Stack, events: Any) -> None:
    class Flaky(StaleDeletes):
        calls = 0

        def receive_message(self, **kwargs: Any) -> Any:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise ClientError(
                    {"Error": {"Code": "InternalError", "Message": "5xx"}}, "ReceiveMessage"
                )
            return self._real.receive_message(**kwargs)

        delete_message_batch = property(lambda self: self._real.delete_message_batch)  # type: ignore[assignment]

    stack.send({"id": "after-outage"})
    worker = run_worker(
        Worker(stack.config(message_limit=1), Recorder(), sqs=Flaky(stack.sqs), dynamodb=stack.ddb)
    )
    assert worker.exit_code == 0
    assert len(events.named(EV_RECEIVE_FAILED)) == 1
    assert len(events.named(EV_COMPLETED)) == 1


def test_outcome_values_are_stable() -> None:
    # The engine reads these names from logs; renaming them is a contract change.
    assert {o.value for o in Outcome} == {"completed", "already_completed", "fenced"}


@pytest.mark.usefixtures("serial_moto")
def test_completed_messages_are_deleted_in_batches(stack: Stack) -> None:
    for i in range(10):
        stack.send({"id": f"b-{i}"})
    calls: list[int] = []
    stack.sqs.meta.events.register(
        "before-parameter-build.sqs.DeleteMessageBatch",
        lambda params, **_: calls.append(len(params["Entries"])),
    )
    run_worker(
        Worker(
            stack.config(message_limit=10, max_messages=10, concurrency=10),
            Recorder(),
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    assert sum(calls) == 10 and len(calls) <= 2
    assert stack.depth() == 0


def test_a_receive_asks_for_no_more_than_the_free_handler_slots(stack: Stack) -> None:
    # GIVEN MAX_MESSAGES=10 but a single handler thread
    for i in range(4):
        stack.send({"id": f"slot-{i}"})
    asked: list[int] = []
    stack.sqs.meta.events.register(
        "before-parameter-build.sqs.ReceiveMessage",
        lambda params, **_: asked.append(params["MaxNumberOfMessages"]),
    )
    handler = Recorder()
    run_worker(
        Worker(
            stack.config(message_limit=4, max_messages=10, concurrency=1),
            handler,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN every receive asked for one message: the one a free thread can start at once
    assert len(handler.seen) == 4
    assert asked and set(asked) == {1}


def test_an_id_collision_is_reported_and_dead_lettered_never_dropped(
    make_stack: Any, events: Any
) -> None:
    # GIVEN an id completed for one body
    stack = make_stack(max_receive_count=2)
    stack.send({"id": "shared", "work": 1, "sent_at": 1})
    run_worker(Worker(stack.config(message_limit=1), Recorder(), sqs=stack.sqs, dynamodb=stack.ddb))
    # WHEN a different body arrives under the same id, next to a resend of the first one
    stack.send({"id": "shared", "work": 2, "sent_at": 2})
    stack.send({"id": "shared", "work": 1, "sent_at": 3})
    handler = Recorder()
    worker = run_worker(
        Worker(
            stack.config(idle_timeout_seconds=0.5, consumer_id="worker-b"),
            handler,
            sqs=stack.sqs,
            dynamodb=stack.ddb,
        )
    )
    # THEN the resend is a duplicate, but the other body is a collision: reported with both
    # hashes on every receive, never handled, never deleted, and dead-lettered
    assert handler.seen == []
    assert len(events.named(EV_DUPLICATE)) == 1
    collisions = events.named(EV_ID_COLLISION)
    assert [c["receive_count"] for c in collisions] == [1, 2]
    first = body_hash({"id": "shared", "work": 1})
    assert {(c["other_body_hash"], c["body_hash"]) for c in collisions} == {
        (first, body_hash({"id": "shared", "work": 2}))
    }
    assert worker.counters.collisions == 2
    assert all(r["reason"] == "id_collision" for r in events.named(EV_RELEASED))
    assert stack.depth() == 0
    (dead,) = stack.sqs.receive_message(QueueUrl=stack.dlq_url)["Messages"]
    assert json.loads(dead["Body"])["work"] == 2


class BrokenStore:
    """Wraps a store; the named methods raise a non-AWS exception (a bug, a closed pool...)."""

    def __init__(self, real: Any, *broken: str) -> None:
        self._real = real
        self._broken = broken
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in self._broken:
            return attr

        def boom(*_: Any, **__: Any) -> Any:
            self.calls.append(name)
            raise RuntimeError(f"{name} is broken")

        return boom


@pytest.mark.parametrize("broken", [("begin",), ("complete",), ("complete", "release")])
def test_a_store_error_that_is_not_an_aws_error_takes_the_failure_path(
    stack: Stack, events: Any, broken: tuple[str, ...]
) -> None:
    # GIVEN a store call that raises something other than a botocore error
    stack.send({"id": "store-bug"})
    store = BrokenStore(stack.store("worker-a"), *broken)
    worker = run_worker(
        Worker(
            stack.config(message_limit=1, release_backoff_seconds=0),
            Recorder(),
            sqs=stack.sqs,
            store=store,  # type: ignore[arg-type]
        )
    )
    # THEN the message failed and was released for a retry, and the worker carried on
    assert worker.exit_code == 0
    (failed,) = events.named(EV_FAILED)
    assert failed["error_type"] == "RuntimeError" and broken[0] in failed["error"]
    (released,) = events.named(EV_RELEASED)
    assert released["reason"] == "failed" and released["visibility"] == 0
    assert stack.visible() == 1
    assert events.named(EV_COMPLETED) == []
    if "release" in broken:  # the lease release failed too: logged, not fatal
        assert store.calls[-1] == "release"
        assert events.named(EV_CONSUMER_ERROR)


def test_every_handler_execution_is_logged_with_its_own_execution_id(
    make_stack: Any, events: Any
) -> None:
    # GIVEN a handler that fails on its first execution and succeeds on the second
    stack = make_stack(max_receive_count=3)
    stack.send({"id": "exec-1"})
    seen: list[Message] = []

    def flaky(message: Message) -> None:
        seen.append(message)
        if len(seen) == 1:
            raise ValueError("first time unlucky")

    run_worker(
        Worker(stack.config(idle_timeout_seconds=0.5), flaky, sqs=stack.sqs, dynamodb=stack.ddb)
    )
    # THEN each execution has a started and a finished event with its own execution id, the
    # one the handler saw, with the attempt and the outcome
    started = events.named(EV_HANDLER_STARTED)
    finished = events.named(EV_HANDLER_FINISHED)
    assert [e["execution_id"] for e in started] == [m.execution_id for m in seen]
    assert [e["execution_id"] for e in finished] == [m.execution_id for m in seen]
    assert len({m.execution_id for m in seen}) == 2 and all(m.execution_id for m in seen)
    assert [(e["message_id"], e["attempt"]) for e in started] == [("exec-1", 1), ("exec-1", 2)]
    assert [e["outcome"] for e in finished] == [OUTCOME_ERROR, OUTCOME_OK]
    assert finished[0]["error_type"] == "ValueError"
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] >= 0 for e in finished)
    # AND the completion names the execution that completed the message
    (done,) = events.named(EV_COMPLETED)
    assert done["execution_id"] == seen[1].execution_id
