"""boto3 clients built at call time, with botocore's standard retry mode.

Emulators accept any credentials; when an endpoint override is set and the environment has
none, the contract's dummy pair is used, so a laptop needs no AWS setup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_DEFAULT_REGION,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_REGION,
    ENV_AWS_SECRET_ACCESS_KEY,
)

DEFAULT_REGION = "us-east-1"


def retry_config(
    max_attempts: int = 8, *, connect_timeout: float = 5, read_timeout: float = 30
) -> Config:
    """The one botocore retry policy the kit uses: standard mode, bounded attempts."""
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def resolve_region(region: str | None = None) -> str:
    """``region``, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1."""
    return (
        region
        or os.environ.get(ENV_AWS_REGION)
        or os.environ.get(ENV_AWS_DEFAULT_REGION)
        or DEFAULT_REGION
    )


def with_emulator_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus the dummy credentials when it points at an emulator and carries none."""
    out = dict(env)
    if out.get(ENV_AWS_ENDPOINT_URL) and ENV_AWS_ACCESS_KEY_ID not in out:
        out.update(EMULATOR_CREDENTIALS)
    return out


def client(
    service: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    config: Config | None = None,
) -> Any:
    """A boto3 client for ``service``; no ``endpoint_url`` means AWS (or AWS_ENDPOINT_URL)."""
    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    kwargs: dict[str, Any] = {
        "region_name": resolve_region(region),
        "config": config or retry_config(),
    }
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if session.get_credentials() is None:
            kwargs["aws_access_key_id"] = EMULATOR_CREDENTIALS[ENV_AWS_ACCESS_KEY_ID]
            kwargs["aws_secret_access_key"] = EMULATOR_CREDENTIALS[ENV_AWS_SECRET_ACCESS_KEY]
    factory: Any = session.client  # boto3's overloads want a literal service name
    return factory(service, **kwargs)
