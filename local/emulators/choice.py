"""What ``--emulator`` / ``SQSKIT_EMULATOR`` asks for: one emulator, or one per service.

``sqs=localstack,dynamodb=ministack`` sends SQS to LocalStack and DynamoDB to MiniStack:
LocalStack's SQS is the most faithful here (StartMessageMoveTask), while its DynamoDB needs a
jar it cannot use offline. This module is the one place that spelling is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.aws import SERVICE_ENDPOINT_VARIABLES
from core.errors import ConfigError

#: every single-emulator spelling
KINDS = ("auto", "ministack", "moto", "localstack", "external", "compose:ministack", "compose:moto")
#: the services a split names, in the order they are started (SQS first: it is the default)
SPLIT_SERVICES: tuple[str, ...] = tuple(SERVICE_ENDPOINT_VARIABLES)
#: what a service of a split may run on: emulators the kit starts itself
SPLIT_KINDS = ("ministack", "moto", "localstack")
SPLIT_EXAMPLE = "sqs=localstack,dynamodb=ministack"


@dataclass(frozen=True)
class EmulatorChoice:
    """One kind for every service (``kind``), or one kind per service (``services``)."""

    kind: str | None = None
    #: ``(service, kind)`` in :data:`SPLIT_SERVICES` order, for per-service endpoints
    services: tuple[tuple[str, str], ...] = ()

    @property
    def split(self) -> bool:
        """True when the services are named one by one (even if they name the same kind)."""
        return bool(self.services)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The emulators to start, each once, the SQS one first."""
        if not self.split:
            return (self.kind or "auto",)
        return tuple(dict.fromkeys(kind for _service, kind in self.services))

    def kind_of(self, service: str) -> str:
        """The emulator that serves ``service``."""
        return dict(self.services).get(service, self.kind or "auto")

    @property
    def spelling(self) -> str:
        """The canonical text: ``ministack`` or ``sqs=localstack,dynamodb=ministack``."""
        if not self.split:
            return self.kind or "auto"
        return ",".join(f"{service}={kind}" for service, kind in self.services)


def parse_emulator(text: str, *, name: str = "--emulator") -> EmulatorChoice:
    """Parse one emulator kind, or ``SERVICE=KIND`` pairs naming every splittable service.

    ``name`` is the flag or variable the text came from, for the one-line error.
    """
    raw = (text or "").strip()
    if "=" not in raw:
        if raw not in KINDS:
            raise ConfigError(
                f"{name}={raw!r} is invalid: choose one of {', '.join(KINDS)}, or per-service "
                f"endpoints such as {SPLIT_EXAMPLE}"
            )
        return EmulatorChoice(kind=raw)
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        service, sep, kind = (part.strip() for part in item.partition("="))
        if not sep or service not in SPLIT_SERVICES or kind not in SPLIT_KINDS:
            raise ConfigError(
                f"{name}={raw!r} is invalid: {item.strip()!r} is not SERVICE=KIND with SERVICE "
                f"one of {', '.join(SPLIT_SERVICES)} and KIND one of {', '.join(SPLIT_KINDS)} "
                f"(e.g. {SPLIT_EXAMPLE})"
            )
        if service in pairs:
            raise ConfigError(f"{name}={raw!r} is invalid: {service} is named twice")
        pairs[service] = kind
    missing = [s for s in SPLIT_SERVICES if s not in pairs]
    if missing:
        raise ConfigError(
            f"{name}={raw!r} is invalid: per-service endpoints name every service "
            f"({', '.join(SPLIT_SERVICES)}); {', '.join(missing)} is missing (e.g. {SPLIT_EXAMPLE})"
        )
    return EmulatorChoice(services=tuple((s, pairs[s]) for s in SPLIT_SERVICES))
