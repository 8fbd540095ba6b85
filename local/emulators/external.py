"""An emulator (or AWS-compatible endpoint) somebody else runs: used, never started or stopped."""

from __future__ import annotations

import os

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core import capabilities as cap
from core.errors import ConfigError, EmulatorUnavailable
from local.emulators.base import Emulator, answers, identify, wait_until
from local.emulators.ministack import CAPABILITIES as MINISTACK_CAPABILITIES
from local.emulators.moto import CAPABILITIES as MOTO_CAPABILITIES

# What is known per emulator before probing; the probe is the authority.
_STATIC_CAPABILITIES = {
    "ministack": MINISTACK_CAPABILITIES,
    "moto": MOTO_CAPABILITIES,
    "localstack": cap.ALL - {cap.ECS_RUNS_CONTAINERS},  # claimed, not yet probed here
}


class ExternalEmulator(Emulator):
    """The endpoint in ``AWS_ENDPOINT_URL`` (or given): ready means any HTTP answer."""

    kind = "external"

    def __init__(self, endpoint: str | None = None) -> None:
        url = endpoint or os.environ.get(ENV_AWS_ENDPOINT_URL, "")
        if not url:
            raise ConfigError(
                "external emulator needs an endpoint: set AWS_ENDPOINT_URL or --endpoint"
            )
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"AWS_ENDPOINT_URL={url!r} is invalid: use http(s)://host:port")
        self._endpoint = url.rstrip("/")
        self._identified: str | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        """What answers there (ministack, localstack, moto or unknown), asked once."""
        if self._identified is None:
            self._identified = identify(self._endpoint)
        return self._identified

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def ready(self, timeout: float = 0.0) -> bool:
        return wait_until(lambda: answers(self._endpoint), timeout)

    def start(self) -> None:
        if not self.ready(3.0):
            raise EmulatorUnavailable(
                f"nothing answers at {self._endpoint}: start an emulator there (`make local-up`) "
                "or unset AWS_ENDPOINT_URL to use the embedded one"
            )

    def stop(self) -> None:
        """Not ours to stop."""

    def capabilities(self) -> frozenset[str]:
        return frozenset(_STATIC_CAPABILITIES.get(self.name, frozenset()))
