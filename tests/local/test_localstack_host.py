"""LocalStack on the host: interpreter discovery, the cached install, image-vs-host, the process.

The unit tier fakes pip, the interpreters and Docker. The integration tier really installs
localstack-core (once, into the shared cache), starts it, runs SQS and StartMessageMoveTask, and
checks nothing is left behind. Without a Python >= 3.12 it skips on a laptop and fails where
REQUIRE_LOCALSTACK=1 (CI).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from core import capabilities as cap
from core.errors import ConfigError, EmulatorUnavailable
from local import emulators
from local.conformance import run_probe
from local.emulators import localstack_install as inst
from local.emulators.base import free_port, identify, port_in_use, wait_until
from local.emulators.embedded import pid_alive, stop_pid
from local.emulators.localstack import (
    BACKEND_ENV,
    BackendChoice,
    LocalStackEmulator,
    choose_backend,
    localstack_emulator,
)
from local.emulators.localstack_host import (
    CAPABILITIES,
    SERVICES,
    LocalStackHostEmulator,
    sqs_ready,
)
from tests.fixtures.tiers import skip_or_fail

PY312 = inst.Interpreter(Path("/opt/py/3.12/bin/python3"), (3, 12, 1))
PY313 = inst.Interpreter(Path("/opt/py/3.13/bin/python3"), (3, 13, 0))


# -- where the install lives ----------------------------------------------------------------------


@pytest.mark.unit
def test_install_home_default_xdg_and_override(tmp_path):
    version_dir = f"localstack-{inst.LOCALSTACK_VERSION}"
    assert inst.install_home({}) == Path.home() / ".cache" / "sqs-kit" / version_dir
    assert inst.install_home({"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "sqs-kit" / version_dir
    )
    given = {"XDG_CACHE_HOME": "/elsewhere", inst.HOME_ENV: str(tmp_path / "ls")}
    assert inst.install_home(given) == tmp_path / "ls"


# -- which Python ---------------------------------------------------------------------------------


def _pyenv(tmp_path: Path, *names: str) -> dict[str, str]:
    for name in names:
        (tmp_path / "versions" / name / "bin").mkdir(parents=True)
    return {"PYENV_ROOT": str(tmp_path)}


@pytest.mark.unit
def test_candidates_are_pyenv_312_plus_newest_first_then_path_then_ours(tmp_path):
    env = _pyenv(tmp_path, "3.11.7", "3.12.1", "3.13.0", "system")
    on_path = {"python3.13": "/usr/bin/python3.13", "python3": "/usr/bin/python3"}
    paths = inst.candidate_paths(env, which=on_path.get)
    versions = tmp_path / "versions"
    assert paths == [
        versions / "3.13.0" / "bin" / "python3",
        versions / "3.12.1" / "bin" / "python3",
        Path("/usr/bin/python3.13"),
        Path("/usr/bin/python3"),
        Path(sys.executable),
    ]


@pytest.mark.unit
def test_find_interpreter_prefers_the_verified_313_then_312_over_newer(tmp_path):
    found = {
        Path("/a/python3.14"): (3, 14, 0),
        Path("/a/python3.12"): (3, 12, 9),
        Path("/a/python3.13"): (3, 13, 1),
        Path("/a/python3.11"): (3, 11, 7),
    }
    on_path = {"python3.14": "/a/python3.14", "python3.13": "/a/python3.13"}
    on_path |= {"python3.12": "/a/python3.12", "python3": "/a/python3.11"}

    def probe(path):
        return inst.Interpreter(path, found[path]) if path in found else None

    env = {"PYENV_ROOT": str(tmp_path)}
    best = inst.find_interpreter(env, probe=probe, which=on_path.get)
    assert best == inst.Interpreter(Path("/a/python3.13"), (3, 13, 1))
    del found[Path("/a/python3.13")]
    assert inst.find_interpreter(env, probe=probe, which=on_path.get) == inst.Interpreter(
        Path("/a/python3.12"), (3, 12, 9)
    )
    del found[Path("/a/python3.12")]
    # an unverified newer one is still better than nothing
    assert inst.find_interpreter(env, probe=probe, which=on_path.get) == inst.Interpreter(
        Path("/a/python3.14"), (3, 14, 0)
    )


@pytest.mark.unit
def test_no_interpreter_at_312_or_newer_is_none_and_the_message_says_what_to_do(tmp_path):
    env = {"PYENV_ROOT": str(tmp_path)}

    def probe(path):
        return inst.Interpreter(path, (3, 11, 7))  # everything found is too old

    assert inst.find_interpreter(env, probe=probe, which=lambda name: None) is None
    message = inst.no_interpreter_message(env)
    assert "Python >= 3.12" in message and inst.PYTHON_ENV in message and "pyenv" in message


@pytest.mark.unit
def test_explicit_interpreter_is_used_or_rejected_by_name(tmp_path):
    def probe(path):
        return {"/ok": PY313, "/old": inst.Interpreter(Path("/old"), (3, 11, 0))}.get(str(path))

    assert inst.find_interpreter({inst.PYTHON_ENV: "/ok"}, probe=probe) is PY313
    with pytest.raises(ConfigError, match=rf"{inst.PYTHON_ENV}='/old' is Python 3\.11.*>= 3\.12"):
        inst.find_interpreter({inst.PYTHON_ENV: "/old"}, probe=probe)
    with pytest.raises(ConfigError, match=rf"{inst.PYTHON_ENV}='/nope' does not run"):
        inst.find_interpreter({inst.PYTHON_ENV: "/nope"}, probe=probe)


# -- the install commands, the marker and the lock ------------------------------------------------


@pytest.mark.unit
def test_install_commands_make_a_venv_then_pip_install_the_pins_into_it(tmp_path):
    venv_step, pip_step = inst.install_commands(tmp_path, PY313)
    assert venv_step == [str(PY313.path), "-m", "venv", str(tmp_path / "venv")]
    assert pip_step[:4] == [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install"]
    assert pip_step[-len(inst.REQUIREMENTS) :] == list(inst.REQUIREMENTS)
    assert "localstack-core[runtime]==2026.3.0" in pip_step
    assert {"cbor2<5.7", "pyopenssl<24.3", "cryptography<44", "service_identity"} <= set(pip_step)


class FakePip:
    """Stands in for `python -m venv` and pip: records the steps, makes the venv's python."""

    def __init__(self, fail_step: str | None = None) -> None:
        self.steps: list[list[str]] = []
        self.fail_step = fail_step

    def __call__(self, argv, logfile, progress) -> int:
        self.steps.append(argv)
        step = argv[2]  # "venv" or "pip"
        logfile.write(f"fake {step}\n")
        if step == self.fail_step:
            logfile.write("ERROR: No matching distribution found\n")
            return 1
        if step == "venv":
            python = Path(argv[3]) / "bin" / "python"
            python.parent.mkdir(parents=True)
            python.write_text("#!/bin/sh\n")
            python.chmod(0o755)
        return 0


def _install(home: Path, runner: FakePip, lines: list[str] | None = None, **kw):
    sink = lines if lines is not None else []
    return inst.ensure_installed(
        home, why="no image here", progress=sink.append, interpreter=PY313, runner=runner, **kw
    )


@pytest.mark.unit
def test_first_install_explains_itself_and_writes_the_marker_last(tmp_path):
    home = tmp_path / "ls"
    pip, lines = FakePip(), list[str]()
    got = _install(home, pip, lines)
    assert [s[2] for s in pip.steps] == ["venv", "pip"]
    assert got == inst.Installation(home, home / "venv" / "bin" / "python")
    assert inst.is_installed(home)
    marker = inst.read_marker(home)
    assert marker is not None
    assert marker["requirements"] == list(inst.REQUIREMENTS)
    assert marker["python"] == str(PY313.path)
    # one line says what is happening and why, before any work
    assert lines[0].startswith("no image here; installing localstack-core 2026.3.0 (Apache-2.0)")
    assert str(home) in lines[0] and "once" in lines[0]
    assert "fake pip" in (home / inst.LOG_NAME).read_text()


@pytest.mark.unit
def test_a_cached_install_runs_nothing(tmp_path):
    home = tmp_path / "ls"
    _install(home, FakePip())
    again, lines = FakePip(), list[str]()
    _install(home, again, lines)
    assert again.steps == [] and lines == []


@pytest.mark.unit
def test_a_half_install_without_marker_is_removed_and_redone(tmp_path):
    # GIVEN a venv left by an interrupted install (no marker)
    home = tmp_path / "ls"
    (home / "venv" / "bin").mkdir(parents=True)
    leftover = home / "venv" / "half-written.whl"
    leftover.write_text("x")
    assert not inst.is_installed(home)
    # WHEN installing
    pip = FakePip()
    _install(home, pip)
    # THEN it started from nothing
    assert not leftover.exists()
    assert [s[2] for s in pip.steps] == ["venv", "pip"]
    assert inst.is_installed(home)


@pytest.mark.unit
def test_a_failed_pip_leaves_no_marker_and_is_redone_next_time(tmp_path):
    home = tmp_path / "ls"
    with pytest.raises(EmulatorUnavailable, match=r"pip .*exited with 1[\s\S]*No matching"):
        _install(home, FakePip(fail_step="pip"))
    assert not (home / inst.MARKER_NAME).exists()
    assert not inst.is_installed(home)
    pip = FakePip()
    _install(home, pip)
    assert [s[2] for s in pip.steps] == ["venv", "pip"]


@pytest.mark.unit
def test_a_marker_for_other_requirements_or_a_missing_python_means_not_installed(tmp_path):
    home = tmp_path / "ls"
    _install(home, FakePip())
    marker = inst.read_marker(home)
    assert marker is not None
    (home / inst.MARKER_NAME).write_text(json.dumps({**marker, "requirements": ["old==1"]}))
    assert not inst.is_installed(home)
    pip = FakePip()
    _install(home, pip)
    assert len(pip.steps) == 2 and inst.is_installed(home)
    (home / "venv" / "bin" / "python").unlink()
    assert not inst.is_installed(home)


@pytest.mark.unit
def test_no_interpreter_is_a_clear_error_and_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(inst, "find_interpreter", lambda env=None: None)
    pip = FakePip()
    with pytest.raises(EmulatorUnavailable, match=r"needs a Python >= 3\.12"):
        inst.ensure_installed(tmp_path / "ls", progress=lambda line: None, runner=pip)
    assert pip.steps == []


@pytest.mark.unit
def test_the_lock_times_out_naming_the_lock_file_and_tells_once_that_it_waits(tmp_path):
    home = tmp_path / "ls"
    home.mkdir()
    waits: list[str] = []
    with open(home / inst.LOCK_NAME, "a+") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with (
            pytest.raises(EmulatorUnavailable, match=r"install\.lock"),
            inst.install_lock(home, timeout=0.3, on_wait=waits.append, poll_s=0.01),
        ):
            pass
    assert len(waits) == 1 and "waiting" in waits[0]
    with inst.install_lock(home, timeout=0.3):  # free again
        pass


@pytest.mark.unit
def test_a_run_that_waited_for_the_lock_reuses_the_other_runs_install(tmp_path):
    # GIVEN another run holds the lock while it installs
    home = tmp_path / "ls"
    home.mkdir()
    other = open(home / inst.LOCK_NAME, "a+")  # noqa: SIM115 - released in the callback
    fcntl.flock(other.fileno(), fcntl.LOCK_EX)

    def other_run_finishes(line: str) -> None:
        # called when we start waiting: the other run completes its install and unlocks
        with open(os.devnull, "w") as devnull:
            FakePip()(inst.install_commands(home, PY313)[0], devnull, print)
        inst.write_marker(home, PY313, 1.0)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        other.close()

    # WHEN we install
    pip = FakePip()
    inst.ensure_installed(home, progress=other_run_finishes, interpreter=PY313, runner=pip)
    # THEN we did not install a second time
    assert pip.steps == []
    assert inst.is_installed(home)


# -- running pip: output to the log, periodic progress, a deadline ---------------------------------


@pytest.mark.integration
def test_run_step_logs_every_line_and_reports_progress_while_the_step_is_silent(tmp_path):
    # The child prints, then stays silent until the test has seen a progress line about it.
    seen = tmp_path / "seen"
    code = (
        "import os, sys, time\n"
        "print('Collecting localstack-core', flush=True)\n"
        f"deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(seen)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print('Successfully installed', flush=True)\n"
        "sys.exit(0 if os.path.exists(" + repr(str(seen)) + ") else 9)\n"
    )
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if "Collecting localstack-core" in line:
            seen.touch()

    with open(tmp_path / "install.log", "w") as logfile:
        code_out = inst.run_step([sys.executable, "-c", code], logfile, progress, every_s=0.05)
    assert code_out == 0
    assert any(line.endswith("Collecting localstack-core") for line in lines)
    log = (tmp_path / "install.log").read_text()
    assert "Collecting localstack-core" in log and "Successfully installed" in log


@pytest.mark.integration
def test_run_step_kills_a_step_past_its_deadline(tmp_path):
    with open(tmp_path / "install.log", "w") as logfile:
        code = inst.run_step(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            logfile,
            lambda line: None,
            every_s=0.05,
            timeout=0.5,
        )
    assert code != 0
    assert "killed after" in (tmp_path / "install.log").read_text()


# -- image or host --------------------------------------------------------------------------------


def _docker_ok():
    return True, "27.5.1"


def _no_docker():
    return False, "no docker client on PATH"


@pytest.mark.unit
def test_without_docker_localstack_runs_on_the_host():
    choice = choose_backend({}, docker=_no_docker, has_image=pytest.fail)
    assert choice.backend == "host"
    assert "needs Docker (no docker client on PATH)" in choice.reason


@pytest.mark.unit
def test_without_the_image_localstack_runs_on_the_host_and_says_which_image():
    asked: list[str] = []

    def has_image(image: str) -> bool:
        asked.append(image)
        return False

    choice = choose_backend({}, docker=_docker_ok, has_image=has_image)
    assert choice.backend == "host"
    assert asked == ["localstack/localstack:4.14.0"]
    assert "localstack/localstack:4.14.0 is not on this machine" in choice.reason
    assert "LOCALSTACK_AUTH_TOKEN" in choice.reason
    # with a token the current (pro) image is the one looked for, and no token advice is given
    tokened = choose_backend({"LOCALSTACK_AUTH_TOKEN": "t"}, docker=_docker_ok, has_image=has_image)
    assert tokened.backend == "host" and "localstack-pro" in asked[-1]
    assert "LOCALSTACK_AUTH_TOKEN" not in tokened.reason


@pytest.mark.unit
def test_a_present_image_is_used():
    choice = choose_backend({}, docker=_docker_ok, has_image=lambda image: True)
    assert choice == BackendChoice("image", "the image localstack/localstack:4.14.0 is present")


@pytest.mark.unit
def test_the_backend_can_be_forced_and_a_bad_value_is_named():
    forced = choose_backend({BACKEND_ENV: "host"}, docker=pytest.fail, has_image=pytest.fail)
    assert forced.backend == "host"
    image = choose_backend({BACKEND_ENV: "image"}, docker=_docker_ok, has_image=pytest.fail)
    assert image.backend == "image"
    with pytest.raises(EmulatorUnavailable, match=f"{BACKEND_ENV}=image but Docker"):
        choose_backend({BACKEND_ENV: "image"}, docker=_no_docker)
    with pytest.raises(
        ConfigError, match=f"{BACKEND_ENV}='podman' is invalid: .*auto, image, host"
    ):
        choose_backend({BACKEND_ENV: "podman"})


@pytest.mark.unit
def test_localstack_emulator_builds_what_was_chosen():
    host, _ = localstack_emulator(None, choice=BackendChoice("host", "why"))
    assert isinstance(host, LocalStackHostEmulator)
    assert host.port != 4566 and host.why == "why" and not host.detached
    pinned, _ = localstack_emulator(4599, choice=BackendChoice("host", "why"), detached=True)
    assert isinstance(pinned, LocalStackHostEmulator) and pinned.port == 4599 and pinned.detached
    image, _ = localstack_emulator(None, choice=BackendChoice("image", "why"))
    assert isinstance(image, LocalStackEmulator) and image.port == 4566


class _NoProcessHost(LocalStackHostEmulator):
    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.unit
def test_select_localstack_owns_the_host_process_and_says_why(monkeypatch):
    fake = _NoProcessHost(port=4601)
    choice = BackendChoice("host", "LocalStack's image needs Docker (no engine)")
    monkeypatch.setattr(emulators, "localstack_emulator", lambda port: (fake, choice))
    with emulators.select("localstack") as sel:
        assert sel.emulator is fake and fake.started and sel.owned
        assert "needs Docker (no engine)" in sel.reason
        assert "localstack-core 2026.3.0 runs on the host, port 4601" in sel.reason
    assert fake.stopped


# -- the host process, without starting it -------------------------------------------------------


@pytest.mark.unit
def test_environment_keeps_state_in_its_dir_and_only_offline_services(tmp_path):
    emu = LocalStackHostEmulator(port=4602)
    with pytest.raises(RuntimeError, match="before start"):
        emu.command()
    emu.installation = inst.Installation(tmp_path, tmp_path / "venv" / "bin" / "python")
    emu.state_dir = tmp_path / "state"
    env = emu.environment()
    assert emu.command() == [str(tmp_path / "venv/bin/python"), "-m", "localstack.runtime.main"]
    assert env["GATEWAY_LISTEN"] == env["LOCALSTACK_HOST"] == "127.0.0.1:4602"
    assert env["SERVICES"].split(",") == list(SERVICES)
    assert "dynamodb" not in env["SERVICES"] and "ecs" not in env["SERVICES"]
    assert env["DNS_ADDRESS"] == "0" and env["SQS_ENDPOINT_STRATEGY"] == "path"
    for var in ("TMPDIR", "FILESYSTEM_ROOT", "LOCALSTACK_VOLUME_DIR", "CONFIG_DIR"):
        assert env[var].startswith(str(emu.state_dir)), var
    assert env["PYTHONPATH"] == ""


@pytest.mark.unit
@pytest.mark.parametrize(
    ("body", "ready"),
    [
        ({"services": {"sqs": "running"}}, True),
        ({"services": {"sqs": "available"}}, True),
        ({"services": {"sqs": "disabled"}}, False),
        ({"services": {"sqs": "error"}}, False),
        ({"services": {"sts": "running"}}, False),
        ({"services": "sqs"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_ready_means_sqs_running_or_available(body, ready):
    assert sqs_ready(body) is ready


@pytest.mark.unit
def test_capabilities_are_honest_sqs_with_move_task_no_dynamodb_no_ecs():
    assert cap.SQS_MOVE_TASK in CAPABILITIES
    assert {c for c in CAPABILITIES if c.startswith(("ddb.", "ecs."))} == set()
    assert cap.SQS_VISIBILITY_LIMIT not in CAPABILITIES  # accepted above 12 h
    assert LocalStackHostEmulator(port=4603).capabilities() == CAPABILITIES


# -- integration: install (cached), start, SQS + move task, stop -----------------------------------


@pytest.fixture
def localstack_installable() -> None:
    if inst.is_installed(inst.install_home()):
        return
    if inst.find_interpreter() is None:
        skip_or_fail(
            "LocalStack host tier skipped: " + inst.no_interpreter_message(),
            required_by="REQUIRE_LOCALSTACK",
        )


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid:  # state, ppid, pgrp
                members.append(int(entry.name))
    return members


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)  # a cold install on a loaded machine; cached runs take seconds
def test_localstack_on_the_host_runs_sqs_and_the_move_task_and_leaves_nothing(
    localstack_installable, monkeypatch, tmp_path
):
    monkeypatch.setenv(BACKEND_ENV, "host")  # the host path even where an image exists
    with emulators.select("localstack") as sel:
        emu = sel.emulator
        assert isinstance(emu, LocalStackHostEmulator)
        pid, state_dir = emu.pid, emu.state_dir
        assert sel.owned and "runs on the host" in sel.reason
        assert pid is not None and state_dir is not None and state_dir.is_dir()
        assert identify(sel.endpoint) == "localstack"
        assert emu.version == inst.LOCALSTACK_VERSION
        assert emu.time_to_ready is not None

        sqs = boto3.client("sqs", endpoint_url=sel.endpoint)
        tag = f"lsh-{os.getpid()}-{int(time.time())}"
        dlq = sqs.create_queue(QueueName=f"{tag}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
        queue = sqs.create_queue(
            QueueName=tag, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "1"}
        )["QueueUrl"]
        assert queue.startswith(sel.endpoint)  # path-style URLs on our own address

        # send / receive / delete
        sqs.send_message(QueueUrl=queue, MessageBody="ok")
        got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
        assert [m["Body"] for m in got] == ["ok"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])

        # a message received once and not deleted goes to the DLQ on the next receive
        sqs.send_message(QueueUrl=queue, MessageBody="poison")
        assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]

        def in_dlq() -> bool:
            sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)  # drives the move
            attrs = sqs.get_queue_attributes(
                QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            return attrs["ApproximateNumberOfMessages"] == "1"

        assert wait_until(in_dlq, 30), "the message never reached the DLQ"

        # StartMessageMoveTask brings it back to its source queue
        sqs.start_message_move_task(SourceArn=dlq_arn)

        def completed() -> bool:
            tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
            return bool(tasks) and tasks[0]["Status"] == "COMPLETED"

        assert wait_until(completed, 30), sqs.list_message_move_tasks(SourceArn=dlq_arn)
        back = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
        assert [m["Body"] for m in back] == ["poison"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=back[0]["ReceiptHandle"])

        # what the backend declares is what the conformance probe proves on it
        report = run_probe(sel.endpoint, emulator="localstack")
        assert report.capabilities() == emu.capabilities(), [
            (r.name, r.detail) for r in report.failed
        ]

        emu.reset()
        assert not sqs.list_queues().get("QueueUrls")
    # stopped: no process of its session group, its state removed, the port free
    assert not pid_alive(pid)
    assert _group_members(pid) == []
    assert not state_dir.exists()
    assert not port_in_use(emu.port)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_detached_host_localstack_outlives_its_starter_and_stops_by_pid(
    localstack_installable, tmp_path
):
    # GIVEN `make local-up`'s way of starting it: detached, from a process that then exits
    port = free_port()
    code = (
        "from local.emulators.localstack_host import LocalStackHostEmulator as E;"
        f"e = E(port={port}, detached=True, log_dir={str(tmp_path)!r}); e.start();"
        "print(e.pid, e.cmdline_marker)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1700
    )
    pid_text, marker = out.stdout.split()[-2:]
    pid = int(pid_text)
    try:
        assert pid_alive(pid) and identify(f"http://127.0.0.1:{port}") == "localstack"
        assert (tmp_path / f"localstack-{port}" / "tmp").is_dir()
        # THEN `make local-down` can find it by PID and its command-line marker
        assert stop_pid(pid, marker=marker, timeout=30) is True
        assert not pid_alive(pid)
    finally:
        stop_pid(pid, timeout=30)
