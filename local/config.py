"""Settings for `python -m local` and the probe: a frozen dataclass read from the environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core.errors import ConfigError
from local.emulators.choice import parse_emulator

#: terraform: apply terraform/ through tflocal (the default); api: the opt-in fast path
PROVISIONERS = ("terraform", "api")
MAIN_PREFIX = "sqs-demo"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


@dataclass(frozen=True)
class LocalConfig:
    """Where `make local-up` runs its emulator and writes its files.

    Every field has a variable: SQSKIT_EMULATOR, SQSKIT_EMULATOR_PORT, SQSKIT_STATE_DIR,
    SQSKIT_ENV_FILE, SQSKIT_MAIN_PREFIX, SQSKIT_PROVISIONER, AWS_ENDPOINT_URL.
    """

    emulator: str = "auto"
    port: int = 4566
    state_dir: Path = Path(".local")
    env_file: Path = Path(".env")
    prefix: str = MAIN_PREFIX
    provisioner: str = "terraform"
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if parse_emulator(self.emulator, name="SQSKIT_EMULATOR").split:
            # local-up keeps one detached emulator, one pidfile and one tflocal endpoint.
            raise ConfigError(
                f"SQSKIT_EMULATOR={self.emulator!r}: local-up runs one emulator for every "
                "service; per-service endpoints work with `scenario run --emulator` only"
            )
        if not 1 <= self.port <= 65_535:
            raise ConfigError(f"SQSKIT_EMULATOR_PORT={self.port} is out of range: allowed 1..65535")
        if not _PREFIX_RE.match(self.prefix):
            raise ConfigError(
                f"SQSKIT_MAIN_PREFIX={self.prefix!r} is invalid: 2-40 lowercase letters, digits "
                "or '-', starting with a letter"
            )
        if self.provisioner not in PROVISIONERS:
            raise ConfigError(
                f"SQSKIT_PROVISIONER={self.provisioner!r} is invalid: "
                f"choose {', '.join(PROVISIONERS)}"
            )
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"AWS_ENDPOINT_URL={self.endpoint!r} is invalid: use http(s)://host:port"
            )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> LocalConfig:
        """Read the variables (flags given as ``overrides`` win; None means not given)."""
        env = dict(os.environ) if env is None else env
        raw_port = env.get("SQSKIT_EMULATOR_PORT", "4566")
        try:
            port = int(raw_port)
        except ValueError:
            raise ConfigError(
                f"SQSKIT_EMULATOR_PORT={raw_port!r} is not a number: allowed 1..65535"
            ) from None
        config = cls(
            emulator=env.get("SQSKIT_EMULATOR", "auto") or "auto",
            port=port,
            state_dir=Path(env.get("SQSKIT_STATE_DIR", ".local") or ".local"),
            env_file=Path(env.get("SQSKIT_ENV_FILE", ".env") or ".env"),
            prefix=env.get("SQSKIT_MAIN_PREFIX", MAIN_PREFIX) or MAIN_PREFIX,
            provisioner=env.get("SQSKIT_PROVISIONER", "terraform") or "terraform",
            endpoint=env.get(ENV_AWS_ENDPOINT_URL) or None,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(config, **given) if given else config

    @property
    def default_endpoint(self) -> str:
        return self.endpoint or f"http://127.0.0.1:{self.port}"
