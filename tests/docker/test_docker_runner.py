"""DockerRunner end to end: the consumer image against the container emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.stack import unique_prefix
from local.docker.engine import LABEL_MANAGED, LABEL_RUN, docker_runner_available
from scenarios.model import RestartPolicy
from scenarios.runners.docker import DockerRunner
from tests.docker.conftest import FAST_CONSUMER_ENV, EmulatorContainer, send_messages

pytestmark = pytest.mark.docker


@pytest.fixture
def runner(consumer_image: str, tmp_path: Path) -> Iterator[DockerRunner]:
    r = DockerRunner(consumer_image, run_id=unique_prefix("t"), log_dir=tmp_path / "logs")
    try:
        yield r
    finally:
        r.stop_all(timeout=5)
        r.cleanup()


def _run_containers(client: Any, run_id: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}))


def test_two_consumers_complete_every_message_and_exit_cleanly(
    runner: DockerRunner, container_stack: Any, docker_client: Any
) -> None:
    ids = send_messages(container_stack, 30)
    handles = runner.start(2, env={**container_stack.consumer_env(), **FAST_CONSUMER_ENV})
    # the containers carry the run's labels while they run
    labels = [c.labels for c in _run_containers(docker_client, runner.run_id)]
    assert len(labels) == 2
    assert all(lb[LABEL_MANAGED] == "true" for lb in labels)

    assert runner.wait_all(timeout=120)
    events = runner.events()
    completed = Counter(e["message_id"] for e in events if e["event"] == "message.completed")
    assert set(completed) == set(ids)
    assert max(completed.values()) == 1
    assert [h.exit_codes for h in handles] == [[0], [0]]
    assert {e["consumer_id"] for e in events} == {h.consumer_id for h in handles}
    assert runner.log_dir is not None
    saved = (runner.log_dir / f"{handles[0].consumer_id}.log").read_text()
    assert '"consumer.started"' in saved

    runner.stop_all(timeout=5)
    assert _run_containers(docker_client, runner.run_id) == []


def test_a_crashed_consumer_is_restarted_and_work_still_completes(
    runner: DockerRunner, container_stack: Any
) -> None:
    ids = send_messages(container_stack, 8)
    env = {**container_stack.consumer_env(), **FAST_CONSUMER_ENV, "CRASH_AFTER_RECEIVE": "3"}
    (handle,) = runner.start(1, env=env, restart=RestartPolicy.ON_FAILURE)
    assert runner.wait_all(timeout=180)
    events = runner.events(handle)
    completed = {e["message_id"] for e in events if e["event"] == "message.completed"}
    # each incarnation crashes (exit 3) on its 3rd message, a new one takes over
    assert completed == set(ids)
    assert handle.exit_codes[:-1] and set(handle.exit_codes[:-1]) == {3}
    assert handle.exit_codes[-1] == 0
    assert len({i.consumer_id for i in handle.incarnations}) == len(handle.incarnations)


def test_sigkill_shows_as_137_and_sigterm_drains_with_0(
    runner: DockerRunner, container_stack: Any
) -> None:
    env = {**container_stack.consumer_env(), **FAST_CONSUMER_ENV, "IDLE_TIMEOUT_SECONDS": "0"}
    killed, drained = runner.start(2, env=env, restart=RestartPolicy.NEVER)
    _wait_for_event(runner, "consumer.started", count=2)
    runner.signal(killed, signal.SIGKILL)
    runner.signal(drained, signal.SIGTERM)
    assert runner.wait_all(timeout=60)
    assert killed.exit_codes == [137]  # as on ECS: 128 + SIGKILL
    assert drained.exit_codes == [0]
    assert killed.current.signals_sent == ["SIGKILL"]


def test_auto_detection_reports_a_missing_image(require_docker: str) -> None:
    ok, reason = docker_runner_available("sqs-kit-no-such-image:never")
    assert not ok
    assert "not built" in reason


def test_auto_detection_accepts_the_built_image(consumer_image: str) -> None:
    ok, reason = docker_runner_available(consumer_image)
    assert ok, reason


def test_ctrl_c_leaves_no_orphan_containers(
    consumer_image: str, container_stack: Any, docker_client: Any
) -> None:
    # GIVEN a caller that starts two long-running consumers and is then interrupted
    run_id = unique_prefix("int")
    env = {**container_stack.consumer_env(), **FAST_CONSUMER_ENV, "IDLE_TIMEOUT_SECONDS": "0"}
    script = textwrap.dedent(
        f"""
        import signal, sys, time
        # a parent shell may have left SIGINT ignored; Ctrl-C must raise KeyboardInterrupt
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from scenarios.runners.docker import DockerRunner
        r = DockerRunner({consumer_image!r}, run_id={run_id!r})
        r.start(2, env={env!r})
        print("started", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        assert len(_run_containers(docker_client, run_id)) == 2
        # WHEN it gets Ctrl-C
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # THEN its containers are gone
    assert _run_containers(docker_client, run_id) == []


def _wait_for_event(runner: DockerRunner, name: str, *, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e["event"] == name for e in runner.events()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} x {name} not seen in {timeout} s")


def test_emulator_is_a_container(emulator_container: EmulatorContainer) -> None:
    assert emulator_container.kind in {"localstack", "ministack"}


def test_the_settled_stop_goes_to_an_image_that_declares_it_not_to_one_that_predates_it(
    consumer_image: str, container_stack: Any, docker_client: Any, tmp_path: Path
) -> None:
    import io

    from consumer.contract import IMAGE_LABEL_SETTLED_STOP, SIGNAL_SETTLED_STOP
    from scenarios.runners import get_runner
    from scenarios.settings import PluggedConsumer

    # GIVEN the built image, and a copy labelled as an image built before the settled stop
    older = f"sqs-kit-consumer:pre-settled-{unique_prefix('t')}"
    dockerfile = f'FROM {consumer_image}\nLABEL {IMAGE_LABEL_SETTLED_STOP}=""\n'
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=older, rm=True)
    try:
        tag = consumer_image.rsplit(":", 1)[1]
        kit = get_runner("docker", log_dir=tmp_path / "kit", image_tag=tag)
        assert kit.settled_stop_signal == SIGNAL_SETTLED_STOP
        stale = DockerRunner(older, run_id=unique_prefix("t"), log_dir=tmp_path / "old")
        assert stale.image_settled_stop() is None
        # a user's image never gets it, whatever it is built from
        byo = get_runner("docker", log_dir=tmp_path / "byo", plug=PluggedConsumer(image=older))
        assert byo.settled_stop_signal is None
    finally:
        docker_client.images.remove(older, force=True)
    # WHEN a started consumer of the kit's image is stopped at the end of a settled phase
    assert isinstance(kit, DockerRunner)
    env = {**container_stack.consumer_env(), **FAST_CONSUMER_ENV, "WAIT_TIME_SECONDS": "20"}
    env["IDLE_TIMEOUT_SECONDS"] = "0"
    try:
        (handle,) = kit.start(1, env=env, restart=RestartPolicy.NEVER)
        _wait_for_event(kit, "consumer.started", count=1)
        kit.stop_all(timeout=30, settled=True)
        # THEN it got SIGUSR1, drained and exited 0
        assert handle.current.signals_sent == [SIGNAL_SETTLED_STOP.name]
        assert handle.exit_codes == [0]
        (signalled,) = [e for e in kit.events(handle) if e["event"] == "consumer.signal"]
        assert signalled["signal"] == SIGNAL_SETTLED_STOP.name
        assert signalled["abandon_poll"] is True, "the consumer knew it as the settled stop"
    finally:
        kit.cleanup()
