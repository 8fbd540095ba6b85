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
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from consumer.contract import (
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_REGION,
    ENV_EFFECTS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
)
from core.errors import ConfigError
from core.terraform import MAIN_STATE, REPO_ROOT
from core.terraform.outputs import parse_outputs, read_outputs_file, read_state_outputs

#: The keys the seed's `.env` carries, in the order they are written.
DOTENV_KEYS = (
    ENV_QUEUE_URL,
    "DLQ_ARN",
    "ECR_REPO",
    ENV_AWS_REGION,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
)


def dotenv_values(outputs: Mapping[str, Any], *, endpoint_url: str | None = None) -> dict[str, str]:
    """The ``.env`` keys from the main infrastructure's outputs (its ``dotenv`` output)."""
    values = outputs.get("dotenv")
    if not isinstance(values, Mapping):
        values = {
            ENV_QUEUE_URL: outputs.get("queue_url"),
            "DLQ_ARN": outputs.get("dlq_arn"),
            "ECR_REPO": outputs.get("ecr_repository_url"),
            ENV_AWS_REGION: outputs.get("aws_region"),
            ENV_MESSAGE_STATUS_TABLE: outputs.get("message_status_table"),
            ENV_MESSAGE_COMPLETED_TABLE: outputs.get("message_completed_table"),
        }
    missing = [k for k in DOTENV_KEYS if not values.get(k)]
    if missing:
        raise ConfigError(f"the Terraform outputs lack {', '.join(missing)}")
    env = {k: str(values[k]) for k in DOTENV_KEYS}
    # Optional: a main stack applied before the effects table existed has none.
    if values.get(ENV_EFFECTS_TABLE) or outputs.get("effects_table"):
        env[ENV_EFFECTS_TABLE] = str(values.get(ENV_EFFECTS_TABLE) or outputs["effects_table"])
    if outputs.get("dlq_url"):
        env["DLQ_URL"] = str(outputs["dlq_url"])
    if endpoint_url:
        env[ENV_AWS_ENDPOINT_URL] = endpoint_url
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
        default=os.environ.get(ENV_AWS_ENDPOINT_URL),
        help="add AWS_ENDPOINT_URL (an emulator) [env AWS_ENDPOINT_URL]",
    )
    args = parser.parse_args(argv)
    try:
        if args.outputs == "-":
            outputs = parse_outputs(sys.stdin.read(), source="stdin")
        elif args.outputs:
            outputs = read_outputs_file(Path(args.outputs))
        else:
            outputs = read_state_outputs(args.state)
        values = write_env(outputs, args.output, endpoint_url=args.endpoint_url)
    except (ConfigError, OSError) as exc:
        sys.stderr.write(f"tfenv: {exc}\n")
        return 2
    sys.stdout.write(f"wrote {args.output} ({', '.join(values)})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
