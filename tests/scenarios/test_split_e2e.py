"""Per-service endpoints end to end: SQS on LocalStack (host), DynamoDB on MiniStack.

One `scenario run happy poison` through the CLI starts both emulators once, and real
`python -m consumer` processes get each service's endpoint. LocalStack's DynamoDB is not
enabled on the host, so every effect, status and completed item the oracle counts proves that
DynamoDB traffic went to MiniStack; poison's redrive is LocalStack's real StartMessageMoveTask.
Without a Python >= 3.12 for LocalStack it skips on a laptop and fails where
REQUIRE_LOCALSTACK=1 (CI).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from local.emulators import localstack_install as inst
from local.emulators.base import port_in_use
from local.emulators.localstack import BACKEND_ENV
from scenarios.cli import cli
from tests.fixtures.tiers import skip_or_fail

SPLIT = "sqs=localstack,dynamodb=ministack"


@pytest.fixture
def localstack_installable() -> None:
    if inst.is_installed(inst.install_home()):
        return
    if inst.find_interpreter() is None:
        skip_or_fail(
            "LocalStack host tier skipped: " + inst.no_interpreter_message(),
            required_by="REQUIRE_LOCALSTACK",
        )


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)  # a cold install of localstack-core; cached, the run takes ~45 s
def test_happy_and_poison_pass_with_sqs_on_localstack_and_dynamodb_on_ministack(
    localstack_installable, monkeypatch, tmp_path
):
    monkeypatch.setenv(BACKEND_ENV, "host")  # the host path even where an image exists
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    out = CliRunner().invoke(
        cli,
        [
            *("run", "happy", "poison", "--emulator", SPLIT, "--runner", "process"),
            *("--report-dir", str(tmp_path), "--no-png", "--json"),
        ],
        catch_exceptions=False,
    )
    summary = json.loads(out.stdout)
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    reports = {
        name: json.loads((run_dir / f"{name}.json").read_text()) for name in ("happy", "poison")
    }
    failed = {
        name: (r["status"], r.get("reason"), [c for c in r["checks"] if not c["passed"]])
        for name, r in reports.items()
        if r["status"] != "passed"
    }
    assert out.exit_code == 0 and not failed, (summary, failed)

    for report in reports.values():
        # THEN the report says which service ran where
        info = report["target_info"]
        assert report["emulator"] == SPLIT
        services = info["services"]
        assert services["sqs"]["emulator"] == "localstack"
        assert services["dynamodb"]["emulator"] == "ministack"
        assert services["sqs"]["endpoint"] != services["dynamodb"]["endpoint"]
        assert info["endpoint"] == services["sqs"]["endpoint"]
        # AND the tables really lived on MiniStack: every valid message has its one effect
        counts = report["counts"]
        assert counts["lost"] == 0 and counts["unfinished"] == 0
        assert counts["effects"] == counts["sent"] - counts["dlq"] > 0

    # AND poison used LocalStack's real move task, not the manual shim
    poison = reports["poison"]
    assert poison["shims"] == {}
    redrives = [f for p in poison["phases"] for f in p["faults"] if f["kind"] == "redrive"]
    assert [f["detail"] for f in redrives] == ["StartMessageMoveTask"]
    assert poison["counts"]["dlq"] > 0

    # AND both emulators were stopped with the run (each started once, on its own port)
    ports = {
        urlsplit(s["endpoint"]).port for s in reports["happy"]["target_info"]["services"].values()
    }
    assert len(ports) == 2
    assert not any(port_in_use(p) for p in ports if p is not None)
