"""Private copies of the Terraform roots for static tests: configuration, lock file, test files.

``copy_config`` (the provisioner's) copies ``*.tf`` and the committed ``.terraform.lock.hcl``;
these tests also need each root's ``tests/*.tftest.hcl``, and some a copy without the lock.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.terraform import MAIN_ROOT, SCENARIO_ROOT
from core.terraform.cli import TerraformCli, copy_config
from tests.terraform.conftest import REPO_ROOT

LOCK_FILE = ".terraform.lock.hcl"
#: The two roots a user applies (the module is not a root: it has no lock file).
ROOTS = [MAIN_ROOT, SCENARIO_ROOT]


def root_id(root: Path) -> str:
    return str(root.relative_to(REPO_ROOT))


def stage(root: Path, dest: Path, *, lock: bool = True, tests: bool = False) -> Path:
    """Copy ``root`` (and the stack module) under ``dest``; return the copied root."""
    workdir = copy_config(root, dest)
    if not lock:
        (workdir / LOCK_FILE).unlink(missing_ok=True)
    if tests and (root / "tests").is_dir():
        shutil.copytree(root / "tests", workdir / "tests", dirs_exist_ok=True)
    return workdir


def init(workdir: Path, plugin_dir: Path | None, *extra: str) -> TerraformCli:
    """``terraform init -backend=false`` from the mirror; returns the CLI bound to ``workdir``."""
    cli = TerraformCli(workdir=workdir, plugin_dir=plugin_dir, timeout_s=300)
    args = ["init", "-backend=false", "-input=false", "-no-color", *extra]
    if plugin_dir is not None:
        args.append(f"-plugin-dir={plugin_dir}")
    cli.run(*args, local=False)
    return cli
