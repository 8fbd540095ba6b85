"""The idempotency state machine, run against every backend (memory and DynamoDB via moto)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumer.errors import StoreConflict
from consumer.idempotency import COMPLETED, STARTED, ClaimVerdict, DynamoDBStore, Outcome
from tests.consumer.conftest import FakeClock

pytestmark = pytest.mark.unit


def test_first_receive_claims_with_attempt_one(store_factory: Any) -> None:
    clock = FakeClock()
    store = store_factory("a", clock)
    decision = store.begin("m-1", clock.now + 30)
    assert decision.verdict is ClaimVerdict.CLAIMED
    assert decision.claim.attempt == 1
    assert decision.claim.owner == "a"
    assert not decision.claim.takeover
    record = store._get("m-1")
    assert (record.status, record.attempts, record.owner) == (STARTED, 1, "a")
    assert record.lease_expires_at == pytest.approx(clock.now + 30)


def test_duplicate_after_completion_is_recognised(store_factory: Any) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    claim = a.begin("m-1", clock.now + 30).claim
    assert a.complete(claim, 1234) is Outcome.COMPLETED
    decision = b.begin("m-1", clock.now + 30)
    assert decision.verdict is ClaimVerdict.DUPLICATE
    assert decision.existing.status == COMPLETED


def test_live_lease_of_another_owner_is_busy(store_factory: Any) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    a.begin("m-1", clock.now + 30)
    decision = b.begin("m-1", clock.now + 30)
    assert decision.verdict is ClaimVerdict.BUSY
    assert decision.existing.owner == "a"


def test_expired_lease_is_taken_over_with_attempts_plus_one(store_factory: Any) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    a.begin("m-1", clock.now + 30)
    clock.now += 31
    decision = b.begin("m-1", clock.now + 30)
    assert decision.verdict is ClaimVerdict.CLAIMED
    assert decision.claim.attempt == 2
    assert decision.claim.previous_owner == "a"
    assert b._get("m-1").owner == "b"


def test_fenced_owner_cannot_complete_extend_or_release(store_factory: Any) -> None:
    # GIVEN a stalled owner whose lease expired and was taken over
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    stale = a.begin("m-1", clock.now + 30).claim
    clock.now += 31
    fresh = b.begin("m-1", clock.now + 30).claim
    # WHEN the stalled owner wakes up
    # THEN every write it tries is rejected, and the new owner's completion is the one
    assert a.extend(stale, clock.now + 60) is False
    assert a.release(stale) is False
    assert a.complete(stale, 1) is Outcome.FENCED
    assert b.complete(fresh, 2) is Outcome.COMPLETED
    assert a.complete(stale, 3) is Outcome.ALREADY_COMPLETED


def test_release_lets_the_next_receiver_take_over_at_once(store_factory: Any) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    claim = a.begin("m-1", clock.now + 30).claim
    assert a.release(claim) is True
    decision = b.begin("m-1", clock.now + 30)
    assert decision.verdict is ClaimVerdict.CLAIMED
    assert decision.claim.attempt == 2


def test_extend_moves_the_lease(store_factory: Any) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    claim = a.begin("m-1", clock.now + 10)
    assert a.extend(claim.claim, clock.now + 100) is True
    clock.now += 50
    assert b.begin("m-1", clock.now + 10).verdict is ClaimVerdict.BUSY


def test_local_cache_answers_duplicates_without_a_request(stack: Any) -> None:
    store = stack.store("a", cache_size=10)
    claim = store.begin("m-1", 2e9).claim
    assert store.complete(claim, 1) is Outcome.COMPLETED
    calls: list[str] = []
    stack.ddb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    assert store.begin("m-1", 2e9).verdict is ClaimVerdict.DUPLICATE
    assert calls == []


def test_completed_item_has_the_contract_fields(stack: Any) -> None:
    store = stack.store("a")
    claim = store.begin("m-1", 2e9).claim
    store.complete(claim, 1_700_000_000_123)
    assert store.completed_item("m-1") == {
        "message_id": "m-1",
        "completed_at": 1_700_000_000_123,
        "owner": "a",
        "attempts": 1,
    }  # no body hash was given: none is written
    raw = stack.ddb.get_item(TableName=stack.status_table, Key={"message_id": {"S": "m-1"}})["Item"]
    assert set(raw) == {
        "message_id",
        "status",
        "attempts",
        "owner",
        "lease_expires_at",
        "updated_at",
        "expires_at",
    }
    assert raw["status"] == {"S": "COMPLETED"}


@pytest.mark.usefixtures("serial_moto")
def test_thread_race_yields_exactly_one_completion_per_id(store_factory: Any) -> None:
    # GIVEN 8 workers that all receive the same 5 ids at the same moment, with leases that are
    # already expired, so that every loser takes the id over and fences the one before it
    clock = FakeClock()
    ids = [f"race-{i}" for i in range(5)]
    outcomes: list[tuple[str, str, Outcome]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def racer(n: int) -> None:
        try:
            store = store_factory(f"w{n}", clock)
            barrier.wait()
            for message_id in ids:
                lease = clock.now - 1  # already expired: every loser may take it over
                decision = store.begin(message_id, lease)
                if decision.verdict is ClaimVerdict.CLAIMED:
                    time.sleep(0.02)  # the work: the window in which others can take over
                    outcome = store.complete(decision.claim, n)
                    with lock:
                        outcomes.append((message_id, f"w{n}", outcome))
        except BaseException as exc:  # a dead racer must fail the test, not shrink the race
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a racer is still running after 30 s"
    assert errors == [], errors
    # THEN each id has exactly one effective completion
    for message_id in ids:
        completed = [o for o in outcomes if o[0] == message_id and o[2] is Outcome.COMPLETED]
        assert len(completed) == 1, (message_id, outcomes)
    # AND the race really happened: expired leases were taken over and the losers fenced out
    assert any(o[2] is not Outcome.COMPLETED for o in outcomes), outcomes


def test_a_completion_whose_response_was_lost_is_still_ours(stack: Any) -> None:
    # GIVEN a completion that reached DynamoDB but whose response never came back
    store = stack.store("a")
    claim = store.begin("lost-1", 2e9).claim
    assert store._finish(claim, 1, now=1.0) is Outcome.COMPLETED
    # WHEN the worker sends it again as a new request (not a botocore retry)
    # THEN it is recognised as this worker's own completion, not someone else's
    assert store._finish(claim, 2, now=2.0) is Outcome.COMPLETED
    other = stack.store("b")
    assert other.complete(claim.__class__("lost-1", "b", 1, 0.0), 3) is Outcome.ALREADY_COMPLETED


def test_a_different_body_under_a_completed_id_is_a_collision(store_factory: Any) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    claim = a.begin("m-1", clock.now + 30, body_hash="h1").claim
    assert a.complete(claim, 1) is Outcome.COMPLETED
    decision = b.begin("m-1", clock.now + 30, body_hash="h2")
    assert decision.verdict is ClaimVerdict.COLLISION
    assert (decision.source, decision.other_body_hash) == ("status", "h1")
    # the same body is still a plain duplicate
    assert b.begin("m-1", clock.now + 30, body_hash="h1").verdict is ClaimVerdict.DUPLICATE


def test_a_different_body_under_a_live_or_expired_lease_is_a_collision(
    store_factory: Any,
) -> None:
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    a.begin("m-1", clock.now + 30, body_hash="h1")
    # not "busy": the message in flight is another one
    assert b.begin("m-1", clock.now + 30, body_hash="h2").verdict is ClaimVerdict.COLLISION
    # and never taken over: its record and its fencing token stay as they are
    clock.now += 31
    assert b.begin("m-1", clock.now + 30, body_hash="h2").verdict is ClaimVerdict.COLLISION
    record = b._get("m-1")
    assert (record.owner, record.attempts, record.body_hash) == ("a", 1, "h1")


def test_a_record_without_a_hash_matches_any_body(store_factory: Any) -> None:
    # records written before hashes existed must not turn every redelivery into a collision
    clock = FakeClock()
    a, b = store_factory("a", clock), store_factory("b", clock)
    claim = a.begin("m-1", clock.now + 30).claim
    a.complete(claim, 1)
    assert b.begin("m-1", clock.now + 30, body_hash="h2").verdict is ClaimVerdict.DUPLICATE


def test_the_local_cache_detects_a_collision_too(stack: Any) -> None:
    store = stack.store("a", cache_size=10)
    claim = store.begin("m-1", 2e9, body_hash="h1").claim
    store.complete(claim, 1)
    decision = store.begin("m-1", 2e9, body_hash="h2")
    assert decision.verdict is ClaimVerdict.COLLISION
    assert (decision.source, decision.other_body_hash) == ("cache", "h1")


def test_the_body_hash_is_stored_with_the_status_and_completed_items(stack: Any) -> None:
    store = stack.store("a")
    claim = store.begin("m-1", 2e9, body_hash="h1").claim
    assert store.status_item("m-1").body_hash == "h1"
    store.complete(claim, 5)
    assert store.completed_item("m-1")["body_hash"] == "h1"


def test_a_takeover_of_a_record_without_a_hash_writes_ours(stack: Any) -> None:
    clock = FakeClock()
    old = stack.store("old", clock=clock)
    old.begin("m-1", clock.now - 1)
    new = stack.store("new", clock=clock)
    assert new.begin("m-1", clock.now + 30, body_hash="h9").claim.attempt == 2
    assert new.status_item("m-1").body_hash == "h9"


def _raw(stack: Any, table: str, message_id: str) -> dict[str, Any]:
    return stack.ddb.get_item(TableName=table, Key={"message_id": {"S": message_id}})["Item"]


def test_every_record_write_sets_its_expiry_at_no_extra_write(stack: Any) -> None:
    # GIVEN a store with a one-day TTL and a clock we move by hand
    clock = FakeClock(1_800_000_000.0)
    store = stack.store("a", clock=clock, ttl_seconds=86_400)
    writes: list[str] = []
    stack.ddb.meta.events.register(
        "before-call.dynamodb",
        lambda model, **_: writes.append(model.name) if "Item" in model.name else None,
    )
    # WHEN a message is claimed, then completed an hour later
    claim = store.begin("m-ttl", clock.now + 30).claim
    assert _raw(stack, stack.status_table, "m-ttl")["expires_at"] == {"N": "1800086400"}
    clock.now += 3600
    assert store.complete(claim, 1) is Outcome.COMPLETED
    # THEN both items expire a day after the completion, written by the same two requests
    assert _raw(stack, stack.status_table, "m-ttl")["expires_at"] == {"N": "1800090000"}
    assert _raw(stack, stack.completed_table, "m-ttl")["expires_at"] == {"N": "1800090000"}
    assert [w for w in writes if w != "GetItem"] == ["PutItem", "TransactWriteItems"]


def test_a_takeover_moves_the_expiry(stack: Any) -> None:
    clock = FakeClock(1_800_000_000.0)
    stack.store("a", clock=clock, ttl_seconds=86_400).begin("m-ttl", clock.now - 1)
    clock.now += 100
    stack.store("b", clock=clock, ttl_seconds=86_400).begin("m-ttl", clock.now + 30)
    assert _raw(stack, stack.status_table, "m-ttl")["expires_at"] == {"N": "1800086500"}


def test_a_ttl_of_zero_writes_no_expiry(stack: Any) -> None:
    store = stack.store("a", ttl_seconds=0)
    claim = store.begin("m-forever", 2e9).claim
    store.complete(claim, 1)
    assert "expires_at" not in _raw(stack, stack.status_table, "m-forever")
    assert "expires_at" not in _raw(stack, stack.completed_table, "m-forever")


class Conflicting:
    """A DynamoDB client whose next ``conflicts`` TransactWriteItems are cancelled by a
    TransactionConflict (a concurrent write to the same item); ``before`` runs first."""

    def __init__(self, real: Any, conflicts: int, before: Any = None) -> None:
        self._real = real
        self.conflicts = conflicts
        self.before = before
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.transactions <= self.conflicts:
            if self.before is not None:
                self.before()
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
                },
                "TransactWriteItems",
            )
        return self._real.transact_write_items(**kwargs)


def conflicting_store(stack: Any, client: Any, owner: str = "a") -> Any:
    return DynamoDBStore(
        owner,
        client=client,
        status_table=stack.status_table,
        completed_table=stack.completed_table,
        cache_size=0,
    )


def test_a_transaction_conflict_on_our_own_lease_is_retried(stack: Any) -> None:
    client = Conflicting(stack.ddb, conflicts=1)
    store = conflicting_store(stack, client)
    claim = store.begin("tc-1", 2e9).claim
    assert store.complete(claim, 1) is Outcome.COMPLETED
    assert client.transactions == 2
    assert store.completed_item("tc-1")["owner"] == "a"


def test_a_transaction_conflict_that_never_clears_is_an_error_not_a_fence(stack: Any) -> None:
    # GIVEN a completion that collides with concurrent writes on every round
    client = Conflicting(stack.ddb, conflicts=100)
    store = conflicting_store(stack, client)
    claim = store.begin("tc-2", 2e9).claim
    # THEN it gives up after a few rounds with an error (the caller's failure path), and does
    # not claim it was fenced out: the lease is still ours
    with pytest.raises(StoreConflict, match="tc-2"):
        store.complete(claim, 1)
    assert client.transactions == 3
    assert store.status_item("tc-2").owner == "a"
    assert store.completed_item("tc-2") is None


def test_a_transaction_conflict_with_a_takeover_is_fenced(stack: Any) -> None:
    # GIVEN a completion cancelled because another worker took the lease over meanwhile
    clock = FakeClock()
    thief = stack.store("thief", clock=FakeClock(clock.now + 3600))

    def steal() -> None:
        thief.begin("tc-3", clock.now + 7200)

    store = conflicting_store(stack, Conflicting(stack.ddb, conflicts=1, before=steal))
    store.clock = clock
    claim = store.begin("tc-3", clock.now + 30).claim
    # THEN the completion is fenced: nothing was written for us
    assert store.complete(claim, 1) is Outcome.FENCED
    assert store.status_item("tc-3").owner == "thief"
    assert store.completed_item("tc-3") is None


def test_a_transaction_conflict_with_a_completion_is_already_completed(stack: Any) -> None:
    # GIVEN a completion cancelled because the record was completed meanwhile
    def complete_elsewhere() -> None:
        stack.ddb.update_item(
            TableName=stack.status_table,
            Key={"message_id": {"S": "tc-4"}},
            UpdateExpression="SET #s = :c",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":c": {"S": COMPLETED}},
        )

    store = conflicting_store(stack, Conflicting(stack.ddb, conflicts=1, before=complete_elsewhere))
    claim = store.begin("tc-4", 2e9).claim
    assert store.complete(claim, 1) is Outcome.ALREADY_COMPLETED
