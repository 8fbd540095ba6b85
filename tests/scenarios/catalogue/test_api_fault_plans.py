"""The api-faults and lost-ack plans, replayed call by call: what each consumer slot sees.

The calibration notes claim that every rule fires early in a run, once per slot, and that a
failed call's retry passes (each fault costs one short backoff, never a chain of them).
"""

from __future__ import annotations

import pytest

from local.faultproxy import FaultKind, Plan
from local.faultproxy.inject import Injector
from scenarios.catalogue.api_faults import PLAN as API_FAULTS
from scenarios.catalogue.lost_ack import PLAN as LOST_ACK
from scenarios.running.apifaults import ProxyFaults

pytestmark = pytest.mark.unit

#: the calls of the kit's consumer, in the order one slot first makes them
CALLS = (
    ("sqs", "ReceiveMessage"),
    ("sqs", "DeleteMessageBatch"),
    ("sqs", "ChangeMessageVisibility"),
    ("dynamodb", "PutItem"),
    ("dynamodb", "UpdateItem"),
    ("dynamodb", "TransactWriteItems"),
)
#: logical calls of each operation a slot makes at least, in a run at the default knobs
EARLY = 3


def replay(plan: Plan, calls: int) -> dict[str, list[list[str]]]:
    """Per operation, ``calls`` logical calls of one slot, each retried (as botocore does)
    until an attempt is forwarded or acknowledged: each attempt's fault, or "ok"."""
    injector = Injector(plan)
    seen: dict[str, list[list[str]]] = {}
    for service, operation in CALLS:
        seen[operation] = []
        for _ in range(calls):
            attempts: list[str] = []
            while True:
                fire = injector.decide(service, operation).action
                attempts.append("ok" if fire is None else fire.rule.fault.value)
                # an acknowledged-but-dropped call looks like a success to the client
                if fire is None or fire.rule.fault is FaultKind.ACK_DROPPED:
                    break
            seen[operation].append(attempts)
    return seen


def failed_in_a_row(seen: dict[str, list[list[str]]]) -> int:
    """The most failed attempts of one logical call."""
    return max(
        sum(1 for a in attempts if a not in ("ok", FaultKind.ACK_DROPPED.value))
        for calls in seen.values()
        for attempts in calls
    )


@pytest.mark.parametrize("faults", [API_FAULTS, LOST_ACK], ids=["api-faults", "lost-ack"])
def test_every_rule_fires_early_and_a_failed_calls_retry_passes(faults: ProxyFaults) -> None:
    plan = faults.plan()
    seen = replay(plan, EARLY)
    fired = sorted({a for calls in seen.values() for attempts in calls for a in attempts} - {"ok"})
    assert fired == sorted(faults.kinds)
    # in those calls each rule fired once: as many faults as rules
    assert sum(a != "ok" for c in seen.values() for t in c for a in t) == len(plan.rules)
    assert failed_in_a_row(seen) == 1


def test_the_replay_sees_rules_that_fail_one_call_again_and_again() -> None:
    # GIVEN the receive rules as they were: each on the retry of the one before
    chained = ProxyFaults(
        rules=tuple(
            {"service": "sqs", "operation": "ReceiveMessage", "fault": f, "sequence": s}
            for f, s in (
                ("reset_after", [0, 0, 1]),
                ("throttle", [0, 1, 0]),
                ("error_503", [1, 0, 0, 0]),
            )
        )
    )
    # WHEN it is replayed THEN the first receive fails three times in a row
    assert replay(chained.plan(), 1)["ReceiveMessage"][0] == [
        "error_503",
        "throttle",
        "reset_after",
        "ok",
    ]
    assert failed_in_a_row(replay(chained.plan(), 1)) == 3
