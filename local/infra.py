"""The main infrastructure `make local-up` provisions, and the state file it leaves behind.

By default that is the same ``terraform/`` root AWS uses, applied through tflocal with
``desired_count=0`` (the local runners run the consumers, so no image is needed), its state
kept where ``terraform -chdir=terraform`` finds it. Terraform stays off the critical path of a
repeated ``up``: while the emulator lives and the state's resources answer there, the apply is
skipped. ``SQSKIT_PROVISIONER=api`` is the opt-in fast path without Terraform (queue, DLQ and
tables only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from consumer.contract import EMULATOR_CREDENTIALS, ENV_AWS_REGION, ENV_QUEUE_URL
from core.aws import client, resolve_region
from core.dotenv import main_dotenv
from core.errors import ProvisionError
from core.provisioners import get_provisioner
from core.stack import StackHandle, StackSpec
from core.terraform import MAIN_ROOT
from core.terraform.cli import copy_config, tool_path
from core.terraform.main_infra import MainInfrastructure, config_digest
from core.terraform.mirror import find_provider_mirror
from core.terraform.outputs import state_outputs_or_empty

log = logging.getLogger(__name__)

MAIN_MAX_RECEIVE_COUNT = 5
STATE_FILE = "emulator.json"
PID_FILE = "emulator.pid"
#: The account every emulator reports; a state in any other account is a real deployment.
EMULATOR_ACCOUNT = "000000000000"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
#: The main infrastructure's variables on an emulator: the service exists, runs no task.
LOCAL_MAIN_VARIABLES: Mapping[str, Any] = {"desired_count": 0}
#: What the API fast path leaves out of ``terraform/``, said every time it is used.
FAST_PATH_SKIPS = (
    "skipped terraform/ (VPC, subnets, ECR, ECS cluster and service, log groups, IAM roles); "
    "`terraform -chdir=terraform` and `scenario validate --main` will not see this stack"
)


def main_spec(prefix: str) -> StackSpec:
    """The main stack: queue + DLQ (maxReceiveCount 5) + the status and completed tables."""
    return StackSpec(prefix=prefix, max_receive_count=MAIN_MAX_RECEIVE_COUNT)


# -- the main infrastructure through Terraform -----------------------------------------------------


def terraform_ready() -> tuple[bool, str]:
    """Whether the Terraform path can run here, and if not, why (one line)."""
    if tool_path("terraform") is None:
        return False, "terraform is not on PATH"
    if tool_path("tflocal") is None:
        return False, "tflocal is not installed (pip install terraform-local, in the kit extra)"
    mirror = find_provider_mirror()
    if mirror is None:
        return False, "no filesystem mirror of hashicorp/aws found (set TF_PLUGIN_DIR)"
    return True, f"terraform with the provider mirror at {mirror}"


def is_emulator_deployment(outputs: Mapping[str, Any]) -> bool:
    """True when the outputs name emulator resources (its account, or a loopback queue URL)."""
    arn = str(outputs.get("queue_arn") or outputs.get("dlq_arn") or "")
    host = urllib.parse.urlparse(str(outputs.get("queue_url") or "")).hostname or ""
    return f":{EMULATOR_ACCOUNT}:" in arn or host in _LOOPBACK_HOSTS


def main_answers(
    outputs: Mapping[str, Any], endpoint: str, *, client_factory: Callable[..., Any] = client
) -> tuple[bool, str]:
    """Whether the queue, DLQ, tables and cluster the outputs name exist at ``endpoint``."""
    settings = outputs.get("stack_settings")
    if not isinstance(settings, Mapping) or not outputs.get("cluster_name"):
        return False, "the state has no stack_settings or cluster_name output"
    region = str(outputs.get("aws_region") or resolve_region(None))
    try:
        sqs = client_factory("sqs", endpoint_url=endpoint, region=region)
        for name in (settings["queue_name"], settings["dlq_name"]):
            sqs.get_queue_url(QueueName=str(name))
        ddb = client_factory("dynamodb", endpoint_url=endpoint, region=region)
        for table in (settings["status_table"], settings["completed_table"]):
            ddb.describe_table(TableName=str(table))
        ecs = client_factory("ecs", endpoint_url=endpoint, region=region)
        clusters = ecs.describe_clusters(clusters=[str(outputs["cluster_name"])])["clusters"]
        if not clusters or clusters[0].get("status") != "ACTIVE":
            return False, f"cluster {outputs['cluster_name']} is not ACTIVE"
    except (ClientError, BotoCoreError, KeyError) as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:160]}"
    return True, f"queue, DLQ, tables and cluster answer at {endpoint}"


class MainRoot(Protocol):
    """What local-up needs of ``MainInfrastructure`` (tests pass a fake)."""

    def apply(self) -> dict[str, Any]:
        """Apply; the outputs as plain values."""

    def destroy(self) -> None:
        """Destroy what the state holds."""


@dataclass(frozen=True)
class MainInfra:
    """The main infrastructure after `up`: its outputs, and what was done to get them."""

    outputs: dict[str, Any]
    how: str
    applied: bool
    digest: str
    seconds: float = 0.0


def ensure_main_infrastructure(
    endpoint: str,
    *,
    project: str,
    state_file: Path,
    workdir: Path,
    fresh_emulator: bool,
    applied_digest: str = "",
    region: str | None = None,
    infra_factory: Callable[..., MainRoot] = MainInfrastructure,
    answers: Callable[[Mapping[str, Any], str], tuple[bool, str]] = main_answers,
) -> MainInfra:
    """Apply ``terraform/`` through tflocal into ``endpoint``, unless what it would make is there.

    The apply is skipped when the state's outputs answer at ``endpoint`` and the configuration
    and variables are the ones last applied (``applied_digest``). A state for an emulator that
    is gone (``fresh_emulator``) is moved aside, and a real AWS deployment is never touched.
    """
    variables = {
        **LOCAL_MAIN_VARIABLES,
        "project_name": project,
        "aws_region": resolve_region(region),
    }
    digest = config_digest(variables)
    outputs = state_outputs_or_empty(state_file)
    notes: list[str] = []
    if outputs and not is_emulator_deployment(outputs):
        raise ProvisionError(
            f"{state_file} holds a deployment on AWS (queue {outputs.get('queue_arn')}); "
            "local-up will not apply an emulator over it: destroy it first (make aws-down), or "
            "keep local-up's state elsewhere with SQSKIT_MAIN_STATE=.local/main.tfstate"
        )
    if outputs:
        ok, why = answers(outputs, endpoint)
        if ok and digest == applied_digest:
            return MainInfra(outputs, f"already applied and answering ({why}); skipped terraform",
                             applied=False, digest=digest)  # fmt: skip
        if ok:
            notes.append("terraform/ or its variables differ from what local-up last applied")
        elif fresh_emulator:
            # The emulator this state was applied to is gone with everything in it.
            stale = state_file.with_name(state_file.name + ".stale")
            state_file.replace(stale)
            notes.append(f"the state was for an emulator that is gone; moved it to {stale}")
        else:
            notes.append(f"the state's resources do not all answer ({why}); reconciling")
    ready, why_not = terraform_ready()
    if not ready:
        raise ProvisionError(
            f"local-up applies terraform/ through tflocal, but {why_not}. Or opt into the fast "
            "path without Terraform: SQSKIT_PROVISIONER=api make local-up"
        )
    infra = infra_factory(
        endpoint_url=endpoint,
        variables=variables,
        workdir=copy_config(MAIN_ROOT, workdir),
        state_file=state_file,
    )
    started = time.monotonic()
    applied = infra.apply()
    took = time.monotonic() - started
    notes.append(f"applied terraform/ with tflocal in {took:.0f} s (state {state_file})")
    log.info("local.main_applied", extra={"seconds": round(took, 1), "state": str(state_file)})
    return MainInfra(applied, "; ".join(notes), applied=True, digest=digest, seconds=took)


def forget_main_infrastructure(state_file: Path) -> bool:
    """Remove an emulator deployment's state (and its backup); False for none or a real one."""
    outputs = state_outputs_or_empty(state_file)
    if not outputs or not is_emulator_deployment(outputs):
        return False
    for path in (state_file, state_file.with_name(state_file.name + ".backup")):
        path.unlink(missing_ok=True)
    return True


def destroy_main_infrastructure(
    endpoint: str,
    *,
    state_file: Path,
    workdir: Path,
    infra_factory: Callable[..., MainRoot] = MainInfrastructure,
) -> bool:
    """``tflocal destroy`` of an emulator deployment, then forget its state; False if none."""
    outputs = state_outputs_or_empty(state_file)
    if not outputs or not is_emulator_deployment(outputs):
        return False
    infra = infra_factory(
        endpoint_url=endpoint,
        variables={
            **LOCAL_MAIN_VARIABLES,
            "project_name": str(
                (outputs.get("stack_settings") or {}).get("prefix") or outputs["cluster_name"]
            ),
            "aws_region": str(outputs.get("aws_region") or resolve_region(None)),
        },
        workdir=copy_config(MAIN_ROOT, workdir),
        state_file=state_file,
    )
    infra.destroy()
    return forget_main_infrastructure(state_file)


def local_dotenv(outputs: Mapping[str, Any], endpoint: str) -> dict[str, str]:
    """``.env`` for the seed's commands: the main outputs' keys, the endpoint, dummy keys."""
    return {**main_dotenv(outputs, endpoint_url=endpoint), **EMULATOR_CREDENTIALS}


# -- the opt-in fast path: the API provisioner, no Terraform ---------------------------------------


def find_existing(
    spec: StackSpec, endpoint: str | None, region: str | None = None
) -> StackHandle | None:
    """The stack named by ``spec`` when all its resources exist already, else None."""
    sqs = client("sqs", endpoint_url=endpoint, region=region)
    ddb = client("dynamodb", endpoint_url=endpoint, region=region)
    try:
        queue_url = sqs.get_queue_url(QueueName=spec.queue_name)["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=spec.dlq_name)["QueueUrl"]
        for table in (spec.status_table, spec.completed_table, spec.effects_table):
            ddb.describe_table(TableName=table)
        arns = [
            sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            for u in (queue_url, dlq_url)
        ]
    except ClientError:
        return None
    return StackHandle(
        prefix=spec.prefix,
        region=resolve_region(region),
        queue_url=queue_url,
        queue_arn=arns[0],
        dlq_url=dlq_url,
        dlq_arn=arns[1],
        status_table=spec.status_table,
        completed_table=spec.completed_table,
        effects_table=spec.effects_table,
        endpoint_url=endpoint,
        provisioner="existing",
    )


@dataclass(frozen=True)
class Provisioned:
    handle: StackHandle
    how: str  # what was done, for the user


def provision_main(prefix: str, endpoint: str | None, *, region: str | None = None) -> Provisioned:
    """The fast path: queue, DLQ and tables with the API provisioner (an existing one is reused)."""
    spec = main_spec(prefix)
    existing = find_existing(spec, endpoint, region)
    if existing is not None:
        return Provisioned(
            existing, f"stack {prefix!r} already exists; reused it; {FAST_PATH_SKIPS}"
        )
    handle = get_provisioner("api", endpoint_url=endpoint, region=region).provision(spec)
    return Provisioned(handle, f"created with the API provisioner; {FAST_PATH_SKIPS}")


def dotenv_text(handle: StackHandle) -> str:
    """``.env`` for `python -m consumer` / `produce`: the stack's variables plus dummy keys."""
    extra = "".join(f"{k}={v}\n" for k, v in EMULATOR_CREDENTIALS.items())
    return handle.dotenv() + extra


def queue_depths(handle_env: dict[str, str], endpoint: str) -> dict[str, str]:
    """Visible / in-flight counts of the main queue and its DLQ, best effort."""
    sqs = client("sqs", endpoint_url=endpoint, region=handle_env.get(ENV_AWS_REGION))
    out: dict[str, str] = {}
    for label, url in (
        ("queue", handle_env.get(ENV_QUEUE_URL)),
        ("dlq", handle_env.get("DLQ_URL")),
    ):
        if not url:
            continue
        try:
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
        except (ClientError, BotoCoreError):
            out[label] = "missing"
            continue
        out[label] = (
            f"{attrs.get('ApproximateNumberOfMessages', '?')} visible, "
            f"{attrs.get('ApproximateNumberOfMessagesNotVisible', '?')} in flight"
        )
    return out


# -- state ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalState:
    """What `local up` started, so `down` and `status` can find it."""

    emulator: str
    kind: str  # embedded | compose | external
    endpoint: str
    port: int
    pid: int | None = None
    log_path: str | None = None
    marker: str = ""
    prefix: str = ""
    env_file: str = ""
    #: the main infrastructure's state file, when `up` applied terraform/ (empty: fast path)
    main_state: str = ""
    #: ``config_digest`` of what was applied there (a change makes the next `up` apply again)
    main_digest: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def write_state(state_dir: Path, state: LocalState) -> None:
    """Record ``state`` (and the pidfile); a state that is already recorded is not rewritten."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    text = state.to_json() + "\n"
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    path.write_text(text)
    pidfile = state_dir / PID_FILE
    if state.pid is not None:
        pidfile.write_text(f"{state.pid}\n")
    else:
        pidfile.unlink(missing_ok=True)


def read_state(state_dir: Path) -> LocalState | None:
    try:
        raw: dict[str, Any] = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        raw = {}
    pidfile = state_dir / PID_FILE
    if not raw and not pidfile.exists():
        return None
    if not raw:  # a pidfile alone (written by hand): stop that PID on down
        with contextlib.suppress(OSError, ValueError):
            return LocalState("unknown", "embedded", "", 0, pid=int(pidfile.read_text().strip()))
        return None
    try:
        return LocalState(**raw)
    except TypeError:
        return None


def clear_state(state_dir: Path) -> None:
    for name in (STATE_FILE, PID_FILE):
        (state_dir / name).unlink(missing_ok=True)
