"""Emulator backends and auto-selection.

``select()`` decides what the run talks to and says why; ``Selection.owned`` means this run
started the emulator and must stop it (``with select() as sel:`` does that).
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from dataclasses import dataclass

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core.aws import Endpoints
from core.errors import ConfigError, EmulatorUnavailable
from core.lifecycle import Scoped
from local.emulators.base import DEFAULT_PORT, LOOPBACK, Emulator, answers, free_port, identify
from local.emulators.choice import KINDS, EmulatorChoice, parse_emulator
from local.emulators.compose import COMPOSE_SERVICES, ComposeEmulator
from local.emulators.embedded import EmbeddedEmulator
from local.emulators.external import ExternalEmulator, emulators_with
from local.emulators.localstack import LocalStackEmulator, localstack_emulator
from local.emulators.localstack_host import LocalStackHostEmulator
from local.emulators.ministack import MiniStackEmulator
from local.emulators.moto import MotoEmulator

__all__ = [
    "DEFAULT_EMBEDDED",
    "EMBEDDED",
    "KINDS",
    "ComposeEmulator",
    "Emulator",
    "EmulatorChoice",
    "EmulatorUnavailable",
    "ExternalEmulator",
    "LocalStackEmulator",
    "LocalStackHostEmulator",
    "MiniStackEmulator",
    "MotoEmulator",
    "Selection",
    "embedded",
    "emulators_with",
    "parse_emulator",
    "select",
    "start_embedded",
]

log = logging.getLogger(__name__)

#: The embedded default, chosen by measurement (docs/emulators.md): ready in ~0.4 s, the whole
#: probe passes, and its SQS cost stays flat with queue depth where moto's grows linearly.
DEFAULT_EMBEDDED = "ministack"
EMBEDDED: dict[str, type[EmbeddedEmulator]] = {
    "ministack": MiniStackEmulator,
    "moto": MotoEmulator,
}


@dataclass
class Selection(Scoped):
    """The emulator a run uses, whether the run owns it, and why it was chosen.

    With per-service endpoints, ``services`` holds the selection serving each service (each
    emulator started once), and ``emulator`` is the SQS one: the default endpoint.
    """

    emulator: Emulator
    owned: bool
    reason: str
    services: tuple[tuple[str, Selection], ...] = ()

    @property
    def endpoint(self) -> str:
        """The default endpoint (with a split: the SQS one)."""
        return self.emulator.endpoint

    @property
    def endpoints(self) -> Endpoints:
        """Where each service is reached; one endpoint for all unless split."""
        if not self.services:
            return Endpoints(self.endpoint)
        return Endpoints(
            self.endpoint, tuple((service, sel.endpoint) for service, sel in self.services)
        )

    def emulator_for(self, service: str) -> Emulator:
        """The emulator that serves ``service``."""
        return dict(self.services)[service].emulator if self.services else self.emulator

    def capabilities(self) -> frozenset[str]:
        """What the emulators promise; with a split, each service's from its own emulator."""
        if not self.services:
            return self.emulator.capabilities()
        own = {"sqs": "sqs.", "dynamodb": "ddb."}
        caps = {c for c in self.emulator.capabilities() if not c.startswith(tuple(own.values()))}
        for service, sel in self.services:
            caps |= {c for c in sel.emulator.capabilities() if c.startswith(own[service])}
        return frozenset(caps)

    def describe_services(self) -> dict[str, dict[str, str]]:
        """Per service: the emulator's name and endpoint (the report's ``services``)."""
        pairs = self.services or (("sqs", self), ("dynamodb", self))
        return {s: {"emulator": sel.emulator.name, "endpoint": sel.endpoint} for s, sel in pairs}

    def close(self) -> None:
        """Stop the emulators this run started (each once)."""
        parts = [sel for _service, sel in self.services] or [self]
        for sel in {id(sel): sel for sel in parts}.values():
            if sel.owned:
                sel.emulator.stop()


def embedded(
    kind: str = DEFAULT_EMBEDDED,
    port: int | None = None,
    **kwargs: object,
) -> EmbeddedEmulator:
    """An embedded emulator object, not started; ``port=None`` means a free port."""
    try:
        cls = EMBEDDED[kind]
    except KeyError:
        raise ConfigError(
            f"unknown embedded emulator {kind!r}: choose {', '.join(EMBEDDED)}"
        ) from None
    return cls(port=port, use_free_port=port is None, **kwargs)  # type: ignore[arg-type]


def start_embedded(kind: str = DEFAULT_EMBEDDED, port: int | None = None) -> EmbeddedEmulator:
    """Start an embedded emulator (a free port when ``port`` is None); also a context manager."""
    emulator = embedded(kind, port)
    emulator.start()
    return emulator


def select(
    kind: str = "auto",
    *,
    endpoint: str | None = None,
    port: int | None = None,
) -> Selection:
    """Pick, and start when needed, the emulator for this run.

    ``auto``: when something answers at ``endpoint`` (default ``AWS_ENDPOINT_URL``, else
    ``http://127.0.0.1:<port or 4566>``) use it; otherwise start the embedded default on that
    loopback port for the duration of the run. A named ``kind`` starts that backend.
    Per-service endpoints (``sqs=localstack,dynamodb=ministack``, see
    :func:`local.emulators.choice.parse_emulator`) start each named emulator once, SQS's on
    ``port``.
    """
    choice = parse_emulator(kind, name="SQSKIT_EMULATOR")
    if choice.split:
        return _split(choice, port)
    configured = endpoint or os.environ.get(ENV_AWS_ENDPOINT_URL) or None
    if kind == "external":
        ext = ExternalEmulator(configured)
        ext.start()
        return _chosen(
            Selection(ext, False, f"external endpoint {ext.endpoint} answers ({ext.name})")
        )
    if kind in EMBEDDED:
        emb = embedded(kind, port)
        emb.start()
        return _chosen(
            Selection(emb, True, f"{kind} was asked for; started embedded on port {emb.port}")
        )
    if kind == "localstack":
        return _chosen(_localstack(port))
    if kind.startswith("compose:"):
        service = kind.removeprefix("compose:")
        if service not in COMPOSE_SERVICES:
            raise ConfigError(f"unknown compose emulator {service!r}")
        comp = ComposeEmulator(service, port=port)
        already = comp.ready(0)
        comp.start()
        reason = f"{service} container was asked for" + (
            f"; it was already running at {comp.endpoint}"
            if already
            else "; started with docker compose"
        )
        return _chosen(Selection(comp, not already, reason))
    return _auto(configured, port)


def _split(choice: EmulatorChoice, port: int | None) -> Selection:
    """Start each emulator of a split once; stop those already started if one fails."""
    started: dict[str, Selection] = {}
    try:
        for i, kind in enumerate(choice.kinds):
            started[kind] = select(kind, port=port if i == 0 else None)
    except BaseException:
        for sel in started.values():
            sel.close()
        raise
    services = tuple((service, started[kind]) for service, kind in choice.services)
    primary = dict(services)["sqs"]
    where = ", ".join(f"{s} on {sel.emulator.name} at {sel.endpoint}" for s, sel in services)
    return _chosen(
        Selection(
            primary.emulator,
            primary.owned,
            f"per-service endpoints {choice.spelling} were asked for: {where}",
            services,
        )
    )


def _localstack(port: int | None) -> Selection:
    """The image through compose where it is present, else localstack-core on the host."""
    emulator, choice = localstack_emulator(port)
    if isinstance(emulator, LocalStackHostEmulator):
        emulator.start()
        return Selection(
            emulator,
            True,
            f"localstack was asked for; {choice.reason}, so localstack-core {emulator.version} "
            f"runs on the host, port {emulator.port}",
        )
    already = emulator.ready(0)
    emulator.start()
    where = f"already running at {emulator.endpoint}" if already else "started with docker compose"
    return Selection(emulator, not already, f"localstack was asked for; {choice.reason}, {where}")


def _auto(configured: str | None, port: int | None) -> Selection:
    target = configured or f"http://{LOOPBACK}:{port or DEFAULT_PORT}"
    if answers(target):
        ext = ExternalEmulator(target)
        return _chosen(
            Selection(
                ext, False, f"{ext.name} already answers at {target}; using it (not ours to stop)"
            )
        )
    host, target_port = _loopback_port(target)
    if host is None:
        raise EmulatorUnavailable(
            f"nothing answers at {target}, and it is not a loopback address where the embedded "
            "emulator could be started; start your emulator there or unset AWS_ENDPOINT_URL"
        )
    emb = embedded(DEFAULT_EMBEDDED, target_port)
    emb.start()
    return _chosen(
        Selection(
            emb,
            True,
            f"nothing answered at {target}; started the embedded default ({DEFAULT_EMBEDDED}) "
            f"on port {emb.port} for this run",
        )
    )


def _loopback_port(url: str) -> tuple[str | None, int]:
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname not in {"127.0.0.1", "localhost", "::1"}:
        return None, 0
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def _chosen(selection: Selection) -> Selection:
    log.info(
        "emulator.selected",
        extra={
            "emulator": selection.emulator.name,
            "endpoint": selection.endpoint,
            "owned": selection.owned,
            "reason": selection.reason,
        },
    )
    return selection


# re-exported for callers that only need the helpers
__all__ += ["free_port", "identify"]
