"""Targets: `local` (emulator + local consumers) and `aws` (Terraform + ECS Fargate).

``--target aws --emulator ministack|auto`` is the aws target rehearsed on this machine
(``scenarios.targets.rehearsal``).
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError
from scenarios.settings import RunSettings
from scenarios.targets.aws import AwsTarget, AwsTargetConfig
from scenarios.targets.base import Target, Workload
from scenarios.targets.local import LocalTarget
from scenarios.targets.rehearsal import RehearsalOptions, RehearsalTarget

__all__ = ["Target", "Workload", "get_target"]


def get_target(settings: RunSettings, *, run_dir: Path) -> Target:
    """Build the target ``settings.target`` names; logs and ledgers go under ``run_dir``."""
    if settings.target == "local":
        return LocalTarget.from_settings(settings, run_dir=run_dir)
    if settings.rehearsal:
        return RehearsalTarget(
            RehearsalOptions(
                emulator=settings.emulator or "auto",
                region=settings.region,
                image_tag=settings.image_tag,
                keep=settings.keep,
                log_dir=run_dir,
                consumer_image=settings.consumer_image,
            )
        )
    if settings.target == "aws":
        provisioner = settings.provisioner or "terraform"
        return AwsTarget(
            AwsTargetConfig(
                region=settings.region,
                endpoint_url=settings.endpoint,
                image_tag=settings.image_tag,
                provisioner=provisioner,
                keep=settings.keep,
                yes=settings.yes,
                # --consumer-image: the task definition runs the user's image (None: the kit's)
                container_image=settings.consumer_image,
            )
        )
    raise ConfigError(f"unknown target {settings.target!r}: choose 'local' or 'aws'")
