"""Runs terraform (or tflocal, for an emulator) in one working directory, on a private copy.

Each run works in a private copy of a root's configuration (tflocal writes a provider override
file into the working directory, and concurrent runs must not share it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.contract import ENV_AWS_DEFAULT_REGION, ENV_AWS_ENDPOINT_URL, ENV_AWS_REGION
from core.aws import with_emulator_credentials
from core.errors import ConfigError, ProvisionError
from core.terraform import MODULES_DIR, REPO_ROOT
from core.terraform.mirror import find_provider_mirror
from core.terraform.outputs import parse_outputs

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 900.0
DEFAULT_PARALLELISM = 10
_OUTPUT_TAIL_CHARS = 2000
#: the dependency lock file each root commits (the provider version and its checksums)
LOCK_FILE = ".terraform.lock.hcl"


def tool_path(name: str) -> str | None:
    """``terraform`` or ``tflocal``: the venv's copy first (tflocal is a console script)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@dataclass
class TerraformCli:
    """Runs terraform (or tflocal, for an emulator) in one working directory."""

    workdir: Path
    endpoint_url: str | None = None
    region: str | None = None
    plugin_dir: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def uses_tflocal(self) -> bool:
        return bool(self.endpoint_url)

    def binary(self, *, local: bool | None = None) -> str:
        name = "tflocal" if (self.uses_tflocal if local is None else local) else "terraform"
        found = tool_path(name)
        if found is None:
            hint = (
                "pip install terraform-local (the kit extra)"
                if name == "tflocal"
                else "install terraform >= 1.5"
            )
            raise ProvisionError(f"{name} is not on PATH: {hint}")
        return found

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
                "DISABLE_DEPRECATION_NOTICE": "1",  # tflocal's banner
            }
        )
        # The working directory selects the workspace; an inherited TF_WORKSPACE would not.
        env.pop("TF_WORKSPACE", None)
        cli_config = env.get("TF_CLI_CONFIG_FILE")
        if cli_config and not Path(cli_config).is_file():
            env.pop("TF_CLI_CONFIG_FILE")  # terraform warns on every call otherwise
        if self.region:
            env[ENV_AWS_REGION] = self.region
            env[ENV_AWS_DEFAULT_REGION] = self.region
        if self.endpoint_url:
            env[ENV_AWS_ENDPOINT_URL] = self.endpoint_url
            env.pop("AWS_PROFILE", None)
            env = with_emulator_credentials(env)
        env.update(self.extra_env)
        return env

    def run(self, *args: str, local: bool | None = None, check: bool = True) -> str:
        """Run one command; its combined output, or ProvisionError with the output's tail."""
        cmd = [self.binary(local=local), *args]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.workdir,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ProvisionError(
                f"`{' '.join(['terraform', *args[:1]])}` timed out after {self.timeout_s:.0f} s "
                f"in {self.workdir}"
            ) from exc
        output = (proc.stdout or "") + (proc.stderr or "")
        log.info(
            "terraform.command",
            extra={
                "command": " ".join(args[:2]),
                "rc": proc.returncode,
                "elapsed_s": round(time.monotonic() - started, 2),
                "workdir": str(self.workdir),
            },
        )
        if check and proc.returncode != 0:
            raise ProvisionError(
                f"`terraform {' '.join(args[:1])}` failed (exit {proc.returncode}) in "
                f"{self.workdir}:\n{output[-_OUTPUT_TAIL_CHARS:].strip()}"
            )
        return output

    def init(self, backend_config: Mapping[str, str] | None = None) -> None:
        """``terraform init``; with a lock file, the locked provider or nothing (no upgrade)."""
        args = ["init", "-input=false", "-no-color"]
        if (self.workdir / LOCK_FILE).is_file():
            # A run must use the committed provider, never re-resolve it (a 6.x could slip in).
            args.append("-lockfile=readonly")
        if self.plugin_dir is not None:
            args.append(f"-plugin-dir={self.plugin_dir}")
        for key, value in (backend_config or {}).items():
            args.append(f"-backend-config={key}={value}")
        self.run(*args)

    def select_workspace(self, name: str, *, create: bool) -> None:
        args = ["workspace", "select", "-no-color"]
        if create:
            args.append("-or-create=true")
        self.run(*args, name, local=False)

    def delete_workspace(self, name: str) -> None:
        self.run("workspace", "select", "-no-color", "default", local=False)
        self.run("workspace", "delete", "-no-color", name, local=False)

    def apply(
        self, var_file: Path | None = None, *, parallelism: int = DEFAULT_PARALLELISM
    ) -> None:
        args = [
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            f"-parallelism={parallelism}",
        ]
        if var_file is not None:
            args.append(f"-var-file={var_file}")
        self.run(*args)

    def destroy(
        self, var_file: Path | None = None, *, parallelism: int = DEFAULT_PARALLELISM
    ) -> None:
        args = [
            "destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            f"-parallelism={parallelism}",
        ]
        if var_file is not None:
            args.append(f"-var-file={var_file}")
        self.run(*args)

    def outputs(self) -> dict[str, Any]:
        """``terraform output -json`` as plain values (``{"queue_url": "http://..."}``)."""
        raw = self.run("output", "-json", "-no-color", local=False)
        try:
            return parse_outputs(raw, source=f"`terraform output -json` in {self.workdir}")
        except ConfigError as exc:
            raise ProvisionError(f"unreadable `terraform output -json`: {raw[:300]}") from exc


def copy_config(source: Path, dest: Path, *, include_modules: bool = True) -> Path:
    """Copy a root's ``*.tf``, its lock file (and ``terraform/modules``) into ``dest``.

    Relative paths are kept. Returns the copied root's directory. Only configuration and the
    dependency lock file are copied: never state or ``.terraform``.
    """
    rel = source.resolve().relative_to(REPO_ROOT)
    target = dest / rel
    target.mkdir(parents=True, exist_ok=True)
    for tf in sorted(source.glob("*.tf")):
        if tf.name.endswith("_override.tf"):
            continue  # a leftover tflocal override must not leak into another run
        shutil.copy2(tf, target / tf.name)
    lock = source / LOCK_FILE
    if lock.is_file():
        shutil.copy2(lock, target / LOCK_FILE)
    if include_modules:
        shutil.copytree(
            MODULES_DIR,
            dest / MODULES_DIR.relative_to(REPO_ROOT),
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*_override.tf"),
            dirs_exist_ok=True,
        )
    return target


@contextmanager
def staged_root(source: Path, *, prefix: str) -> Iterator[Path]:
    """A private copy of ``source`` in a temporary directory, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f"sqskit-tf-{prefix}-"))
    try:
        yield copy_config(source, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def find_plugin_dir() -> Path | None:
    """The provider mirror ``terraform init -plugin-dir`` installs from, when there is one."""
    return find_provider_mirror()


def tf_vars_args(variables: Mapping[str, Any]) -> list[str]:
    """``-var`` arguments: strings and numbers as they are, anything else as JSON/HCL."""
    out = []
    for key, value in variables.items():
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(f"-var={key}={text}")
    return out
