"""Static gates on the Terraform code: fmt, validate and checkov (0 failed checks)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import TypedDict

import pytest

from core.terraform import MAIN_ROOT, SCENARIO_ROOT
from core.terraform.cli import TerraformCli, copy_config, find_plugin_dir
from tests.terraform.conftest import REPO_ROOT

ROOTS = [MAIN_ROOT, SCENARIO_ROOT, MAIN_ROOT / "modules" / "stack"]


class CheckovSummary(TypedDict):
    passed: int
    failed: int
    failed_ids: list[str]


def _checkov(binary: str, *args: str) -> CheckovSummary:
    proc = subprocess.run(
        [binary, *args, "--skip-download", "--output", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.stdout.strip(), f"checkov printed nothing: {proc.stderr[-1000:]}"
    data = json.loads(proc.stdout)
    reports = data if isinstance(data, list) else [data]
    summary: CheckovSummary = {"passed": 0, "failed": 0, "failed_ids": []}
    for report in reports:
        summary["passed"] += report["summary"]["passed"]
        summary["failed"] += report["summary"]["failed"]
        summary["failed_ids"] += [
            f"{c['check_id']} {c.get('resource')}" for c in report["results"]["failed_checks"]
        ]
    return summary


@pytest.mark.terraform
def test_terraform_fmt_is_clean(require_terraform):
    # GIVEN every Terraform file in the repository WHEN `terraform fmt -check` runs
    proc = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", "terraform", "scenarios/terraform"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN nothing needs reformatting
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_terraform_validate(require_terraform, tmp_path, root: Path):
    # A private copy, so no .terraform directory lands in the working tree.
    workdir = copy_config(root, tmp_path)
    cli = TerraformCli(workdir=workdir, plugin_dir=find_plugin_dir(), timeout_s=180)
    cli.run("init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={cli.plugin_dir}")
    out = cli.run("validate", "-no-color")
    assert "The configuration is valid" in out


@pytest.mark.terraform
def test_checkov_terraform_has_no_failed_checks(require_checkov):
    summary = _checkov(require_checkov, "-d", "terraform")
    assert summary["failed"] == 0, summary["failed_ids"]
    assert summary["passed"] > 50  # the scan really ran over the resources


@pytest.mark.terraform
def test_checkov_terraform_with_fis_network_faults_has_no_failed_checks(require_checkov, tmp_path):
    # GIVEN the opt-in FIS template, its roles and the SSM agent sidecar switched on (checkov
    # skips resources whose count is 0, so the default scan never sees them)
    tfvars = tmp_path / "fis.tfvars"
    tfvars.write_text("enable_fis_network_faults = true\n")
    summary = _checkov(require_checkov, "-d", "terraform", "--var-file", str(tfvars))
    assert summary["failed"] == 0, summary["failed_ids"]
    default = _checkov(require_checkov, "-d", "terraform")
    assert summary["passed"] > default["passed"]  # the FIS resources were scanned


@pytest.mark.terraform
def test_checkov_scenario_root_has_no_failed_checks(require_checkov):
    summary = _checkov(require_checkov, "-d", "scenarios/terraform")
    assert summary["failed"] == 0, summary["failed_ids"]


@pytest.mark.terraform
def test_checkov_consumer_dockerfile_has_no_failed_checks(require_checkov):
    dockerfile = REPO_ROOT / "consumer" / "Dockerfile"
    assert dockerfile.is_file(), "consumer/Dockerfile is missing"
    summary = _checkov(require_checkov, "-f", "consumer/Dockerfile")
    assert summary["failed"] == 0, summary["failed_ids"]
    assert summary["passed"] > 10


@pytest.mark.terraform
def test_checkov_reports_an_insecure_queue(require_checkov, tmp_path):
    # GIVEN a queue with encryption switched off and an IAM policy with `*` actions
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "main.tf").write_text(
        """
resource "aws_sqs_queue" "q" {
  name                    = "bad"
  sqs_managed_sse_enabled = false
}
data "aws_iam_policy_document" "p" {
  statement {
    actions   = ["sqs:*"]
    resources = ["*"]
  }
}
resource "aws_iam_policy" "p" {
  name   = "bad"
  policy = data.aws_iam_policy_document.p.json
}
"""
    )
    # WHEN checkov scans it with the repository's configuration
    summary = _checkov(require_checkov, "-d", str(bad))
    # THEN the gate fails
    assert summary["failed"] > 0
    assert any(i.startswith("CKV_AWS_27") for i in summary["failed_ids"]), summary["failed_ids"]


@pytest.mark.unit
def test_every_checkov_skip_has_a_reason():
    # Each skipped check id sits on a line with a trailing comment, under a comment block.
    text = (REPO_ROOT / ".checkov.yaml").read_text()
    # An entry is `CKV_ID` or `CKV_ID:<path regex>` (a skip scoped to matching files).
    skips = re.findall(r"^\s*-\s*(CKV\w+)(?::\S+)?(.*)$", text, flags=re.MULTILINE)
    assert skips, "no skips found: the parser no longer matches the file"
    for check_id, rest in skips:
        assert rest.strip().startswith("#") and len(rest.strip()) > 10, check_id
    ids = {c for c, _ in skips}
    assert {"CKV_AWS_130", "CKV_AWS_333"} <= ids
    # No check may be skipped inline in the Terraform code: the config file is the one list.
    for tf in [*REPO_ROOT.glob("terraform/**/*.tf"), *REPO_ROOT.glob("scenarios/terraform/*.tf")]:
        assert "checkov:skip" not in tf.read_text(), tf


@pytest.mark.terraform
def test_the_per_run_pitr_skip_does_not_reach_the_main_stack(require_checkov, tmp_path):
    # GIVEN the main root with point-in-time recovery turned off
    workdir = copy_config(MAIN_ROOT, tmp_path)
    variables = workdir / "variables.tf"
    text = variables.read_text()
    on = 'description = "DynamoDB point-in-time recovery on the main stack'
    assert on in text
    start = text.index(on)
    end = text.index("default     = true", start)
    variables.write_text(
        text[:end] + "default     = false" + text[end + len("default     = true") :]
    )
    # WHEN checkov scans it with the repository's configuration (the scoped CKV_AWS_28 skip)
    summary = _checkov(require_checkov, "-d", str(workdir))
    # THEN the three tables (status, completed, effects) fail CKV_AWS_28: the skip covers
    # per-run stacks only
    pitr = [i for i in summary["failed_ids"] if i.startswith("CKV_AWS_28 ")]
    assert len(pitr) == 3, summary["failed_ids"]
