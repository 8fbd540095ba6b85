"""The scenario catalogue: one module per scenario, registered here in the order `list` shows."""

from __future__ import annotations

from core.errors import ConfigError
from scenarios.catalogue.api_faults import ApiFaults
from scenarios.catalogue.autoscale import Autoscale
from scenarios.catalogue.burst import Burst
from scenarios.catalogue.crash import Crash
from scenarios.catalogue.duplicates import Duplicates
from scenarios.catalogue.fifo_dedup import FifoDedup
from scenarios.catalogue.fifo_order import FifoOrder
from scenarios.catalogue.fifo_poison import FifoPoison
from scenarios.catalogue.happy import Happy
from scenarios.catalogue.kill_mid_run import KillMidRun
from scenarios.catalogue.lost_ack import LostAck
from scenarios.catalogue.poison import Poison
from scenarios.catalogue.scale_out import ScaleOut
from scenarios.catalogue.sigterm_drain import SigtermDrain
from scenarios.catalogue.visibility_overrun import VisibilityOverrun
from scenarios.running.scenario import Scenario

ALL: tuple[type[Scenario], ...] = (
    Happy,
    Crash,
    Duplicates,
    VisibilityOverrun,
    Poison,
    ScaleOut,
    Burst,
    KillMidRun,
    SigtermDrain,
    FifoOrder,
    FifoDedup,
    FifoPoison,
    Autoscale,
    ApiFaults,
    LostAck,
)
SCENARIOS: dict[str, type[Scenario]] = {cls.name: cls for cls in ALL}


def names() -> list[str]:
    return [cls.name for cls in ALL]


def get(name: str) -> Scenario:
    """The scenario called ``name``; a usage error listing the known ones otherwise."""
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown scenario {name!r}: choose one of {', '.join(names())}, or 'all'"
        ) from None


def resolve(names_or_all: list[str] | tuple[str, ...]) -> list[Scenario]:
    """Scenarios for ``NAME...`` or ``all``, in catalogue order for ``all``."""
    if not names_or_all or "all" in names_or_all:
        return [cls() for cls in ALL]
    return [get(n) for n in names_or_all]
