"""The main infrastructure (``terraform/``): applied, read and destroyed as one root."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.aws import resolve_region
from core.terraform import MAIN_ROOT, MAIN_STATE, MODULES_DIR
from core.terraform.cli import (
    DEFAULT_PARALLELISM,
    DEFAULT_TIMEOUT_S,
    TerraformCli,
    find_plugin_dir,
    tf_vars_args,
)
from core.terraform.outputs import read_state_outputs

#: Where the main infrastructure's state is read and written, when not ``terraform/``'s own.
ENV_MAIN_STATE = "SQSKIT_MAIN_STATE"


def main_state_path(environ: Mapping[str, str] | None = None) -> Path:
    """The main state file: ``SQSKIT_MAIN_STATE``, else ``terraform/terraform.tfstate``.

    This is where ``terraform -chdir=terraform`` finds it, and what ``scenario validate --main``,
    ``python -m scenarios.tfenv`` and ``make local-up`` read and write.
    """
    env = os.environ if environ is None else environ
    given = env.get(ENV_MAIN_STATE, "").strip()
    return Path(given).expanduser().resolve() if given else MAIN_STATE


def config_digest(variables: Mapping[str, Any], root: Path = MAIN_ROOT) -> str:
    """A hash of the root's ``*.tf``, the stack module's and ``variables``: what an apply used.

    Equal digests mean an apply would be given the same configuration and values again.
    """
    digest = hashlib.sha256()
    files = sorted(root.glob("*.tf")) + sorted(MODULES_DIR.rglob("*.tf"))
    for path in files:
        if path.name.endswith("_override.tf") or ".terraform" in path.parts:
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(dict(variables), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class MainInfrastructure:
    """``terraform/`` (VPC, ECR, ECS, logs, IAM and the stack module), applied and destroyed.

    ``workdir=None`` works in ``terraform/`` itself, so the state is ``terraform/terraform.tfstate``
    (what ``scenario validate --main`` and ``python -m scenarios.tfenv`` read). Tests and the
    benchmark pass a private copy made with ``copy_config``. ``state_file`` keeps the state
    somewhere else than the working directory: ``make local-up`` applies a private copy (tflocal
    writes an override file into it) while its state stays where ``terraform -chdir=terraform``
    finds it.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        region: str | None = None,
        variables: Mapping[str, Any] | None = None,
        workdir: Path | None = None,
        state_file: Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.variables: dict[str, Any] = dict(variables or {})
        self.region = str(self.variables.get("aws_region") or resolve_region(region))
        self.variables.setdefault("aws_region", self.region)
        self.workdir = (workdir or MAIN_ROOT).resolve()
        self._state_file = state_file.resolve() if state_file is not None else None
        self.cli = TerraformCli(
            workdir=self.workdir,
            endpoint_url=endpoint_url,
            region=self.region,
            plugin_dir=find_plugin_dir(),
            timeout_s=timeout_s,
        )
        self._initialised = False

    @property
    def state_file(self) -> Path:
        """Where this root's state is: the working directory's, or the one given."""
        return self._state_file or self.workdir / "terraform.tfstate"

    @property
    def digest(self) -> str:
        """``config_digest`` of this root with this run's variables."""
        return config_digest(self.variables)

    def _state_args(self) -> list[str]:
        if self._state_file is None:
            return []
        # The local backend's -state flag: read and write the state there, backup beside it.
        return [f"-state={self._state_file}"]

    def init(self) -> None:
        """terraform init (once), from the provider mirror when there is one."""
        if not self._initialised:
            self.cli.init()
            self._initialised = True

    def apply(self, *, parallelism: int = DEFAULT_PARALLELISM) -> dict[str, Any]:
        """Apply and return the outputs (plain values)."""
        self.init()
        self.cli.run(
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            f"-parallelism={parallelism}",
            *self._state_args(),
            *tf_vars_args(self.variables),
        )
        return self.outputs()

    def outputs(self) -> dict[str, Any]:
        """The outputs recorded in this root's state file (plain values)."""
        return read_state_outputs(self.state_file)

    def destroy(self, *, parallelism: int = DEFAULT_PARALLELISM) -> None:
        """Destroy everything in the state; a no-op when nothing was applied."""
        if not self.state_file.is_file():
            return
        self.init()
        self.cli.run(
            "destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            f"-parallelism={parallelism}",
            *self._state_args(),
            *tf_vars_args(self.variables),
        )
