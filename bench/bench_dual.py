"""The dual target (issue 14): `make local-up` on terraform/, and the AWS path rehearsed here.

- a first `make local-up` (MiniStack + terraform/ through tflocal; 70 s before, when it applied
  the scenario stack module instead);
- a repeated `make local-up` on the running environment (Terraform skipped), next to what a
  `terraform plan` of the same state would cost and whether it would come back empty;
- `scenario run happy --target aws --emulator auto` reusing that environment, and with no
  `make local-up` (a private MiniStack, terraform/ applied for the run); the manual recipe it
  replaces took 103-134 s, not counting the main apply;
- `make local-down`.

Every run is isolated: a free port, and the state, .env and reports in a temporary directory.
Skipped (with the reason) without terraform and its provider mirror; the rehearsals without
Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.terraform import MAIN_ROOT
from core.terraform.cli import TerraformCli, copy_config, find_plugin_dir, tf_vars_args
from local.emulators.base import free_port
from local.emulators.embedded import stop_pid
from local.infra import LOCAL_MAIN_VARIABLES, terraform_ready

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TIMEOUT_S = 1800


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    return time.perf_counter() - start, proc


def _verdict(proc: subprocess.CompletedProcess[str]) -> str:
    return "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr[-300:]}"


def _docker_answers() -> bool:
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _plan_instead(home: Path, endpoint: str, state: Path) -> tuple[float, str]:
    """What `up` would cost if it ran `terraform plan` instead of skipping (and its verdict)."""
    outputs = json.loads(state.read_text())["outputs"]
    variables = {
        **LOCAL_MAIN_VARIABLES,
        "project_name": outputs["stack_settings"]["value"]["prefix"],
        "aws_region": outputs["aws_region"]["value"],
    }
    cli = TerraformCli(
        workdir=copy_config(MAIN_ROOT, home / "plan"),
        endpoint_url=endpoint,
        region=str(variables["aws_region"]),
        plugin_dir=find_plugin_dir(),
    )
    cli.init()
    start = time.perf_counter()
    out = cli.run(
        "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-state={state}",
        *tf_vars_args(variables), check=False,
    )  # fmt: skip
    took = time.perf_counter() - start
    summary = next((ln for ln in out.splitlines() if ln.startswith(("Plan:", "No changes"))), "?")
    return took, summary


def _scenario(name: str, args: list[str], env: dict[str, str], reports: Path) -> tuple[str, str]:
    took, proc = _timed(
        [str(BIN / "scenario"), "run", "happy", *args, "--report-dir", str(reports), "--no-png"],
        env,
    )
    detail = _verdict(proc)
    for path in reports.glob("*/happy.json"):
        report = json.loads(path.read_text())
        provision = report["phases"][0].get("provision_s")
        setup = report["target_info"].get("rehearsal_setup_s") or {}
        detail = f"{'passed' if report['passed'] else 'FAILED'}; workspace apply {provision} s"
        if setup:
            detail += "; " + ", ".join(f"{k} {v}" for k, v in setup.items())
    print(f"{name}: {took:.1f} s ({detail})", flush=True)
    return name, f"{took:.1f} s ({detail})"


def run() -> list[tuple[str, str]]:
    ok, why = terraform_ready()
    if not ok:
        print(f"{why}: skipped", flush=True)
        return [("dual target benchmarks", f"skipped ({why})")]
    results: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-dual-") as tmp:
        home = Path(tmp)
        port = free_port()
        files = {
            "SQSKIT_STATE_DIR": str(home / "state"),
            "SQSKIT_ENV_FILE": str(home / ".env"),
            "SQSKIT_MAIN_STATE": str(home / "main.tfstate"),
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQSKIT_"))}
        env = {**base, **files, "SQSKIT_EMULATOR": "ministack", "SQSKIT_EMULATOR_PORT": str(port)}
        try:
            took, proc = _timed(["make", "-s", "local-up"], env)
            print(f"first make local-up: {took:.1f} s ({_verdict(proc)})", flush=True)
            results.append(("first make local-up (was 70 s)", f"{took:.1f} s, {_verdict(proc)}"))
            took, proc = _timed(["make", "-s", "local-up"], env)
            skipped = "skipped terraform" in proc.stdout
            print(f"repeated make local-up: {took:.1f} s (terraform skipped: {skipped})")
            results.append(
                ("repeated make local-up", f"{took:.2f} s, terraform skipped: {skipped}")
            )
            planned, summary = _plan_instead(
                home, f"http://127.0.0.1:{port}", home / "main.tfstate"
            )
            print(f"terraform plan of the same state instead: {planned:.1f} s ({summary})")
            results.append(
                ("  (a terraform plan instead of the skip)", f"{planned:.1f} s: {summary}")
            )
            if _docker_answers():
                rehearsal = {**env}
                rehearsal.pop("SQSKIT_EMULATOR")
                results.append(
                    _scenario(
                        "rehearsal of happy, reusing make local-up",
                        ["--target", "aws", "--emulator", "auto"],
                        rehearsal,
                        home / "reports-reuse",
                    )
                )
                cold = {**rehearsal, "SQSKIT_STATE_DIR": str(home / "no-local-up")}
                results.append(
                    _scenario(
                        "rehearsal of happy, no make local-up (private MiniStack)",
                        ["--target", "aws", "--emulator", "ministack"],
                        cold,
                        home / "reports-cold",
                    )
                )
            else:
                results.append(("rehearsals of happy", "skipped (no Docker engine answers)"))
        finally:
            took, proc = _timed(["make", "-s", "local-down"], env)
            print(f"make local-down: {took:.1f} s ({_verdict(proc)})", flush=True)
            results.append(("make local-down", f"{took:.1f} s, {_verdict(proc)}"))
            pidfile = home / "state" / "emulator.pid"
            if pidfile.exists():
                stop_pid(int(pidfile.read_text()))
    return results


if __name__ == "__main__":
    for label, value in run():
        print(f"{label:<60} {value}")
