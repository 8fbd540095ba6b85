"""Terraform plumbing: where the roots are, the CLI wrapper, the provider mirror, the outputs."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The main infrastructure, its reusable stack module, and the per-scenario root.
MAIN_ROOT = REPO_ROOT / "terraform"
MODULES_DIR = MAIN_ROOT / "modules"
SCENARIO_ROOT = REPO_ROOT / "scenarios" / "terraform"
MAIN_STATE = MAIN_ROOT / "terraform.tfstate"
