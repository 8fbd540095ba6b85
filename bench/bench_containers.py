"""Container numbers: image sizes, start-to-first-receive, docker vs process wall time.

Needs a Docker engine and the images (``.ci/docker-setup.sh start`` or
``python -m local.docker build all``); without them every line says why it is missing.
The emulator is the embedded MiniStack on a free loopback port, the consumers run with host
networking, so the comparison is the runner alone.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_SECRET_ACCESS_KEY,
    EV_COMPLETED,
    EV_CONSUMER_STARTED,
    EV_RECEIVED,
)
from scenarios.model import ConsumerSettings

IMAGES = ("sqs-kit-consumer:local", "sqs-kit-ministack:local", "sqs-kit-base:trixie")
CONSUMER_IMAGE = os.environ.get("SQSKIT_CONSUMER_IMAGE", "sqs-kit-consumer:local")
START_SAMPLES = 3
WORKLOAD_MESSAGES = 200
WORKLOAD_CONSUMERS = 3
FAST_ENV = {
    **ConsumerSettings(
        wait_time_seconds=1, sleep_min_seconds=0, sleep_max_seconds=0, idle_timeout_seconds=2
    ).to_env(),
    **EMULATOR_CREDENTIALS,
}


def _say(label: str, value: str, out: list[tuple[str, str]]) -> None:
    print(f"{label:<62} {value}", flush=True)
    out.append((label, value))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _MiniStack:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "GATEWAY_PORT": str(self.port), "BIND_HOST": "127.0.0.1"}
        env["LOG_LEVEL"] = "WARNING"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ministack"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded MiniStack did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _stack(endpoint: str) -> tuple[Any, Any]:
    from core.provisioners.api import ApiProvisioner
    from core.stack import StackSpec, unique_prefix

    provisioner = ApiProvisioner(endpoint_url=endpoint, region="us-east-1")
    spec = StackSpec(prefix=unique_prefix("bench"), visibility_timeout=10, receive_wait=1)
    return provisioner, provisioner.provision(spec)


def _send(handle: Any, n: int) -> None:
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=handle.endpoint_url,
        region_name=handle.region,
        aws_access_key_id=FAST_ENV[ENV_AWS_ACCESS_KEY_ID],
        aws_secret_access_key=FAST_ENV[ENV_AWS_SECRET_ACCESS_KEY],
    )
    for start in range(0, n, 10):
        sqs.send_message_batch(
            QueueUrl=handle.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"id": f"b-{start + i}"})}
                for i in range(min(10, n - start))
            ],
        )


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00")).timestamp()


def _start_to_first_receive(runner_factory: Any, endpoint: str) -> tuple[float, float]:
    """Seconds from launch to consumer.started and to the first message.received."""
    provisioner, handle = _stack(endpoint)
    runner = runner_factory()
    try:
        _send(handle, 1)
        t0 = time.time()
        runner.start(1, env={**handle.consumer_env(), **FAST_ENV})
        deadline = time.monotonic() + 60
        started = received = None
        while time.monotonic() < deadline and received is None:
            for e in runner.events():
                if e["event"] == EV_CONSUMER_STARTED and started is None:
                    started = _ts(e) - t0
                if e["event"] == EV_RECEIVED and received is None:
                    received = _ts(e) - t0
            time.sleep(0.02)
        if started is None or received is None:
            raise RuntimeError("no message.received within 60 s")
        return started, received
    finally:
        runner.stop_all(timeout=5)
        provisioner.destroy(handle)


def _workload(runner_factory: Any, endpoint: str) -> float:
    """Wall time for N consumers to drain WORKLOAD_MESSAGES and exit (idle 2 s included)."""
    provisioner, handle = _stack(endpoint)
    runner = runner_factory()
    try:
        _send(handle, WORKLOAD_MESSAGES)
        t0 = time.monotonic()
        runner.start(WORKLOAD_CONSUMERS, env={**handle.consumer_env(), **FAST_ENV})
        if not runner.wait_all(timeout=300):
            raise RuntimeError("consumers did not finish within 300 s")
        took = time.monotonic() - t0
        done = sum(e["event"] == EV_COMPLETED for e in runner.events())
        if done < WORKLOAD_MESSAGES:
            raise RuntimeError(f"only {done}/{WORKLOAD_MESSAGES} completed")
        return took
    finally:
        runner.stop_all(timeout=5)
        provisioner.destroy(handle)


def _scenario_wall(runner: str) -> str:
    # the embedded MiniStack on a free port, so both runs start from the same clean slate
    exe = Path(sys.executable).with_name("scenario")
    argv = [str(exe), "run", "happy", "--target", "local", "--runner", runner]
    argv += ["--emulator", "ministack", "--emulator-port", str(_free_port())]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"n/a ({type(exc).__name__})"
    took = time.monotonic() - t0
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return f"n/a (exit {proc.returncode}: {last[0][:60]})"
    return f"{took:.1f} s"


def run() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    from local.docker.engine import docker_runner_available
    from scenarios.runners.docker import DockerRunner

    ok, why = docker_runner_available(CONSUMER_IMAGE)
    if not ok:
        _say("docker runner", f"n/a ({why})", out)
        return out
    import docker

    client = docker.from_env()
    for image in IMAGES:
        try:
            size = client.images.get(image).attrs["Size"]
            budget = " (budget 200 MB)" if image == CONSUMER_IMAGE else ""
            _say(f"image size {image}", f"{size / 1e6:.0f} MB{budget}", out)
        except docker.errors.ImageNotFound:
            _say(f"image size {image}", "n/a (not built)", out)
    client.close()

    from scenarios.runners.process import ProcessRunner

    logs = Path(tempfile.mkdtemp(prefix="bench-containers-"))
    factories = {
        "docker": lambda: DockerRunner(CONSUMER_IMAGE, log_dir=logs / "docker"),
        "process": lambda: ProcessRunner(logs / "process"),
    }
    emulator = _MiniStack()
    try:
        for name, factory in factories.items():
            samples = [_start_to_first_receive(factory, emulator.endpoint) for _ in range(3)]
            started = statistics.median(s for s, _ in samples)
            received = statistics.median(r for _, r in samples)
            _say(f"{name}: launch -> consumer.started (median of 3)", f"{started:.2f} s", out)
            _say(
                f"{name}: launch -> first message.received (median of 3)", f"{received:.2f} s", out
            )
        for name, factory in factories.items():
            took = _workload(factory, emulator.endpoint)
            _say(
                f"{name}: {WORKLOAD_CONSUMERS} consumers drain {WORKLOAD_MESSAGES} msgs + exit",
                f"{took:.1f} s",
                out,
            )
    finally:
        emulator.stop()
    for name in ("docker", "process"):
        _say(f"scenario happy --target local --runner {name} (wall)", _scenario_wall(name), out)
    return out


if __name__ == "__main__":
    run()
