"""The main infrastructure `make local-up` provisions, and the state file it leaves behind."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.contract import EMULATOR_CREDENTIALS, ENV_AWS_REGION, ENV_QUEUE_URL
from core.aws import client, resolve_region
from core.errors import KitError, ProvisionError
from core.provisioners import get_provisioner
from core.stack import StackHandle, StackSpec
from core.terraform.mirror import find_provider_mirror

log = logging.getLogger(__name__)

MAIN_MAX_RECEIVE_COUNT = 5
STATE_FILE = "emulator.json"
PID_FILE = "emulator.pid"


def main_spec(prefix: str) -> StackSpec:
    """The main stack: queue + DLQ (maxReceiveCount 5) + the status and completed tables."""
    return StackSpec(prefix=prefix, max_receive_count=MAIN_MAX_RECEIVE_COUNT)


# -- provisioning ---------------------------------------------------------------------------------


def terraform_ready() -> tuple[bool, str]:
    """Whether the Terraform path can run here, and if not, why (one line)."""
    if shutil.which("terraform") is None:
        return False, "terraform is not on PATH"
    mirror = find_provider_mirror()
    if mirror is None:
        return False, "no filesystem mirror of hashicorp/aws found (set TF_PLUGIN_DIR)"
    return True, f"terraform with the provider mirror at {mirror}"


def find_existing(
    spec: StackSpec, endpoint: str | None, region: str | None = None
) -> StackHandle | None:
    """The stack named by ``spec`` when all four resources exist already, else None."""
    sqs = client("sqs", endpoint_url=endpoint, region=region)
    ddb = client("dynamodb", endpoint_url=endpoint, region=region)
    try:
        queue_url = sqs.get_queue_url(QueueName=spec.queue_name)["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=spec.dlq_name)["QueueUrl"]
        for table in (spec.status_table, spec.completed_table):
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
        endpoint_url=endpoint,
        provisioner="existing",
    )


@dataclass(frozen=True)
class Provisioned:
    handle: StackHandle
    how: str  # what was done, for the user


def provision_main(
    prefix: str, endpoint: str | None, *, provisioner: str = "auto", region: str | None = None
) -> Provisioned:
    """Create the main stack (idempotent: an existing one is reused as it is)."""
    spec = main_spec(prefix)
    existing = find_existing(spec, endpoint, region)
    if existing is not None:
        return Provisioned(existing, f"stack {prefix!r} already exists; reused it")
    notes: list[str] = []
    if provisioner in {"auto", "terraform"}:
        ok, why = terraform_ready()
        if ok:
            try:
                handle = get_provisioner(
                    "terraform", endpoint_url=endpoint, region=region
                ).provision(spec)
                return Provisioned(handle, f"provisioned with {why}")
            except (KitError, OSError) as exc:
                if provisioner == "terraform":
                    raise
                notes.append(f"terraform failed ({exc}); used the API provisioner")
        elif provisioner == "terraform":
            raise ProvisionError(f"SQSKIT_PROVISIONER=terraform, but {why}")
        else:
            notes.append(f"not using terraform: {why}; used the API provisioner")
    handle = get_provisioner("api", endpoint_url=endpoint, region=region).provision(spec)
    return Provisioned(handle, "; ".join(notes) or "provisioned with the API provisioner")


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def write_state(state_dir: Path, state: LocalState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).write_text(state.to_json() + "\n")
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
