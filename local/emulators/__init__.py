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
from core.errors import ConfigError, EmulatorUnavailable
from core.lifecycle import Scoped
from local.emulators.base import DEFAULT_PORT, LOOPBACK, Emulator, answers, free_port, identify
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
    "EmulatorUnavailable",
    "ExternalEmulator",
    "LocalStackEmulator",
    "LocalStackHostEmulator",
    "MiniStackEmulator",
    "MotoEmulator",
    "Selection",
    "embedded",
    "emulators_with",
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
KINDS = ("auto", "ministack", "moto", "localstack", "external", "compose:ministack", "compose:moto")


@dataclass
class Selection(Scoped):
    """The emulator a run uses, whether the run owns it, and why it was chosen."""

    emulator: Emulator
    owned: bool
    reason: str

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    def close(self) -> None:
        """Stop the emulator when this run started it."""
        if self.owned:
            self.emulator.stop()


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
    """
    if kind not in KINDS:
        raise ConfigError(f"SQSKIT_EMULATOR={kind!r} is invalid: choose one of {', '.join(KINDS)}")
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
