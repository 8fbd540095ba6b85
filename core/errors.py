"""The kit's exception hierarchy: one root, a few meaningful subclasses.

Every message is written for the user: it says what went wrong and what to do next.
The CLI maps each class to a named exit code at the edge.
"""

from __future__ import annotations

from typing import Any


class KitError(Exception):
    """Root of every error the kit raises on purpose."""


class ConfigError(KitError):
    """A setting is missing or out of range; the message names it and the allowed values."""


class EmulatorUnavailable(KitError):
    """No emulator answers, or the chosen one cannot be started."""


class ProvisionError(KitError):
    """Creating or destroying cloud resources failed."""


class InfrastructureError(KitError):
    """A runner, container engine or cloud call failed outside the scenario's control."""


class ScenarioFailed(KitError):
    """The oracle's verdict did not match what the scenario expects."""

    def __init__(self, message: str, *, expected: Any = None, observed: Any = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.observed = observed
