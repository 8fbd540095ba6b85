"""The Target interface: where a scenario runs. `local` and `aws` implement the same methods.

A scenario only talks to its Target, so the same scenario definition runs unchanged on an
emulator with local consumers and on AWS with Fargate tasks. The base class owns what both
targets share: starting, signalling, reading and stopping consumers through the current
stack's runner. A target provisions the stack and builds that runner.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InfrastructureError
from core.lifecycle import Scoped
from core.stack import StackHandle, StackSpec
from local.faultproxy import Plan
from scenarios.judging.facts import ApiFault, Call
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.base import ConsumerHandle, ConsumerRunner
from scenarios.runners.passthrough import PassThrough


@dataclass(frozen=True)
class Workload:
    """What a run will start, for a target's preflight plan."""

    scenarios: int
    consumers: int
    messages: int


class Target(Scoped, abc.ABC):
    """Provisions a stack, runs consumers on it, and tears everything down.

    ``open``/``close`` (a context manager too) acquire and release what every scenario of a
    run shares: an emulator, a confirmation to spend money.
    """

    name: str = "base"
    #: where the current stack's consumer logs are written on this machine (None: nowhere)
    log_dir: Path | None = None
    #: the current stack and the runner of its consumers (None before provision)
    handle: StackHandle | None = None
    runner: ConsumerRunner | None = None
    #: the recording pass-through between the current stack's consumers and the endpoint
    #: (None where the target has none: the consumers talk to the endpoint directly)
    passthrough: PassThrough | None = None
    #: the fault plan the next stack's consumers run behind (None: no fault proxy)
    fault_plan: Plan | None = None
    #: whether this target can put the fault proxy between its consumers and the endpoint
    injects_api_faults: bool = False

    def capabilities(self) -> frozenset[str] | None:
        """What this target supports (``core.capabilities`` names); None means everything."""
        return None

    def preflight(self, workload: Workload) -> str | None:
        """What a run of ``workload`` will create and cost, shown before ``open``; None: nothing."""
        del workload
        return None

    def fork(self) -> Target:
        """An open target for one more scenario running beside this one (``--parallel``): the
        same emulator or account, its own stack, runner and consumers. Closing it leaves what it
        shares running."""
        raise ConfigError(
            f"the {self.name} target runs one scenario at a time: --parallel needs --target local"
        )

    def stop_timeout(self, timeout: float) -> float:
        """How long stopping the consumers may take here, given the scenario's ``timeout``."""
        return timeout

    # -- consumers on the current stack ---------------------------------------------------------

    def _active(self) -> tuple[ConsumerRunner, StackHandle]:
        if self.runner is None or self.handle is None:
            raise InfrastructureError(
                f"the {self.name} target has no stack: call provision() first"
            )
        if self.runner.fatal_error:
            raise InfrastructureError(self.runner.fatal_error)
        return self.runner, self.handle

    def start_consumers(
        self,
        n: int,
        settings: ConsumerSettings,
        *,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
    ) -> list[ConsumerHandle]:
        """Start ``n`` consumers with ``settings`` and the stack's addresses."""
        runner, stack = self._active()
        return runner.start(n, settings, env=stack.consumer_env(), restart=restart)

    def signal(self, handle: ConsumerHandle, sig: int) -> None:
        """SIGKILL / SIGTERM one consumer (on ECS: what StopTask really sends)."""
        self._active()[0].signal(handle, sig)

    def consumer_events(self, handle: ConsumerHandle | None = None) -> list[dict[str, Any]]:
        """Parsed JSON events from every consumer (or one), across restarts."""
        return self._active()[0].events(handle)

    def sees_calls(self) -> bool:
        """Whether a pass-through will record the consumers' calls (open targets only)."""
        return False

    def observed_calls(self) -> list[Call] | None:
        """The consumers' SQS calls the pass-through recorded; None without a pass-through."""
        return self.passthrough.calls() if self.passthrough is not None else None

    def arm_faults(self, plan: Plan | None) -> None:
        """Run the next stack's consumers behind the fault proxy with ``plan`` (None: don't)."""
        if plan is not None and not self.injects_api_faults:
            raise ConfigError(
                f"API faults (--faults, api-faults, lost-ack) need the local target: the fault "
                f"proxy cannot sit in front of the {self.name} target's consumers; on AWS, "
                "network faults come from the FIS template in terraform/ (docs/faults.md)"
            )
        self.fault_plan = plan

    def api_faults(self) -> list[ApiFault]:
        """Every fault the fault proxy fired into the current stack's consumers' calls."""
        return self.passthrough.fired() if self.passthrough is not None else []

    def stop_consumers(self, timeout: float = 10.0, *, settled: bool = False) -> None:
        """Drain (SIGTERM; ``settled``: the runner's settled stop) and then kill every consumer
        still running."""
        if self.runner is not None:
            self.runner.stop_all(timeout=self.stop_timeout(timeout), settled=settled)

    # -- per stack -----------------------------------------------------------------------------

    @abc.abstractmethod
    def provision(self, spec: StackSpec) -> StackHandle:
        """Create the isolated stack and its runner; the handle has every address needed."""

    @abc.abstractmethod
    def client(self, service: str) -> Any:
        """A boto3 client bound to this target's endpoint and region."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Stop consumers and destroy the stack. Safe to call twice and after a failure."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Target-specific report fields: emulator, endpoint, runner, provisioner, region."""
