"""Embedded emulator lifecycle: start, ready, stop, port in use, no orphans (integration)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import boto3
import pytest

from core.errors import EmulatorUnavailable
from local.emulators import EMBEDDED, embedded
from local.emulators.base import answers, free_port, identify, port_in_use, wait_until
from local.emulators.embedded import EmbeddedEmulator, pid_alive, stop_pid

KINDS = sorted(EMBEDDED)


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_start_ready_stop(kind, tmp_path):
    emulator = embedded(kind, None, log_dir=tmp_path, ready_timeout=20.0)
    with emulator:
        pid = emulator.pid
        assert pid is not None and pid_alive(pid)
        assert emulator.ready(0)
        assert identify(emulator.endpoint) == kind
        assert emulator.time_to_ready is not None
        assert emulator.log_path.parent == tmp_path
    # stopped: the process is gone and the port is free again
    assert not pid_alive(pid)
    assert not port_in_use(emulator.port)
    assert not emulator.ready(0)
    emulator.stop()  # idempotent


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_reset_drops_every_queue(kind, tmp_path):
    with embedded(kind, None, log_dir=tmp_path, ready_timeout=20.0) as emulator:
        sqs = boto3.client("sqs", endpoint_url=emulator.endpoint, region_name="us-east-1")
        sqs.create_queue(QueueName="reset-me")
        assert sqs.list_queues().get("QueueUrls")
        emulator.reset()
        assert not sqs.list_queues().get("QueueUrls")


@pytest.mark.integration
def test_port_already_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        emulator = embedded("ministack", port, log_dir=tmp_path)
        with pytest.raises(EmulatorUnavailable, match=f"port {port} .*already in use"):
            emulator.start()
        assert emulator.pid is None


class _Crashing(EmbeddedEmulator):
    name = "crashing"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(4)"]

    @property
    def reset_url(self) -> str:
        return self.endpoint

    def capabilities(self) -> frozenset[str]:
        return frozenset()


@pytest.mark.integration
def test_a_child_that_dies_at_start_is_reported_with_its_log(tmp_path):
    emulator = _Crashing(use_free_port=True, log_dir=tmp_path, ready_timeout=10)
    with pytest.raises(EmulatorUnavailable, match=r"exited with code 4[\s\S]*boom: bad config"):
        emulator.start()


_PARENT = textwrap.dedent(
    """
    import sys, time
    from local.emulators import embedded
    e = embedded(sys.argv[1], None, ready_timeout=20.0)
    e.start()
    print(e.pid, e.port, flush=True)
    time.sleep(120)
    """
)


def _spawn_parent(kind: str) -> tuple[subprocess.Popen[str], int, int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, kind],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    assert parent.stdout is not None
    line = parent.stdout.readline().split()
    assert line, "the parent did not start its emulator"
    return parent, int(line[0]), int(line[1])


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_no_orphan_when_the_caller_is_killed(kind):
    # GIVEN a python process that started an emulator
    parent, child, port = _spawn_parent(kind)
    try:
        assert pid_alive(child) and answers(f"http://127.0.0.1:{port}")
        # WHEN the caller dies without any chance to clean up
        parent.kill()
        parent.wait()
        # THEN the kernel takes the emulator down with it
        assert wait_until(lambda: not pid_alive(child), 10), f"emulator {child} orphaned"
    finally:
        stop_pid(child)


@pytest.mark.integration
def test_no_orphan_after_ctrl_c():
    parent, child, _ = _spawn_parent("ministack")
    try:
        parent.send_signal(signal.SIGINT)  # KeyboardInterrupt -> atexit stops the emulator
        parent.wait(timeout=15)
        assert wait_until(lambda: not pid_alive(child), 10), f"emulator {child} orphaned"
    finally:
        stop_pid(child)
        if parent.poll() is None:
            parent.kill()


@pytest.mark.integration
def test_detached_emulator_outlives_its_starter_and_stops_by_pid(tmp_path):
    port = free_port()
    code = (
        "from local.emulators import embedded;"
        f"e = embedded('ministack', {port}, detached=True, log_dir={str(tmp_path)!r});"
        "e.start(); print(e.pid)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pid = int(out.stdout.split()[-1])
    try:
        time.sleep(0.3)
        assert pid_alive(pid) and answers(f"http://127.0.0.1:{port}")
        # a recycled PID is never signalled: the marker must be in its command line
        assert stop_pid(pid, marker="not-this-process") is False and pid_alive(pid)
        assert stop_pid(pid, marker="ministack") is True
        assert not pid_alive(pid)
    finally:
        stop_pid(pid)
