"""The FIS experiment template terraform/ declares, as CreateExperimentTemplate parameters.

Read from ``terraform/main.tf`` (``aws_fis_experiment_template.network``) with python-hcl2 (a
dependency of terraform-local, in the kit extra), with every ``var.*`` at its default in
``terraform/variables.tf``. Tests create it in moto as Terraform would, so what the kit copies
for a run is checked against the HCL itself, not against a hand-written duplicate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

from core.terraform import MAIN_ROOT

ROLE_ARN = "arn:aws:iam::123456789012:role/sqs-demo-fis"
_VAR = re.compile(r"^\$\{(?:tostring\()?var\.([a-z0-9_]+)\)?\}$")


def _blocks(path: Path, kind: str) -> list[dict[str, Any]]:
    with path.open() as fh:
        return list(hcl2.load(fh).get(kind, []))


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in _blocks(MAIN_ROOT / "variables.tf", "variable"):
        for name, body in block.items():
            out[name.strip('"')] = body.get("default")
    return out


def declared_template() -> dict[str, Any]:
    """The HCL resource, raw (hcl2's shape)."""
    for block in _blocks(MAIN_ROOT / "main.tf", "resource"):
        body = block.get('"aws_fis_experiment_template"')
        if body is not None:
            return dict(body['"network"'])
    raise AssertionError("terraform/main.tf declares no aws_fis_experiment_template.network")


def _value(raw: Any, defaults: dict[str, Any], refs: dict[str, str]) -> str:
    text = str(raw)
    if text in refs:
        return refs[text]
    match = _VAR.match(text)
    if match:
        return str(defaults[match.group(1)]).strip('"')
    if text.startswith('"') and text.endswith('"') and "${" not in text:
        return text[1:-1]
    raise AssertionError(f"cannot resolve {text!r} from terraform/main.tf")


def create_request(*, cluster: str, service: str, role_arn: str = ROLE_ARN) -> dict[str, Any]:
    """CreateExperimentTemplate's parameters for the template Terraform would create."""
    hcl = declared_template()
    defaults = _defaults()
    refs = {
        "${aws_iam_role.fis[0].arn}": role_arn,
        "${aws_ecs_cluster.this.name}": cluster,
        "${local.fis_service}": service,
    }

    def val(raw: Any) -> str:
        return _value(raw, defaults, refs)

    actions: dict[str, Any] = {}
    for action in hcl["action"]:
        spec: dict[str, Any] = {
            "actionId": val(action["action_id"]),
            "parameters": {val(p["key"]): val(p["value"]) for p in action.get("parameter", [])},
            "targets": {val(t["key"]): val(t["value"]) for t in action.get("target", [])},
        }
        if action.get("start_after"):
            spec["startAfter"] = [val(s) for s in action["start_after"]]
        actions[val(action["name"])] = spec
    targets = {
        val(t["name"]): {
            "resourceType": val(t["resource_type"]),
            "selectionMode": val(t["selection_mode"]),
            "parameters": {k: val(v) for k, v in t.get("parameters", {}).items()},
        }
        for t in hcl["target"]
    }
    return {
        "description": val(hcl["description"]),
        "roleArn": val(hcl["role_arn"]),
        "stopConditions": [{"source": val(s["source"])} for s in hcl["stop_condition"]],
        "targets": targets,
        "actions": actions,
        "tags": {"Name": "sqs-demo-network-faults"},
    }
