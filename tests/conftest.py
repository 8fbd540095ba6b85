"""Shared test plumbing: tier gating and the embedded emulator fixture.

A tier whose tool is missing (Docker, terraform) is skipped on a laptop with a clear reason,
and fails in CI, where REQUIRE_DOCKER=1 / REQUIRE_TERRAFORM=1 are set.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.fixtures.tiers", "tests.fixtures.emulator"]


@pytest.fixture(autouse=True)
def _aws_test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS by accident: dummy credentials and a fixed region."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("SQSKIT_TEST_REGION", "us-east-1"))
    monkeypatch.setenv("AWS_REGION", os.environ.get("SQSKIT_TEST_REGION", "us-east-1"))
