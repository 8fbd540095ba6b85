"""The one reader for Terraform outputs, whatever they come from.

Outputs arrive as ``terraform output -json`` (``{"name": {"value": ..., "type": ...}}``), as a
state file (the same under ``"outputs"``), or already as plain values. Every caller turns them
into plain values (``{"name": ...}``) here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import ConfigError

_OUTPUT_TIMEOUT_S = 60


def plain_outputs(data: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs as plain values, from ``terraform output -json``, a state file or plain values."""
    if "outputs" in data and isinstance(data["outputs"], Mapping):
        data = data["outputs"]
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and "value" in value:
            out[key] = value["value"]
        else:
            out[key] = value
    return out


def parse_outputs(text: str, *, source: str) -> dict[str, Any]:
    """Plain outputs from the text of ``terraform output -json`` (leading noise is skipped)."""
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else {}
    except ValueError as exc:
        raise ConfigError(f"{source} is not `terraform output -json`: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} is not `terraform output -json`: not a JSON object")
    return plain_outputs(data)


def read_outputs_file(path: Path) -> dict[str, Any]:
    """Plain outputs from a file holding ``terraform output -json``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_outputs(text, source=str(path))


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


def state_outputs_or_empty(state_file: Path) -> dict[str, Any]:
    """The outputs of a state file, or ``{}`` when it is absent or unreadable."""
    try:
        return plain_outputs(json.loads(state_file.read_text()))
    except (OSError, ValueError):
        return {}


def terraform_outputs(directory: Path) -> dict[str, Any]:
    """``terraform output -json`` of an applied root directory, as plain values."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise ConfigError(
            f"terraform is not on PATH: reading the outputs of {directory} needs `terraform output`"
        )
    proc = subprocess.run(
        [terraform, f"-chdir={directory}", "output", "-json"],
        capture_output=True,
        text=True,
        timeout=_OUTPUT_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise ConfigError(f"cannot read the outputs in {directory}: {proc.stderr.strip()[:300]}")
    outputs = parse_outputs(proc.stdout or "{}", source=f"`terraform output -json` in {directory}")
    if not outputs:
        raise ConfigError(
            f"the root in {directory} has no outputs: deploy it first "
            "(`make aws-up`, or `terraform -chdir=terraform apply`)"
        )
    return outputs
