"""Needs shared by the catalogue (capability names come from the conformance probe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from core import capabilities as cap
from scenarios.judging.expectations import (
    CallsRetried,
    FaultsFired,
    NoConsumerCrashed,
    Redelivered,
)
from scenarios.model import Need, Phase
from scenarios.model.ecs import NO_SIGKILL_ON_ECS, EcsSupport
from scenarios.running.apifaults import ProxyFaults
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

BASE_NEEDS: tuple[Need, ...] = (
    Need(cap.SQS_BASIC),
    Need(cap.SQS_VISIBILITY),
    Need(cap.SQS_RECEIVE_COUNT),
    Need(cap.SQS_COUNTERS),
    Need(cap.DDB_CONDITIONAL),
    Need(cap.DDB_TRANSACTIONS),
)

# -- on ECS (the aws target): what each scenario needs there, see scenarios.model.ecs ---------

#: each incarnation crashes, and each restart waits for DEPROVISIONING and a cold start
ECS_CRASH = EcsSupport(
    knobs={"timeout_s": 600.0},
    why="each crash restart is a new task: deprovisioning, then a cold start",
)
#: the slow consumer's work must outlast the second consumer's cold start, and it must be
#: allowed to finish (its completion is the fenced one) before the consumers are stopped
ECS_SLOW_CONSUMER = EcsSupport(
    knobs={"slow_seconds": 75.0, "settle_s": 70.0},
    why="the slow work outlasts a cold start of the other consumer, then is let finish",
)
#: the signal lands mid-work only if the work outlasts the log delivery delay; the drain must
#: end before ECS's SIGKILL (stopTimeout 30 s, an emulator's docker stop sooner)
ECS_SIGTERM = EcsSupport(
    knobs={
        "sleep_min": 14.0,
        "sleep_max": 18.0,
        "shutdown_timeout": 3.0,
        "visibility_timeout": 30,
        "timeout_s": 360.0,
    },
    why="the work outlasts CloudWatch's delivery delay; the drain ends before stopTimeout",
)
ECS_NO_SIGKILL = EcsSupport(unsupported=NO_SIGKILL_ON_ECS)

#: the fault proxy sits between consumers and an emulator on this machine, not in front of AWS
ECS_NO_PROXY = EcsSupport(
    unsupported="the fault proxy runs on the local target only; on AWS, network faults come "
    "from the FIS experiment template in terraform/ (docs/faults.md)"
)
#: every delete and visibility change, single and batched: the kit's consumer batches its
#: deletes, a plugged-in consumer may not
DELETES = ["DeleteMessage", "DeleteMessageBatch"]
VISIBILITY_CHANGES = ["ChangeMessageVisibility", "ChangeMessageVisibilityBatch"]


def calibration_of(doc: str | None) -> str | None:
    """The paragraph of a scenario's docstring that starts "Chaos calibration. "."""
    if not doc or "Chaos calibration. " not in doc:
        return None
    return doc.split("Chaos calibration. ", 1)[1].split("\n\n", 1)[0].strip()


class ApiFaultScenario(Scenario):
    """A scenario of one phase behind the fault proxy (``api-faults``, ``lost-ack``): every
    planned kind fired, the failed calls retried, a redelivery, and no consumer crashed.

    A subclass names its plan, the phase's note and which redelivery it shows.
    """

    needs = BASE_NEEDS
    ecs = ECS_NO_PROXY
    plugged_in = "behind the fault proxy like the kit's own; heartbeat faults need a heartbeat"
    proxy_plan: ClassVar[ProxyFaults]
    #: the phase's note in the report
    phase_note: ClassVar[str]
    #: the redelivery phenomenon's reason, e.g. "redelivery after a dropped delete"
    redelivery: ClassVar[str]

    def phases(self, k: Knobs) -> Sequence[Phase]:
        plan = self.proxy_plan
        return [
            Phase.from_knobs(
                k,
                note=self.phase_note,
                faults=(plan,),
                expect=(
                    FaultsFired(plan.kinds),
                    CallsRetried(),
                    Redelivered(why=self.redelivery),
                    NoConsumerCrashed(),
                ),
            )
        ]
