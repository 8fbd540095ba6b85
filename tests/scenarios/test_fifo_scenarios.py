"""The FIFO scenarios' declarations: FIFO stacks, their needs, and why they skip elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from core import capabilities as cap
from core.errors import ConfigError
from local.emulators.ministack import CAPABILITIES as MINISTACK
from local.emulators.moto import CAPABILITIES as MOTO
from scenarios import catalogue
from scenarios.model import Need
from scenarios.running.phase import PhaseExecution
from scenarios.running.scenario import Status, lacking, resolve_needs
from scenarios.settings import Knobs, RunSettings
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit

FIFO = ("fifo-order", "fifo-dedup", "fifo-poison")


class LimitedTarget(InstantTarget):
    """A target with a fixed capability set, on which nothing may run."""

    def __init__(self, capabilities: frozenset[str]) -> None:
        super().__init__()
        self.caps = capabilities

    def capabilities(self) -> frozenset[str]:
        return self.caps

    def provision(self, spec: Any) -> Any:
        raise AssertionError("a skipped scenario must not provision")


@pytest.mark.parametrize("name", FIFO)
def test_every_fifo_phase_runs_on_a_fifo_stack(name):
    scenario = catalogue.get(name)
    for phase in scenario.phases(scenario.defaults):
        spec = PhaseExecution.spec_for(name, phase)
        assert spec.fifo and spec.queue_name.endswith(".fifo") and spec.dlq_name.endswith(".fifo")
        assert phase.traffic.groups == scenario.defaults.groups > 1


@pytest.mark.parametrize("name", FIFO)
def test_on_moto_a_fifo_scenario_skips_naming_the_capability_and_where_it_is(name, tmp_path):
    # GIVEN moto server's capabilities: its FIFO SequenceNumber is not increasing (sqs.fifo)
    result = catalogue.get(name).execute(LimitedTarget(MOTO), RunSettings(), run_dir=tmp_path)
    assert result.status is Status.SKIPPED
    assert result.reason is not None
    assert result.reason.startswith(f"the target lacks {cap.SQS_FIFO}")
    assert "ministack has all it needs" in result.reason


def test_on_ministack_fifo_poison_runs_with_the_fifo_dlq_shim_labelled():
    needs = catalogue.get("fifo-poison").needs
    missing, shims = resolve_needs(needs, MINISTACK)
    assert missing == []
    assert set(shims) == {cap.SQS_FIFO_DLQ}
    assert "never exercised" in shims[cap.SQS_FIFO_DLQ]
    for name in ("fifo-order", "fifo-dedup"):
        assert resolve_needs(catalogue.get(name).needs, MINISTACK) == ([], {})


def test_a_need_no_emulator_has_says_to_run_on_aws():
    # GIVEN a target without sqs.fifo_receive_attempt, which no emulator passes
    reason = lacking([cap.SQS_FIFO_RECEIVE_ATTEMPT], (Need(cap.SQS_FIFO_RECEIVE_ATTEMPT),))
    assert reason == (
        f"the target lacks {cap.SQS_FIFO_RECEIVE_ATTEMPT}; no emulator the kit knows has it "
        "(docs/emulators.md): run it on AWS"
    )


def test_the_fifo_knobs_are_validated():
    with pytest.raises(ConfigError, match="knob groups=0 is out of range"):
        Knobs(groups=0)
    with pytest.raises(ConfigError, match=r"knob duplicate_ids=1\.5 is out of range"):
        Knobs(duplicate_ids=1.5)
    k = Knobs().override(RunSettings(knobs=(("groups", "8"),)))
    phase = catalogue.get("fifo-order").phases(k)[0]
    assert phase.traffic.groups == 8
