"""boto3 clients built at call time, with botocore's standard retry mode.

Emulators accept any credentials; when an endpoint override is set and the environment has
none, the well-known dummy pair is used so a laptop needs no AWS setup.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
_DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


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
    return (
        region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )


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
            kwargs.update(_DUMMY_CREDENTIALS)
    factory: Any = session.client  # boto3's overloads want a literal service name
    return factory(service, **kwargs)
