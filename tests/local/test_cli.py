"""`python -m local up/status/down` and `scenario doctor`, end to end on free ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from consumer.contract import parse_env_file
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
        "SQSKIT_PROVISIONER": "api",  # the opt-in fast path (the terraform tier runs the other)
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
        values = parse_env_file((tmp_path / ".env").read_text())
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
        assert not (tmp_path / ".env").exists()  # it pointed at the emulator that is gone
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


MAIN_OUTPUTS = {
    "queue_url": "http://127.0.0.1:4998/000000000000/sqs-demo-queue",
    "queue_arn": "arn:aws:sqs:us-east-1:000000000000:sqs-demo-queue",
    "dlq_url": "http://127.0.0.1:4998/000000000000/sqs-demo-dlq",
    "dlq_arn": "arn:aws:sqs:us-east-1:000000000000:sqs-demo-dlq",
    "ecr_repository_url": "000000000000.dkr.ecr.us-east-1.amazonaws.com/sqs-demo",
    "aws_region": "us-east-1",
    "message_status_table": "sqs-demo-message-status",
    "message_completed_table": "sqs-demo-message-completed",
    "cluster_name": "sqs-demo",
}


@pytest.fixture
def fake_up(monkeypatch, tmp_path):
    import local.__main__ as entry
    from core.stack import StackHandle
    from local.infra import MainInfra, Provisioned

    started: list[_FakeEmbedded] = []
    ensured: list[dict] = []

    def fake_embedded(kind, port, **kwargs):
        started.append(_FakeEmbedded(kind, port, **kwargs))
        return started[-1]

    def fake_provision(prefix, endpoint):
        handle = StackHandle(
            prefix, "us-east-1", f"{endpoint}/q", "arn:q", f"{endpoint}/d", "arn:d", "s", "c",
            endpoint_url=endpoint,
        )  # fmt: skip
        return Provisioned(handle, "created with the API provisioner; skipped terraform/ (fake)")

    def fake_ensure(endpoint, *, state_file, applied_digest, **kwargs):
        # what ensure_main_infrastructure decides: apply unless the recorded digest matches
        ensured.append({"endpoint": endpoint, "applied_digest": applied_digest, **kwargs})
        applied = applied_digest != "digest-1"
        if applied:
            state_file.write_text(
                json.dumps({"outputs": {k: {"value": v} for k, v in MAIN_OUTPUTS.items()}})
            )
        how = "applied terraform/ (fake)" if applied else "skipped terraform (fake)"
        return MainInfra(dict(MAIN_OUTPUTS), how, applied=applied, digest="digest-1")

    monkeypatch.setattr(entry, "embedded", fake_embedded)
    monkeypatch.setattr(entry, "provision_main", fake_provision)
    monkeypatch.setattr(entry, "ensure_main_infrastructure", fake_ensure)
    for name in (
        "SQSKIT_EMULATOR",
        "AWS_ENDPOINT_URL",
        "SQSKIT_EMULATOR_PORT",
        "SQSKIT_PROVISIONER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQSKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SQSKIT_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv("SQSKIT_MAIN_STATE", str(tmp_path / "main.tfstate"))
    return entry, started, ensured


@pytest.mark.unit
def test_container_emulator_without_docker_falls_back_to_embedded(fake_up, monkeypatch):
    entry, started, _ = fake_up
    monkeypatch.setattr(entry, "docker_available", lambda: (False, "docker engine not reachable"))
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: False)
    result = CliRunner().invoke(entry.cli, ["up", "--emulator", "localstack", "--port", "4999"])
    assert result.exit_code == 0, result.output
    assert "needs Docker" in result.output and "docker engine not reachable" in result.output
    assert [(e.kind, e.port, e.kwargs["detached"]) for e in started] == [("ministack", 4999, True)]


@pytest.mark.unit
def test_auto_reuses_an_emulator_that_answers_and_down_leaves_it(fake_up, monkeypatch, tmp_path):
    entry, started, _ = fake_up
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: True)
    monkeypatch.setattr(entry, "identify", lambda url, timeout=1.0: "localstack")
    destroyed: list[str] = []

    def fake_destroy(endpoint, *, state_file, workdir):
        destroyed.append(endpoint)
        return True

    monkeypatch.setattr(entry, "destroy_main_infrastructure", fake_destroy)
    result = CliRunner().invoke(entry.cli, ["up", "--port", "4998"])
    assert result.exit_code == 0, result.output
    assert "localstack already answers" in result.output and started == []
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4998" in (tmp_path / ".env").read_text()
    down = CliRunner().invoke(entry.cli, ["down"])
    assert "not started by us; left running" in down.output
    # what up applied into someone else's emulator is destroyed there, not left behind
    assert destroyed == ["http://127.0.0.1:4998"]
    assert "destroyed with tflocal" in down.output


@pytest.mark.unit
def test_a_second_up_skips_terraform_and_changes_nothing(fake_up, monkeypatch, tmp_path):
    entry, started, ensured = fake_up
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: url.endswith(":4997"))
    first = CliRunner().invoke(entry.cli, ["up", "--emulator", "ministack", "--port", "4997"])
    assert first.exit_code == 0, first.output
    assert "applied terraform/" in first.output and "wrote" in first.output
    assert ensured[0]["fresh_emulator"] is True and ensured[0]["applied_digest"] == ""
    files = [tmp_path / ".env", tmp_path / "state" / "emulator.json", tmp_path / "main.tfstate"]
    before = [p.stat().st_mtime_ns for p in files]
    # WHEN up runs again on the running environment
    again = CliRunner().invoke(entry.cli, ["up", "--emulator", "ministack", "--port", "4997"])
    # THEN the emulator is reused, the recorded digest is handed over, and no file changes
    assert again.exit_code == 0, again.output
    assert "already running" in again.output and "skipped terraform" in again.output
    assert "unchanged" in again.output and len(started) == 1
    assert ensured[1]["fresh_emulator"] is False and ensured[1]["applied_digest"] == "digest-1"
    assert [p.stat().st_mtime_ns for p in files] == before


@pytest.mark.unit
def test_the_fast_path_is_opt_in_and_says_what_it_skipped(fake_up, monkeypatch, tmp_path):
    entry, _, ensured = fake_up
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: False)
    result = CliRunner().invoke(
        entry.cli, ["up", "--emulator", "ministack", "--provisioner", "api"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped terraform/" in result.output and ensured == []
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()[1:])
    assert values["AWS_ACCESS_KEY_ID"] == "test" and values["QUEUE_URL"].endswith("/q")


@pytest.mark.unit
def test_down_removes_the_main_state_and_env_of_an_emulator_it_stops(
    fake_up, monkeypatch, tmp_path
):
    entry, _, _ = fake_up
    monkeypatch.setattr(entry, "answers", lambda url, timeout=1.0: False)
    assert (
        CliRunner().invoke(entry.cli, ["up", "--emulator", "ministack", "--port", "4996"]).exit_code
        == 0
    )
    assert (tmp_path / "main.tfstate").is_file() and (tmp_path / ".env").is_file()
    stopped: list[int] = []

    def fake_stop(pid, marker=""):
        stopped.append(pid)
        return True

    monkeypatch.setattr(entry, "stop_pid", fake_stop)
    down = CliRunner().invoke(entry.cli, ["down"])
    assert down.exit_code == 0, down.output
    assert stopped == [4242] and "goes with the emulator" in down.output
    assert not (tmp_path / "main.tfstate").exists() and not (tmp_path / ".env").exists()
    assert not (tmp_path / "state" / "emulator.json").exists()
