"""Write the repository's ``.env`` from the main infrastructure's Terraform outputs.

The offline provider mirror holds only hashicorp/aws, so Terraform cannot write the file itself
(no hashicorp/local); run this right after ``apply``::

    terraform -chdir=terraform apply && python -m scenarios.tfenv
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -m scenarios.tfenv   # after tflocal apply

It reads ``terraform/terraform.tfstate`` directly (no terraform binary needed), or the output of
``terraform output -json`` given with ``--outputs FILE`` (``-`` for stdin).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenarios.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
MAIN_STATE = REPO_ROOT / "terraform" / "terraform.tfstate"

#: The keys the seed's `.env` carries, in the order they are written.
DOTENV_KEYS = (
    "QUEUE_URL",
    "DLQ_ARN",
    "ECR_REPO",
    "AWS_REGION",
    "MESSAGE_STATUS_TABLE",
    "MESSAGE_COMPLETED_TABLE",
)


def plain_outputs(data: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs as plain values, from ``terraform output -json`` or a state file's ``outputs``."""
    if "outputs" in data and isinstance(data["outputs"], Mapping):
        data = data["outputs"]
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and "value" in value:
            out[key] = value["value"]
        else:
            out[key] = value
    return out


def read_state_outputs(state_file: Path) -> dict[str, Any]:
    """The outputs recorded in a local state file."""
    if not state_file.is_file():
        raise ConfigError(
            f"no Terraform state at {state_file}: apply the main infrastructure first "
            "(terraform -chdir=terraform apply, or tflocal for an emulator)"
        )
    try:
        data = json.loads(state_file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{state_file} is not a Terraform state file: {exc}") from exc
    outputs = plain_outputs(data)
    if not outputs:
        raise ConfigError(f"{state_file} has no outputs: was the apply complete?")
    return outputs


def dotenv_values(outputs: Mapping[str, Any], *, endpoint_url: str | None = None) -> dict[str, str]:
    """The ``.env`` keys from the main infrastructure's outputs (its ``dotenv`` output)."""
    values = outputs.get("dotenv")
    if not isinstance(values, Mapping):
        values = {
            "QUEUE_URL": outputs.get("queue_url"),
            "DLQ_ARN": outputs.get("dlq_arn"),
            "ECR_REPO": outputs.get("ecr_repository_url"),
            "AWS_REGION": outputs.get("aws_region"),
            "MESSAGE_STATUS_TABLE": outputs.get("message_status_table"),
            "MESSAGE_COMPLETED_TABLE": outputs.get("message_completed_table"),
        }
    missing = [k for k in DOTENV_KEYS if not values.get(k)]
    if missing:
        raise ConfigError(f"the Terraform outputs lack {', '.join(missing)}")
    env = {k: str(values[k]) for k in DOTENV_KEYS}
    if outputs.get("dlq_url"):
        env["DLQ_URL"] = str(outputs["dlq_url"])
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def dotenv_text(values: Mapping[str, str]) -> str:
    header = "# Written by `python -m scenarios.tfenv` from the Terraform outputs.\n"
    return header + "".join(f"{k}={v}\n" for k, v in values.items())


def write_env(
    outputs: Mapping[str, Any], path: Path, *, endpoint_url: str | None = None
) -> dict[str, str]:
    """Write ``path`` atomically; returns the values written."""
    values = dotenv_values(outputs, endpoint_url=endpoint_url)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dotenv_text(values))
    tmp.replace(path)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scenarios.tfenv",
        description="Write .env from the main infrastructure's Terraform outputs.",
    )
    parser.add_argument("--state", type=Path, default=MAIN_STATE, help="local state file")
    parser.add_argument(
        "--outputs", default=None, help="a `terraform output -json` file instead ('-' = stdin)"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / ".env", help=".env path")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="add AWS_ENDPOINT_URL (an emulator) [env AWS_ENDPOINT_URL]",
    )
    args = parser.parse_args(argv)
    try:
        if args.outputs:
            text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text()
            outputs = plain_outputs(json.loads(text))
        else:
            outputs = read_state_outputs(args.state)
        values = write_env(outputs, args.output, endpoint_url=args.endpoint_url)
    except (ConfigError, OSError, json.JSONDecodeError) as exc:
        sys.stderr.write(f"tfenv: {exc}\n")
        return 2
    sys.stdout.write(f"wrote {args.output} ({', '.join(values)})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
