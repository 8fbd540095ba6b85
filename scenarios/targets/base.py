"""The Target interface: where a scenario runs. `local` and `aws` implement the same methods.

A scenario only talks to its Target, so the same scenario definition runs unchanged on an
emulator with local consumers and on AWS with Fargate tasks.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from core.stack import StackHandle, StackSpec
from scenarios.runners.base import ConsumerHandle, RestartPolicy


class Target(abc.ABC):
    """Provisions a stack, runs consumers on it, and tears everything down."""

    name: str = "base"

    # -- session (optional hooks; the engine calls them once around all scenarios) -----------

    def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire what every scenario of this run shares (an emulator, a credentials check)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``open`` acquired. Safe to call twice and after a failure."""

    def capabilities(self) -> frozenset[str] | None:
        """What this target supports (``core.capabilities`` names); None means everything."""
        return None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- per stack -----------------------------------------------------------------------------

    @abc.abstractmethod
    def provision(self, spec: StackSpec) -> StackHandle:
        """Create the isolated stack; the handle has every address the scenario needs."""

    @abc.abstractmethod
    def start_consumers(
        self,
        n: int,
        env: Mapping[str, str],
        *,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
    ) -> list[ConsumerHandle]:
        """Start ``n`` consumers with the stack's environment plus the scenario's ``env``."""

    @abc.abstractmethod
    def signal(self, handle: ConsumerHandle, sig: int) -> None:
        """SIGKILL / SIGTERM one consumer (on ECS: what StopTask really sends)."""

    @abc.abstractmethod
    def consumer_events(self, handle: ConsumerHandle | None = None) -> list[dict[str, Any]]:
        """Parsed JSON events from every consumer (or one), across restarts."""

    @abc.abstractmethod
    def stop_consumers(self, timeout: float = 10.0) -> None:
        """Drain (SIGTERM) and then kill every consumer still running."""

    @abc.abstractmethod
    def client(self, service: str) -> Any:
        """A boto3 client bound to this target's endpoint and region."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Stop consumers and destroy the stack. Safe to call twice and after a failure."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Target-specific report fields: emulator, endpoint, runner, provisioner, region."""
