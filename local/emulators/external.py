"""An emulator (or AWS-compatible endpoint) somebody else runs: used, never started or stopped."""

from __future__ import annotations

import json
import os
import urllib.request

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core import capabilities as cap
from core.errors import ConfigError, EmulatorUnavailable
from local.emulators.base import Emulator, answers, identify, wait_until
from local.emulators.ministack import CAPABILITIES as MINISTACK_CAPABILITIES
from local.emulators.moto import CAPABILITIES as MOTO_CAPABILITIES

_DDB = frozenset(
    {cap.DDB_CONDITIONAL, cap.DDB_RETURN_VALUES_ON_FAILURE, cap.DDB_TRANSACTIONS, cap.DDB_TTL}
)
# What the probe proved on LocalStack (localstack-core 2026.3.0 on the host, docs/emulators.md),
# without DynamoDB: offline it needs a jar it cannot download, so it counts only where
# LocalStack's health document says its dynamodb runs. ECS is a paid LocalStack feature.
LOCALSTACK_CAPABILITIES: frozenset[str] = (
    cap.ALL
    - _DDB
    - {
        cap.SQS_VISIBILITY_LIMIT,
        cap.SQS_RECEIPT_HANDLES,
        cap.SQS_EXPIRED_HANDLE,
        cap.SQS_MAX_MESSAGE_SIZE,
        cap.SQS_REDRIVE_AS_NEW,
        cap.SQS_MOVE_TASK_RULES,
        cap.SQS_FIFO_DEDUP_SCOPE,
        cap.SQS_FIFO_RECEIVE_ATTEMPT,
        cap.SQS_FIFO_DLQ,
        cap.ECS_API,
        cap.ECS_RUNS_CONTAINERS,
    }
)
_RUNNING = frozenset({"running", "available"})

# What is known per emulator before probing; the probe is the authority.
_STATIC_CAPABILITIES = {
    "ministack": MINISTACK_CAPABILITIES,
    "moto": MOTO_CAPABILITIES,
    "localstack": LOCALSTACK_CAPABILITIES,
}


def emulators_with(*capabilities: str) -> tuple[str, ...]:
    """The emulators the probe proved every one of ``capabilities`` on (docs/emulators.md)."""
    return tuple(
        name
        for name, known in _STATIC_CAPABILITIES.items()
        if all(c in known for c in capabilities)
    )


def localstack_services(endpoint: str, timeout: float = 1.0) -> dict[str, str]:
    """The service states in LocalStack's ``/_localstack/health`` ({} when unreadable)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as resp:  # noqa: S310 - loopback health URL
            body = json.loads(resp.read() or b"{}")
    except (OSError, ValueError):
        return {}
    services = body.get("services") if isinstance(body, dict) else None
    return {str(k): str(v) for k, v in services.items()} if isinstance(services, dict) else {}


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
        known = frozenset(_STATIC_CAPABILITIES.get(self.name, frozenset()))
        if (
            self.name == "localstack"
            and localstack_services(self._endpoint).get("dynamodb") in _RUNNING
        ):
            known |= _DDB
        return known
