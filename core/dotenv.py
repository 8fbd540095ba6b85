"""The ``.env`` file the local environment leaves behind, read under the user's environment.

``make local-up`` (and ``make aws-up``, through ``python -m scenarios.tfenv``) write ``.env``;
the seed's commands read it by themselves, so nothing has to be exported. A value the user
exported always wins over the file. The file's syntax is ``consumer.contract.parse_env_file``,
shared with ``python -m consumer``, which cannot import this package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from consumer.contract import (
    DEFAULT_ENV_FILE,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_REGION,
    ENV_EFFECTS_TABLE,
    ENV_ENV_FILE,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
    parse_env_file,
)
from core.errors import ConfigError

#: The keys the seed's `.env` carries, in the order they are written.
DOTENV_KEYS = (
    ENV_QUEUE_URL,
    "DLQ_ARN",
    "ECR_REPO",
    ENV_AWS_REGION,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
)


def main_dotenv(outputs: Mapping[str, Any], *, endpoint_url: str | None = None) -> dict[str, str]:
    """The ``.env`` keys from the main infrastructure's outputs (its ``dotenv`` output).

    ``DLQ_URL`` is added when the outputs have it, and ``AWS_ENDPOINT_URL`` for an emulator.
    """
    values = outputs.get("dotenv")
    if not isinstance(values, Mapping):
        values = {
            ENV_QUEUE_URL: outputs.get("queue_url"),
            "DLQ_ARN": outputs.get("dlq_arn"),
            "ECR_REPO": outputs.get("ecr_repository_url"),
            ENV_AWS_REGION: outputs.get("aws_region"),
            ENV_MESSAGE_STATUS_TABLE: outputs.get("message_status_table"),
            ENV_MESSAGE_COMPLETED_TABLE: outputs.get("message_completed_table"),
        }
    missing = [k for k in DOTENV_KEYS if not values.get(k)]
    if missing:
        raise ConfigError(f"the Terraform outputs lack {', '.join(missing)}")
    env = {k: str(values[k]) for k in DOTENV_KEYS}
    # Optional: a main stack applied before the effects table existed has none.
    effects = values.get(ENV_EFFECTS_TABLE) or outputs.get("effects_table")
    if effects:
        env[ENV_EFFECTS_TABLE] = str(effects)
    if outputs.get("dlq_url"):
        env["DLQ_URL"] = str(outputs["dlq_url"])
    if endpoint_url:
        env[ENV_AWS_ENDPOINT_URL] = endpoint_url
    return env


def env_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """``SQSKIT_ENV_FILE``, else ``.env`` in the working directory."""
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_ENV_FILE) or DEFAULT_ENV_FILE)


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """The file's ``KEY=VALUE`` pairs; ``{}`` when it does not exist or cannot be read."""
    try:
        return parse_env_file((path or env_file_path()).read_text())
    except OSError:
        return {}


def layered(
    environ: Mapping[str, str] | None = None, *, path: Path | None = None
) -> dict[str, str]:
    """The environment with the file's values under it: what the user exported wins."""
    env = dict(os.environ if environ is None else environ)
    return {**read_env_file(path or env_file_path(env)), **env}


def lookup(
    name: str, environ: Mapping[str, str] | None = None, *, path: Path | None = None
) -> str | None:
    """``name`` from the environment, else from the file; None when neither has a value."""
    return layered(environ, path=path).get(name) or None


def write_env_file(path: Path, values: Mapping[str, str], *, header: str = "") -> bool:
    """Write ``values`` atomically; False (and no write) when the file already says exactly that."""
    text = "".join(f"# {line}\n" for line in header.splitlines()) + "".join(
        f"{key}={value}\n" for key, value in values.items()
    )
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
