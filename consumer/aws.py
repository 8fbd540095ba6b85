"""boto3 clients for the worker, built at run time with botocore's retry mode; AWS error codes.

The endpoint comes from the SDK's own ``AWS_ENDPOINT_URL``, so the same code runs against an
emulator or AWS. Throttling and 5xx are retried by botocore (``AWS_RETRY_MODE``, default
``standard``; ``AWS_MAX_ATTEMPTS``, default 8), never by a loop of ours.
"""

from __future__ import annotations

import os
import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from consumer.config import WorkerConfig
from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_SECRET_ACCESS_KEY,
)

DEFAULT_REGION = "us-east-1"
_QUEUE_REGION = re.compile(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com")
# The emulator's dummy pair, as boto3 keyword arguments.
_DUMMY = {
    "aws_access_key_id": EMULATOR_CREDENTIALS[ENV_AWS_ACCESS_KEY_ID],
    "aws_secret_access_key": EMULATOR_CREDENTIALS[ENV_AWS_SECRET_ACCESS_KEY],
}


#: DynamoDB's answer to a conditional write whose condition did not hold
CONDITION_FAILED = "ConditionalCheckFailedException"


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else ''."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def client_config(config: WorkerConfig) -> Config:
    retries: Any = {"mode": config.retry_mode, "max_attempts": config.max_attempts}
    return Config(
        retries=retries,
        # One connection per handler thread, plus the receive loop and the heartbeat.
        max_pool_connections=max(10, config.concurrency + 4),
        connect_timeout=5,
        read_timeout=max(60, config.wait_time_seconds + 10),
    )


def resolve_region(config: WorkerConfig, session: boto3.session.Session) -> str:
    if config.region:
        return config.region
    if session.region_name:
        return session.region_name
    match = _QUEUE_REGION.search(config.queue_url)
    return match.group(1) if match else DEFAULT_REGION


def build_client(service: str, config: WorkerConfig) -> Any:
    """A client for ``service``; on an emulator without credentials, the dummy pair."""
    session: Any = boto3.session.Session()
    kwargs: dict[str, Any] = {
        "region_name": resolve_region(config, session),
        "config": client_config(config),
    }
    if os.environ.get(ENV_AWS_ENDPOINT_URL) and session.get_credentials() is None:
        kwargs.update(_DUMMY)
    return session.client(service, **kwargs)
