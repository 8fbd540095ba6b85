"""Needs shared by the catalogue (capability names come from the conformance probe)."""

from __future__ import annotations

from core import capabilities as cap
from scenarios.model import Need

BASE_NEEDS: tuple[Need, ...] = (
    Need(cap.SQS_BASIC),
    Need(cap.SQS_VISIBILITY),
    Need(cap.SQS_RECEIVE_COUNT),
    Need(cap.SQS_COUNTERS),
    Need(cap.DDB_CONDITIONAL),
    Need(cap.DDB_TRANSACTIONS),
)
