"""The main infrastructure (``terraform/``): applied, read and destroyed as one root."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.aws import resolve_region
from core.terraform import MAIN_ROOT
from core.terraform.cli import (
    DEFAULT_PARALLELISM,
    DEFAULT_TIMEOUT_S,
    TerraformCli,
    find_plugin_dir,
    tf_vars_args,
)
from core.terraform.outputs import read_state_outputs


class MainInfrastructure:
    """``terraform/`` (VPC, ECR, ECS, logs, IAM and the stack module), applied and destroyed.

    ``workdir=None`` works in ``terraform/`` itself, so the state is ``terraform/terraform.tfstate``
    (what ``scenario validate --main`` and ``python -m scenarios.tfenv`` read). Tests and the
    benchmark pass a private copy made with ``copy_config``.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        region: str | None = None,
        variables: Mapping[str, Any] | None = None,
        workdir: Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.variables: dict[str, Any] = dict(variables or {})
        self.region = str(self.variables.get("aws_region") or resolve_region(region))
        self.variables.setdefault("aws_region", self.region)
        self.workdir = (workdir or MAIN_ROOT).resolve()
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
        return self.workdir / "terraform.tfstate"

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
            *tf_vars_args(self.variables),
        )
