"""Targets: `local` (emulator + local consumers) and `aws` (Terraform + ECS Fargate)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scenarios.targets.base import Target

if TYPE_CHECKING:
    from scenarios.settings import RunSettings

__all__ = ["Target", "get_target"]


def get_target(settings: RunSettings, *, run_dir: Path) -> Target:
    """Build the target ``settings.target`` names; logs and ledgers go under ``run_dir``."""
    from core.errors import ConfigError

    if settings.target == "local":
        from scenarios.targets.local import LocalTarget

        return LocalTarget.from_settings(settings, run_dir=run_dir)
    if settings.target == "aws":
        from scenarios.targets.aws import AwsTarget, AwsTargetConfig

        provisioner = settings.provisioner or "terraform"
        return AwsTarget(
            AwsTargetConfig(
                region=settings.region,
                endpoint_url=settings.endpoint,
                image_tag=settings.image_tag,
                provisioner=provisioner,
                keep=settings.keep,
            )
        )
    raise ConfigError(f"unknown target {settings.target!r}: choose 'local' or 'aws'")
