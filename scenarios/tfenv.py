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

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core.dotenv import DOTENV_KEYS, main_dotenv
from core.errors import ConfigError
from core.terraform import REPO_ROOT
from core.terraform.main_infra import main_state_path
from core.terraform.outputs import parse_outputs, read_outputs_file, read_state_outputs

__all__ = ["DOTENV_KEYS", "dotenv_values", "main", "write_env"]


def dotenv_values(outputs: Mapping[str, Any], *, endpoint_url: str | None = None) -> dict[str, str]:
    """The ``.env`` keys from the main infrastructure's outputs (its ``dotenv`` output)."""
    return main_dotenv(outputs, endpoint_url=endpoint_url)


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
    parser.add_argument(
        "--state",
        type=Path,
        default=main_state_path(),
        help="local state file [env SQSKIT_MAIN_STATE, default terraform/terraform.tfstate]",
    )
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
