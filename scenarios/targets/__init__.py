"""Targets: `local` (emulator + local consumers) and `aws` (Terraform + ECS Fargate)."""

from scenarios.targets.base import Target

__all__ = ["Target"]
