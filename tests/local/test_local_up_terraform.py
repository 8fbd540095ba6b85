"""`make local-up` on the shared terraform/, for real (Terraform tier, slow).

One local-up per module (tflocal applies terraform/ into a MiniStack of its own, on a free
port, with its state, .env and pidfile in a temporary directory), then:
- the seed's commands, each in a fresh shell with nothing exported but where the test keeps
  its files: validate_infra.py --main, scenario validate --main, run_producer.sh and
  python -m consumer;
- a second local-up skips Terraform and changes no file;
- a rehearsal (Docker tier) reuses its emulator and main infrastructure;
- local-down removes the state, .env and the emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumer.contract import EV_COMPLETED, parse_env_file
from local.emulators.base import answers, free_port
from local.emulators.embedded import pid_alive, stop_pid

# the first test pays for the module's local-up (a tflocal apply): beyond the default 300 s
pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPLETED_DEADLINE_S = 180


@dataclass
class LocalUp:
    home: Path
    port: int
    files: dict[str, str]  # the variables that say where the test keeps local-up's files

    @property
    def fresh_shell(self) -> dict[str, str]:
        """What a new terminal has: PATH and HOME, and no AWS or kit variable at all."""
        path = f"{BIN}:/usr/local/bin:/usr/bin:/bin"  # as with the kit's venv activated
        return {"PATH": path, "HOME": str(Path.home()), **self.files}

    @property
    def up_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQSKIT_"))}
        return {**env, **self.files, "SQSKIT_EMULATOR": "ministack",
                "SQSKIT_EMULATOR_PORT": str(self.port), "COLUMNS": "200"}  # fmt: skip

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "local", *args],
            capture_output=True, text=True, env=self.up_env, timeout=900, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    from tests.fixtures.tiers import skip_or_fail, terraform_available

    ok, detail = terraform_available()
    if not ok:
        skip_or_fail(f"Terraform tier skipped: {detail}", required_by="REQUIRE_TERRAFORM")
    home = tmp_path_factory.mktemp("local-up")
    env = LocalUp(
        home,
        free_port(),
        {
            "SQSKIT_STATE_DIR": str(home / "state"),
            "SQSKIT_ENV_FILE": str(home / ".env"),
            "SQSKIT_MAIN_STATE": str(home / "main.tfstate"),
        },
    )
    up = env.local("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "applied terraform/ with tflocal" in up.stdout
        yield env
    finally:
        env.local("down")
        pidfile = home / "state" / "emulator.pid"
        if pidfile.exists():  # down failed: never leave the emulator running
            stop_pid(int(pidfile.read_text()))


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


def test_the_seed_commands_work_in_a_fresh_shell(local_up: LocalUp) -> None:
    shell, cwd = local_up.fresh_shell, local_up.home
    # the state is where terraform -chdir=terraform would find it, and answers at the emulator
    seed = _run(
        [sys.executable, str(REPO / "scenarios" / "validate_infra.py"), "--main"], shell, cwd
    )
    assert seed.returncode == 0, seed.stdout + seed.stderr
    assert "ecs service sqs-demo-consumer status" in seed.stdout
    kit = _run([str(BIN / "scenario"), "validate", "--main"], shell, cwd)
    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert kit.stdout.splitlines()[-1] == seed.stdout.splitlines()[-1]  # "N/N checks passed"

    sent = _run(["bash", str(REPO / "scripts" / "run_producer.sh"), "--n", "25", "--rate", "5"],
                shell, cwd)  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "sent 25/25" in sent.stdout

    # python -m consumer drains what was sent, then stops on SIGTERM with exit 0
    out = local_up.home / "consumer.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "consumer"], stdout=sink, stderr=subprocess.STDOUT,
            env=shell, cwd=cwd,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + COMPLETED_DEADLINE_S
        completed = 0
        while completed < 25 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
            events = [
                json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")
            ]
            completed = sum(e.get("event") == EV_COMPLETED for e in events)
        assert completed == 25, out.read_text()[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, out.read_text()[-2000:]


def test_a_second_local_up_skips_terraform_and_changes_nothing(local_up: LocalUp) -> None:
    files = [Path(local_up.files["SQSKIT_ENV_FILE"]), Path(local_up.files["SQSKIT_MAIN_STATE"]),
             Path(local_up.files["SQSKIT_STATE_DIR"]) / "emulator.json"]  # fmt: skip
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    again = local_up.local("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout and "skipped terraform" in again.stdout
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before
    values = parse_env_file(files[0].read_text())
    assert values["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{local_up.port}"


@pytest.mark.docker
def test_a_rehearsal_reuses_local_up(local_up: LocalUp, require_docker: str) -> None:
    report_dir = local_up.home / "rehearsal"
    env = {**local_up.up_env}
    env.pop("SQSKIT_EMULATOR", None)
    run = subprocess.run(
        [str(BIN / "scenario"), "run", "happy", "--target", "aws", "--emulator", "auto",
         "--count", "10", "--report-dir", str(report_dir), "--no-png"],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (path,) = report_dir.glob("*/happy.json")
    info = json.loads(path.read_text())["target_info"]
    assert info["rehearsal"] is True
    assert info["main_infrastructure"].startswith("reused `make local-up`'s ministack")
    assert info["endpoint"] == f"http://127.0.0.1:{local_up.port}"
    assert answers(info["endpoint"])  # local-up's emulator is left running


def test_local_down_removes_what_local_up_created(local_up: LocalUp) -> None:
    pid = int((Path(local_up.files["SQSKIT_STATE_DIR"]) / "emulator.pid").read_text())
    down = local_up.local("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not Path(local_up.files["SQSKIT_MAIN_STATE"]).exists()
    assert not Path(local_up.files["SQSKIT_ENV_FILE"]).exists()
    assert not pid_alive(pid) and not answers(f"http://127.0.0.1:{local_up.port}")
