"""The Terraform provisioner: the per-scenario root (``scenarios/terraform``), a workspace per run.

Slower than the API provisioner (the AWS provider waits ~25 s after creating each SQS queue,
and the DLQ must exist before the queue), and exists for fidelity: the stack comes from
``terraform/modules/stack``, the module the main infrastructure uses.

With ``endpoint_url`` set, ``tflocal`` (terraform-local) points the AWS provider at the
emulator; without it, plain ``terraform`` talks to AWS. Each run works in a private copy of
the configuration (tflocal writes a provider override file into the working directory, and
concurrent runs must not share it), while the state stays in the root's
``terraform.tfstate.d/<workspace>``, so ``terraform workspace list`` there shows every live run.
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

from scenarios.aws import resolve_region
from scenarios.errors import ConfigError, ProvisionError
from scenarios.provisioners.base import Provisioner
from scenarios.stack import TERRAFORM_MAX_MESSAGE_SIZE_BYTES, StackHandle, StackSpec

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The per-scenario root and the main infrastructure, as laid out in the repository.
SCENARIO_ROOT = REPO_ROOT / "scenarios" / "terraform"
MAIN_ROOT = REPO_ROOT / "terraform"
MODULES_DIR = REPO_ROOT / "terraform" / "modules"

#: hashicorp/aws 5.100 rejects a larger MaximumMessageSize (SQS itself now allows 1 MiB).
PROVIDER_MAX_MESSAGE_SIZE = TERRAFORM_MAX_MESSAGE_SIZE_BYTES
DEFAULT_TIMEOUT_S = 900.0
DEFAULT_PARALLELISM = 10
#: Environment overrides (read at call time).
ENV_STATE_DIR = "SQSKIT_TF_STATE_DIR"
ENV_TIMEOUT = "SQSKIT_TF_TIMEOUT"
_OUTPUT_TAIL_CHARS = 2000


def tool_path(name: str) -> str | None:
    """``terraform`` or ``tflocal``: the venv's copy first (tflocal is a console script)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


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


# -- one terraform working directory ----------------------------------------------------------


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
            env["AWS_REGION"] = self.region
            env["AWS_DEFAULT_REGION"] = self.region
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
            env.setdefault("AWS_ACCESS_KEY_ID", "test")
            env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
            env.pop("AWS_PROFILE", None)
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
        args = ["init", "-input=false", "-no-color"]
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
        start = raw.find("{")
        try:
            data = json.loads(raw[start:]) if start >= 0 else {}
        except json.JSONDecodeError as exc:
            raise ProvisionError(f"unreadable `terraform output -json`: {raw[:300]}") from exc
        return {k: v.get("value") for k, v in data.items() if isinstance(v, dict)}


def copy_config(source: Path, dest: Path, *, include_modules: bool = True) -> Path:
    """Copy a root's ``*.tf`` (and ``terraform/modules``) into ``dest``, keeping relative paths.

    Returns the copied root's directory. Only configuration is copied: never state, lock
    files or ``.terraform``.
    """
    rel = source.resolve().relative_to(REPO_ROOT)
    target = dest / rel
    target.mkdir(parents=True, exist_ok=True)
    for tf in sorted(source.glob("*.tf")):
        if tf.name.endswith("_override.tf"):
            continue  # a leftover tflocal override must not leak into another run
        shutil.copy2(tf, target / tf.name)
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
    from local.tfmirror import find_provider_mirror

    return find_provider_mirror()


# -- the provisioner ---------------------------------------------------------------------------


class TerraformProvisioner(Provisioner):
    """Applies ``scenarios/terraform`` in a workspace named after the stack prefix."""

    name = "terraform"

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        region: str | None = None,
        root: Path | None = None,
        state_dir: Path | None = None,
        variables: Mapping[str, Any] | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
        timeout_s: float | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = resolve_region(region)
        self.root = (root or SCENARIO_ROOT).resolve()
        env_state = os.environ.get(ENV_STATE_DIR, "").strip()
        self.state_dir = (
            state_dir or (Path(env_state) if env_state else self.root / "terraform.tfstate.d")
        ).resolve()
        #: Extra Terraform variables (the aws target adds ``container_image_tag`` here).
        self.variables: dict[str, Any] = dict(variables or {})
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
            "tags": dict(spec.tags),
        }
        main_state = MAIN_ROOT / "terraform.tfstate"
        if self.endpoint_url is None and main_state.is_file():
            # On AWS the stack joins the main infrastructure (cluster, subnets, image).
            values["main_state_path"] = str(main_state)
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
        from scenarios.tfenv import plain_outputs

        path = self.state_dir / workspace / "terraform.tfstate"
        try:
            return plain_outputs(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

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
        from scenarios.tfenv import read_state_outputs

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


def tf_vars_args(variables: Mapping[str, Any]) -> list[str]:
    """``-var`` arguments: strings and numbers as they are, anything else as JSON/HCL."""
    out = []
    for key, value in variables.items():
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(f"-var={key}={text}")
    return out
