"""happy: messages flow through cleanly; every one is processed once and deleted."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.judging.expectations import NotRedelivered
from scenarios.model import Phase
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class Happy(Scenario):
    name = "happy"
    summary = "Messages flow through cleanly: all are processed once and deleted."
    defaults = Knobs(count=20, consumers=2, visibility_timeout=5, sleep_max=0.02)
    expected_s = 3.0
    needs = BASE_NEEDS

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [Phase.from_knobs(k, expect=(NotRedelivered(why="clean flow, no redelivery"),))]
