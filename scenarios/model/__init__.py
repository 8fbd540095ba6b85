"""The scenario model: what a scenario declares - phases, consumer groups, traffic, faults, needs.

Declarations only: running them is :mod:`scenarios.running`, judging them
:mod:`scenarios.judging`.
"""

from scenarios.model.consumer import ConsumerSettings, RestartPolicy
from scenarios.model.fault import ConsumerSlot, Fault, LiveView
from scenarios.model.phase import ConsumerGroup, Need, Phase
from scenarios.model.queue import FifoQueue
from scenarios.model.scaling import ScalingPolicy
from scenarios.model.traffic import Segment, Traffic

__all__ = [
    "ConsumerGroup",
    "ConsumerSettings",
    "ConsumerSlot",
    "Fault",
    "FifoQueue",
    "LiveView",
    "Need",
    "Phase",
    "RestartPolicy",
    "ScalingPolicy",
    "Segment",
    "Traffic",
]
