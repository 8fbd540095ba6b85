"""Wrap sqs-kit-runner-policy.json in infrastructure code, so that checkov can scan it.

checkov reads IAM policies inside infrastructure code only, never a bare policy file, and
its checks differ by framework, so the policy is written twice: as a CloudFormation
AWS::IAM::ManagedPolicy (CKV_AWS_107..111: credentials exposure, data exfiltration,
permissions management, privilege escalation, unconstrained writes) and as a Terraform
aws_iam_policy in JSON syntax (CKV_AWS_62/63, CKV2_AWS_40: admin and wildcard actions).

    python3 terraform/iam/checkov_wrap.py OUT_DIR [POLICY_JSON]
    checkov -d OUT_DIR --skip-download          # what `make security` runs

Standard library only: `make security` runs it before any virtualenv exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

POLICY = Path(__file__).with_name("sqs-kit-runner-policy.json")


def wrap(policy_file: Path, out_dir: Path) -> list[Path]:
    """Write the two wrappers of ``policy_file`` into ``out_dir``; return their paths."""
    policy = json.loads(policy_file.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    cfn = out_dir / "sqs-kit-runner-policy.cfn.json"
    cfn.write_text(
        json.dumps(
            {
                "AWSTemplateFormatVersion": "2010-09-09",
                "Resources": {
                    "SqsKitRunner": {
                        "Type": "AWS::IAM::ManagedPolicy",
                        "Properties": {"PolicyDocument": policy},
                    }
                },
            },
            indent=2,
        )
    )
    tf = out_dir / "sqs-kit-runner-policy.tf.json"
    tf.write_text(
        json.dumps(
            {
                "resource": {
                    "aws_iam_policy": {
                        "sqs_kit_runner": {"name": "sqs-kit-runner", "policy": json.dumps(policy)}
                    }
                }
            },
            indent=2,
        )
    )
    return [cfn, tf]


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: checkov_wrap.py OUT_DIR [POLICY_JSON]\n")
        return 2
    policy = Path(argv[2]) if len(argv) == 3 else POLICY
    wrap(policy, Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
