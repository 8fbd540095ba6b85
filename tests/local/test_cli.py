"""`python -m local up/status/down` and `scenario doctor`, end to end on free ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from local.emulators.base import answers, free_port, wait_until
from local.emulators.embedded import pid_alive, stop_pid
from scenarios.cli.doctor import doctor

REQUIRED = (
    "QUEUE_URL",
    "DLQ_ARN",
    "AWS_REGION",
    "MESSAGE_STATUS_TABLE",
    "MESSAGE_COMPLETED_TABLE",
    "AWS_ENDPOINT_URL",
)


def _local(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
def test_up_status_down_round_trip(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "SQSKIT_EMULATOR": "ministack",
        "SQSKIT_EMULATOR_PORT": str(port),
        "SQSKIT_STATE_DIR": str(tmp_path / "state"),
        "SQSKIT_ENV_FILE": str(tmp_path / ".env"),
        "SQSKIT_MAIN_PREFIX": "demo-cli",
        "SQSKIT_PROVISIONER": "api",
        "COLUMNS": "200",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    pid = None
    try:
        # WHEN local up runs
        up = _local("up", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        pid = int((tmp_path / "state" / "emulator.pid").read_text())
        assert pid_alive(pid) and answers(f"http://127.0.0.1:{port}")
        # THEN .env holds everything the consumer needs, pointing at this emulator
        values = dict(
            line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if line
        )
        for key in REQUIRED:
            assert values.get(key), key
        assert values["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert values["QUEUE_URL"].endswith("demo-cli-queue")
        # the queue really exists, with a DLQ after 5 receives
        import boto3

        sqs = boto3.client("sqs", endpoint_url=values["AWS_ENDPOINT_URL"], region_name="us-east-1")
        policy = sqs.get_queue_attributes(QueueUrl=values["QUEUE_URL"], AttributeNames=["All"])
        redrive = json.loads(policy["Attributes"]["RedrivePolicy"])
        assert (
            int(redrive["maxReceiveCount"]) == 5
            and redrive["deadLetterTargetArn"] == values["DLQ_ARN"]
        )

        # up again is idempotent: same emulator, stack reused
        again = _local("up", env=env)
        assert (
            again.returncode == 0 and "already running" in again.stdout and "reused" in again.stdout
        )
        assert int((tmp_path / "state" / "emulator.pid").read_text()) == pid

        status = _local("status", env=env)
        assert status.returncode == 0 and str(pid) in status.stdout and "alive" in status.stdout

        down = _local("down", env=env)
        assert down.returncode == 0 and f"PID {pid}" in down.stdout
        assert wait_until(lambda: not pid_alive(pid), 5)
        assert not (tmp_path / "state" / "emulator.pid").exists()
        assert "nothing" in _local("status", env=env).stdout
    finally:
        if pid is not None:
            stop_pid(pid)


@pytest.mark.integration
def test_up_with_a_bad_setting_exits_2(tmp_path):
    env = {**os.environ, "SQSKIT_EMULATOR_PORT": "99999", "SQSKIT_STATE_DIR": str(tmp_path)}
    result = _local("up", env=env)
    assert result.returncode == 2
    assert "SQSKIT_EMULATOR_PORT" in result.stdout


@pytest.mark.integration
def test_doctor_on_the_session_emulator(emulator_endpoint, tmp_path):
    out = tmp_path / "doctor.json"
    result = CliRunner().invoke(
        doctor,
        ["--endpoint", emulator_endpoint, "--only", "sqs.dlq", "--json", str(out), "--strict"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["checks"] and all(c["passed"] for c in report["checks"])
    assert "sqs.dlq" in report["capabilities"]


@pytest.mark.integration
def test_doctor_with_nothing_at_the_endpoint_exits_3():
    result = CliRunner().invoke(doctor, ["--endpoint", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 3
    assert "nothing answers" in result.output


# -- the decisions `up` makes, without processes (unit) -------------------------------------------


class _FakeEmbedded:
    name = "ministack"
    cmdline_marker = "ministack"
    time_to_ready = 0.1

    def __init__(self, kind: str, port: int, **kwargs: object) -> None:
        self.kind, self.port, self.kwargs = kind, port, kwargs
        self.pid = 4242
        self.log_path = "/tmp/fake.log"

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        pass


@pytest.fixture
def fake_up(monkeypatch, tmp_path):
    import local.__main__ as entry
    from core.stack import StackHandle
    from local.infra import Provisioned

    started: list[_FakeEmbedded] = []

    def fake_embedded(kind, port, **kwargs):
        started.append(_FakeEmbedded(kind, port, **kwargs))
        return started[-1]

    def fake_provision(prefix, endpoint, *, provisioner):
        handle = StackHandle(
            prefix, "us-east-1", f"{endpoint}/q", "arn:q", f"{endpoint}/d", "arn:d", "s", "c",
            endpoint_url=endpoint,
        )  # fmt: skip
        return Provisioned(handle, "provisioned (fake)")

    monkeypatch.setattr(entry, "embedded", fake_embedded)
    monkeypatch.setattr(entry, "provision_main", fake_provision)
    for name in ("SQSKIT_EMULATOR", "AWS_ENDPOINT_URL", "SQSKIT_EMULATOR_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQSKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SQSKIT_ENV_FILE", str(tmp_path / ".env"))
    return entry, started


@pytest.mark.unit
def test_container_emulator_without_docker_falls_back_to_embedded(fake_up, monkeypatch):
    entry, started = fake_up
    monkeypatch.setattr(entry, "docker_available", lambda: (False, "docker engine not reachable"))
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: False)
    result = CliRunner().invoke(entry.cli, ["up", "--emulator", "localstack", "--port", "4999"])
    assert result.exit_code == 0, result.output
    assert "needs Docker" in result.output and "docker engine not reachable" in result.output
    assert [(e.kind, e.port, e.kwargs["detached"]) for e in started] == [("ministack", 4999, True)]


@pytest.mark.unit
def test_auto_reuses_an_emulator_that_answers_and_down_leaves_it(fake_up, monkeypatch, tmp_path):
    entry, started = fake_up
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: True)
    monkeypatch.setattr(entry, "identify", lambda url, timeout=1.0: "localstack")
    result = CliRunner().invoke(entry.cli, ["up", "--port", "4998"])
    assert result.exit_code == 0, result.output
    assert "localstack already answers" in result.output and started == []
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4998" in (tmp_path / ".env").read_text()
    down = CliRunner().invoke(entry.cli, ["down"])
    assert "not started by us; left running" in down.output
