"""Terraform-tier plumbing: where checkov lives, and a tier gate for it.

checkov pins boto3 and packaging to versions the kit cannot share, so it lives in its own
virtualenv (``make security-venv`` creates ``.venv-security``); ``CHECKOV_BIN`` points elsewhere.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.tiers import skip_or_fail

REPO_ROOT = Path(__file__).resolve().parents[2]


def checkov_binary() -> str | None:
    given = os.environ.get("CHECKOV_BIN", "").strip()
    if given:
        return given if Path(given).is_file() else None
    beside = REPO_ROOT / ".venv-security" / "bin" / "checkov"
    if beside.is_file():
        return str(beside)
    return shutil.which("checkov")


@pytest.fixture(scope="session")
def require_checkov() -> str:
    found = checkov_binary()
    if found is None:
        skip_or_fail(
            "checkov not found: `make security` (or set CHECKOV_BIN)",
            required_by="REQUIRE_TERRAFORM",
        )
    assert found is not None
    return found
