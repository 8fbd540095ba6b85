"""The Terraform provisioner: the per-scenario root (``scenarios/terraform``), a workspace per run.

Slower than the API provisioner (the AWS provider waits ~25 s after creating each SQS queue,
and the DLQ must exist before the queue), and exists for fidelity: the stack comes from
``terraform/modules/stack``, the module the main infrastructure uses.

With ``endpoint_url`` set, ``tflocal`` (terraform-local) points the AWS provider at the
emulator; without it, plain ``terraform`` talks to AWS. Each run works in a private copy of
the configuration, while the state stays in the root's ``terraform.tfstate.d/<workspace>``,
so ``terraform workspace list`` there shows every live run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.aws import Endpoints, resolve_region
from core.errors import ConfigError, ProvisionError
from core.provisioners.base import Provisioner
from core.stack import TERRAFORM_MAX_MESSAGE_SIZE_BYTES, StackHandle, StackSpec
from core.terraform import MAIN_STATE, SCENARIO_ROOT
from core.terraform.cli import (
    DEFAULT_PARALLELISM,
    DEFAULT_TIMEOUT_S,
    TerraformCli,
    find_plugin_dir,
    staged_root,
)
from core.terraform.outputs import state_outputs_or_empty

log = logging.getLogger(__name__)

#: hashicorp/aws 5.100 rejects a larger MaximumMessageSize (SQS itself now allows 1 MiB).
PROVIDER_MAX_MESSAGE_SIZE = TERRAFORM_MAX_MESSAGE_SIZE_BYTES
#: Environment overrides (read at call time).
ENV_STATE_DIR = "SQSKIT_TF_STATE_DIR"
ENV_TIMEOUT = "SQSKIT_TF_TIMEOUT"


def _timeout_from_env() -> float:
    raw = os.environ.get(ENV_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 10 <= value <= 7200:
        raise ConfigError(f"{ENV_TIMEOUT}={raw!r} is out of range: allowed 10..7200 seconds")
    return value


class TerraformProvisioner(Provisioner):
    """Applies ``scenarios/terraform`` in a workspace named after the stack prefix."""

    name = "terraform"

    def __init__(
        self,
        *,
        endpoint_url: str | Endpoints | None,
        region: str | None = None,
        root: Path | None = None,
        state_dir: Path | None = None,
        variables: Mapping[str, Any] | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(variables=variables)
        if isinstance(endpoint_url, Endpoints):
            if endpoint_url.split:
                # The per-scenario root also declares IAM and ECS resources, which the SQS
                # emulator of a split (LocalStack on the host) does not serve.
                raise ConfigError(
                    "--provisioner terraform does not support per-service endpoints "
                    f"({_describe(endpoint_url)}): use --provisioner api"
                )
            endpoint_url = endpoint_url.default
        self.endpoint_url = endpoint_url
        self.region = resolve_region(region)
        self.root = (root or SCENARIO_ROOT).resolve()
        env_state = os.environ.get(ENV_STATE_DIR, "").strip()
        self.state_dir = (
            state_dir or (Path(env_state) if env_state else self.root / "terraform.tfstate.d")
        ).resolve()
        if not 1 <= parallelism <= 64:
            raise ConfigError(f"parallelism={parallelism} is out of range: allowed 1..64")
        self.parallelism = parallelism
        self.timeout_s = timeout_s if timeout_s is not None else _timeout_from_env()
        self._outputs: dict[str, dict[str, Any]] = {}

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def workspace_for(prefix: str) -> str:
        """The workspace of the run whose stack prefix is ``prefix`` (the prefix itself)."""
        return prefix

    def tfvars(self, spec: StackSpec) -> dict[str, Any]:
        """The root's variables for ``spec``; extra ``variables`` win."""
        size = spec.max_message_size
        if size > PROVIDER_MAX_MESSAGE_SIZE:
            log.warning(
                "terraform.max_message_size_capped",
                extra={"requested": size, "used": PROVIDER_MAX_MESSAGE_SIZE},
            )
            size = PROVIDER_MAX_MESSAGE_SIZE
        values: dict[str, Any] = {
            "prefix": spec.prefix,
            "region": self.region,
            "visibility_timeout": spec.visibility_timeout,
            "receive_wait": spec.receive_wait,
            "max_receive_count": spec.max_receive_count,
            "message_retention": spec.message_retention,
            "dlq_retention": spec.dlq_retention,
            "max_message_size": size,
            "ttl_attribute": spec.ttl_attribute,
            "point_in_time_recovery": spec.point_in_time_recovery,
            "fifo": spec.fifo,
            "content_based_deduplication": spec.content_based_deduplication,
            "deduplication_scope": spec.deduplication_scope,
            "fifo_throughput_limit": spec.fifo_throughput_limit,
            "tags": dict(spec.tags),
        }
        if self.endpoint_url is None and MAIN_STATE.is_file():
            # On AWS the stack joins the main infrastructure (cluster, subnets, image).
            values["main_state_path"] = str(MAIN_STATE)
        values.update(self.variables)
        return values

    def _var_file(self, workspace: str) -> Path:
        return self.state_dir / workspace / "sqskit.tfvars.json"

    def _cli(self, workdir: Path) -> TerraformCli:
        return TerraformCli(
            workdir=workdir,
            endpoint_url=self.endpoint_url,
            region=self.region,
            plugin_dir=find_plugin_dir(),
            timeout_s=self.timeout_s,
        )

    @contextmanager
    def _workspace(self, workspace: str, *, create: bool) -> Iterator[TerraformCli]:
        with staged_root(self.root, prefix=workspace) as workdir:
            cli = self._cli(workdir)
            cli.init({"workspace_dir": str(self.state_dir)})
            cli.select_workspace(workspace, create=create)
            yield cli

    def handle_from_outputs(self, outputs: Mapping[str, Any], prefix: str) -> StackHandle:
        """The StackHandle described by the root's outputs."""
        try:
            return StackHandle(
                prefix=prefix,
                region=str(outputs.get("region") or self.region),
                queue_url=str(outputs["queue_url"]),
                queue_arn=str(outputs["queue_arn"]),
                dlq_url=str(outputs["dlq_url"]),
                dlq_arn=str(outputs["dlq_arn"]),
                status_table=str(outputs["status_table"]),
                completed_table=str(outputs["completed_table"]),
                # null-safe: a state applied before the stack had an effects table
                effects_table=str(outputs["effects_table"])
                if outputs.get("effects_table")
                else None,
                endpoint_url=self.endpoint_url,
                provisioner=self.name,
            )
        except KeyError as exc:
            raise ProvisionError(
                f"terraform outputs for {prefix!r} lack {exc.args[0]!r}; is {self.root} the "
                "sqs-kit per-scenario root?"
            ) from exc

    # -- Provisioner -------------------------------------------------------------------------

    def _create(self, spec: StackSpec) -> StackHandle:
        workspace = self.workspace_for(spec.prefix)
        var_file = self._var_file(workspace)
        with self._workspace(workspace, create=True) as cli:
            var_file.parent.mkdir(parents=True, exist_ok=True)
            var_file.write_text(json.dumps(self.tfvars(spec), indent=2) + "\n")
            try:
                cli.apply(var_file, parallelism=self.parallelism)
            except ProvisionError:
                self._destroy_quietly(cli, workspace, var_file)
                raise
            outputs = self._state_outputs(workspace) or cli.outputs()
        self._outputs[spec.prefix] = outputs
        log.info("terraform.stack_created", extra={"prefix": spec.prefix, "workspace": workspace})
        return self.handle_from_outputs(outputs, spec.prefix)

    def _delete(self, handle: StackHandle) -> None:
        workspace = self.workspace_for(handle.prefix)
        if not (self.state_dir / workspace).is_dir():
            log.info("terraform.workspace_missing", extra={"workspace": workspace})
            return
        var_file = self._var_file(workspace)
        if not var_file.is_file():
            var_file.write_text(json.dumps({"prefix": handle.prefix, "region": handle.region}))
        with self._workspace(workspace, create=False) as cli:
            cli.destroy(var_file, parallelism=self.parallelism)
            cli.delete_workspace(workspace)
        self._outputs.pop(handle.prefix, None)

    def _destroy_quietly(self, cli: TerraformCli, workspace: str, var_file: Path) -> None:
        """After a failed apply: remove what was created, keep the state if that fails too."""
        try:
            cli.destroy(var_file, parallelism=self.parallelism)
            cli.delete_workspace(workspace)
        except ProvisionError as exc:
            log.error(
                "terraform.cleanup_failed",
                extra={"workspace": workspace, "error": str(exc)[-500:]},
            )

    def _state_outputs(self, workspace: str) -> dict[str, Any]:
        """Outputs straight from the workspace's state file (saves a terraform call)."""
        return state_outputs_or_empty(self.state_dir / workspace / "terraform.tfstate")

    def outputs(self, handle: StackHandle) -> dict[str, Any]:
        """Every output of the stack's workspace (the aws target reads cluster, subnets...)."""
        cached = self._outputs.get(handle.prefix)
        if cached is not None:
            return dict(cached)
        outputs = self._state_outputs(self.workspace_for(handle.prefix))
        if not outputs:
            raise ProvisionError(f"no terraform state for stack {handle.prefix!r}")
        self._outputs[handle.prefix] = outputs
        return dict(outputs)

    def workspaces(self) -> list[str]:
        """Workspaces with state under ``state_dir`` (live or leftover runs)."""
        if not self.state_dir.is_dir():
            return []
        return sorted(p.name for p in self.state_dir.iterdir() if p.is_dir())


def _describe(endpoints: Endpoints) -> str:
    return ", ".join(f"{service}={url}" for service, url in endpoints.by_service().items())
