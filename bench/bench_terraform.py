"""Terraform: what fidelity costs next to the API provisioner.

- tflocal apply + destroy of the main infrastructure (terraform/) on an embedded MiniStack
  (desired_count=0: the service exists, no task is started);
- provision + destroy of one scenario stack with each provisioner (terraform = tflocal and the
  per-scenario root, api = boto3);
- one scenario (`scenario run happy --target local --runner process`) with
  `--provisioner terraform` next to `--provisioner api`, wall time of the whole CLI run.

The AWS provider waits ~25 s after creating each SQS queue, and the queue waits for its DLQ,
so a Terraform stack costs at least ~50 s whatever the machine. Skipped (with the reason) when
terraform or the provider mirror is missing.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.provisioners.api import ApiProvisioner
from core.provisioners.base import Provisioner
from core.provisioners.terraform import TerraformProvisioner
from core.stack import StackSpec, unique_prefix
from core.terraform import MAIN_ROOT
from core.terraform.cli import copy_config
from core.terraform.main_infra import MainInfrastructure
from core.terraform.mirror import find_provider_mirror
from local.emulators import embedded

SCENARIO = "happy"
SCENARIO_TIMEOUT_S = 900


def _main_infrastructure(endpoint: str, tmp: Path) -> tuple[float, float]:
    main = MainInfrastructure(
        endpoint_url=endpoint,
        workdir=copy_config(MAIN_ROOT, tmp / "main"),
        variables={"project_name": f"bench-{secrets.token_hex(3)}", "desired_count": 0},
    )
    main.init()
    start = time.perf_counter()
    try:
        main.apply()
        applied = time.perf_counter() - start
    finally:
        start_destroy = time.perf_counter()
        main.destroy()
    return applied, time.perf_counter() - start_destroy


def _stack(provisioner: Provisioner, prefix: str) -> tuple[float, float]:
    spec = StackSpec(prefix=prefix, max_message_size=262_144)
    start = time.perf_counter()
    handle = provisioner.provision(spec)
    created = time.perf_counter() - start
    start = time.perf_counter()
    provisioner.destroy(handle)
    return created, time.perf_counter() - start


def _scenario(provisioner: str, report_dir: Path) -> tuple[float, int]:
    scenario = shutil.which("scenario") or str(Path(sys.executable).parent / "scenario")
    cmd = [
        scenario,
        "run",
        SCENARIO,
        "--target",
        "local",
        "--emulator",
        "ministack",
        "--runner",
        "process",
        "--provisioner",
        provisioner,
        "--no-png",
        "--report-dir",
        str(report_dir),
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S, check=False
    )
    return time.perf_counter() - start, proc.returncode


def run() -> list[tuple[str, str]]:
    if shutil.which("terraform") is None or find_provider_mirror() is None:
        print("terraform or the hashicorp/aws mirror is missing: skipped", flush=True)
        return [("terraform benchmarks", "skipped (no terraform / provider mirror)")]
    results: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-tf-") as tmp_name:
        tmp = Path(tmp_name)
        emulator = embedded("ministack", None, ready_timeout=20.0)
        emulator.start()
        try:
            endpoint = emulator.endpoint
            applied, destroyed = _main_infrastructure(endpoint, tmp)
            print(f"main infrastructure: apply {applied:.1f} s, destroy {destroyed:.1f} s")
            results += [
                ("main infrastructure: tflocal apply", f"{applied:.1f} s"),
                ("main infrastructure: tflocal destroy", f"{destroyed:.1f} s"),
                ("main infrastructure: apply + destroy", f"{applied + destroyed:.1f} s"),
            ]
            tf = TerraformProvisioner(
                endpoint_url=endpoint, region="us-east-1", state_dir=tmp / "states"
            )
            api = ApiProvisioner(endpoint_url=endpoint, region="us-east-1")
            for name, provisioner in (("terraform", tf), ("api", api)):
                created, removed = _stack(provisioner, unique_prefix(f"bench{name[:2]}"))
                print(f"stack via {name}: provision {created:.2f} s, destroy {removed:.2f} s")
                results += [
                    (f"one stack, {name} provisioner: provision", f"{created:.2f} s"),
                    (f"one stack, {name} provisioner: destroy", f"{removed:.2f} s"),
                ]
        finally:
            emulator.stop()
        for name in ("terraform", "api"):
            elapsed, rc = _scenario(name, tmp / f"reports-{name}")
            verdict = "passed" if rc == 0 else f"exit {rc}"
            print(f"scenario {SCENARIO} --provisioner {name}: {elapsed:.1f} s ({verdict})")
            results.append(
                (f"scenario {SCENARIO}, --provisioner {name} (wall)", f"{elapsed:.1f} s, {verdict}")
            )
    return results


if __name__ == "__main__":
    for label, value in run():
        print(f"{label:<55} {value}")
