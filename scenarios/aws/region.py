"""One region for a whole aws-target run: the stack, the tasks, their logs and `scenario cleanup`.

The main infrastructure (the cluster, the subnets, the log group) exists in exactly one region,
so when its outputs are known they decide: a run's workspace, its RunTask calls, the task's
``awslogs-region`` and a cleanup all follow them. Without them the SDK's own resolution applies
(:func:`core.aws.region_choice`). A region the user set explicitly (``--region``,
``AWS_REGION``, ``AWS_DEFAULT_REGION``) that disagrees with the main infrastructure is refused:
a stack in another region than its cluster fails later with ClusterNotFoundException. A
profile's default region is only a default, and yields to the main infrastructure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.aws import SOURCE_EXPLICIT, RegionChoice, region_choice
from core.errors import ConfigError
from core.terraform import MAIN_STATE
from core.terraform.outputs import read_outputs_file, state_outputs_or_empty

#: the main infrastructure's output naming its region (terraform/outputs.tf)
MAIN_REGION_OUTPUT = "aws_region"
#: a ``terraform output -json`` file of the main infrastructure (also read by the aws target)
ENV_MAIN_OUTPUTS = "SQSKIT_AWS_MAIN_OUTPUTS"
SOURCE_MAIN = f"the main infrastructure's outputs ({MAIN_REGION_OUTPUT})"


def main_region(outputs: Mapping[str, Any]) -> str | None:
    """The region the main infrastructure's outputs name, if they name one."""
    value = outputs.get(MAIN_REGION_OUTPUT)
    return str(value) if value else None


def run_region(
    explicit: str | None,
    main_outputs: Mapping[str, Any] | None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RegionChoice:
    """The run's region: the main infrastructure's when known, else the SDK's resolution.

    Raises ConfigError (one line) when a region the user chose disagrees with the main
    infrastructure's.
    """
    sdk = region_choice(explicit, profile=profile, environ=environ)
    main = main_region(main_outputs or {})
    if main is None:
        return sdk
    if sdk.chosen and sdk.region != main:
        fix = f"pass --region {main}" if sdk.source == SOURCE_EXPLICIT else f"unset {sdk.source}"
        raise ConfigError(
            f"region mismatch: {sdk.source} says {sdk.region}, but the main infrastructure "
            f"(cluster, subnets, log group) is in {main}: {fix}"
        )
    return RegionChoice(main, SOURCE_MAIN)


def describes_aws(outputs: Mapping[str, Any]) -> bool:
    """True when outputs belong to a deployment on AWS (its queue URL is an AWS endpoint)."""
    host = urlparse(str(outputs.get("queue_url") or "")).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def known_main_outputs(
    *,
    endpoint_url: str | None,
    environ: Mapping[str, str] | None = None,
    state_file: Path = MAIN_STATE,
) -> dict[str, Any]:
    """The main infrastructure's outputs when they can be read without running Terraform.

    ``SQSKIT_AWS_MAIN_OUTPUTS`` first; then, for AWS itself (no ``endpoint_url``), the local
    state of ``terraform/`` when it describes a deployment on AWS (``make local-up`` may have
    left an emulator's state there). ``{}`` when neither says anything.
    """
    env = os.environ if environ is None else environ
    path = env.get(ENV_MAIN_OUTPUTS, "").strip()
    if path:
        try:
            return read_outputs_file(Path(path))
        except ConfigError as exc:
            raise ConfigError(f"{ENV_MAIN_OUTPUTS}={path}: {exc}") from exc
    if endpoint_url:
        return {}
    outputs = state_outputs_or_empty(state_file)
    return outputs if describes_aws(outputs) else {}
