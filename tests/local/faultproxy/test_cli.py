"""``python -m local.faultproxy``: bad input (unit tier) and a real process (integration tier)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from local.faultproxy import fastpath, read_records
from local.faultproxy.__main__ import EXIT_INFRA, EXIT_OK, EXIT_USAGE, main
from tests.local.faultproxy.conftest import client, unique

THROTTLE_ONCE = """\
name: cli
rules:
  - service: sqs
    operation: SendMessage
    fault: throttle
    max_fires: 1
"""


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--plan", "{bad}"], "error: --plan {bad}: rules[0].fault: unknown fault 'explode'"),
        (["--plan", "{missing}"], "cannot read the plan file"),
        (
            ["--upstream", "https://example.invalid"],
            "error: --upstream: upstream 'https://example.invalid' is invalid: use http://HOST:PORT",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - service: sqs\n    fault: explode\n")
    argv = [a.format(bad=bad, missing=tmp_path / "missing.yaml") for a in args]
    if "--upstream" not in argv:
        argv += ["--upstream", "http://127.0.0.1:1"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == EXIT_USAGE
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert expected.format(bad=bad) in lines[0]


@pytest.mark.unit
def test_upstream_is_required_and_port_is_range_checked() -> None:
    missing = CliRunner().invoke(main, [])
    assert missing.exit_code == EXIT_USAGE
    assert "--upstream" in missing.output
    bad_port = CliRunner().invoke(main, ["--upstream", "http://127.0.0.1:1", "--port", "70000"])
    assert bad_port.exit_code == EXIT_USAGE
    assert "--port" in bad_port.output


@pytest.mark.unit
def test_fastpath_takes_three_modes_and_on_without_a_compiler_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = CliRunner().invoke(main, ["--upstream", "http://127.0.0.1:1", "--fastpath", "fast"])
    assert bad.exit_code == EXIT_USAGE
    assert "--fastpath" in bad.output and "'auto', 'on', 'off'" in bad.output
    # GIVEN no compiler on PATH and nothing built in this process yet
    monkeypatch.setattr(fastpath, "_loaded", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    refused = CliRunner().invoke(main, ["--upstream", "http://127.0.0.1:1", "--fastpath", "on"])
    assert refused.exit_code == EXIT_INFRA
    assert refused.output.strip() == (
        "error: --fastpath on: no C compiler on PATH (cc, gcc or clang; or set CC); "
        "use --fastpath auto or off"
    )


@contextlib.contextmanager
def _proxy_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.faultproxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        yield process, endpoint
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.integration
def test_the_process_relays_faults_records_and_stops_on_sigterm(
    emulator_endpoint: str, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(THROTTLE_ONCE)
    record = tmp_path / "calls.jsonl"
    direct = client("sqs", emulator_endpoint)
    url = direct.create_queue(QueueName=unique("cli"))["QueueUrl"]
    try:
        with _proxy_process(
            "--upstream", emulator_endpoint, "--plan", str(plan), "--record", str(record)
        ) as (process, endpoint):
            assert endpoint.startswith("http://127.0.0.1:"), process.stderr
            sqs = client("sqs", endpoint)
            sent = sqs.send_message(QueueUrl=url, MessageBody="via cli")
            assert sent["ResponseMetadata"]["RetryAttempts"] == 1
            # SIGHUP re-reads the plan: now every send is throttled
            plan.write_text(THROTTLE_ONCE.replace("max_fires: 1", "max_fires: 99"))
            process.send_signal(signal.SIGHUP)
            assert _throttled_soon(client("sqs", endpoint, max_attempts=1), url)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == EXIT_OK
            assert process.stderr is not None
            events = process.stderr.read()
        assert '"event":"faultproxy.plan_set"' in events
        assert '"event":"faultproxy.stopped"' in events
        faults, calls = read_records(record)
        assert faults[0].kind == "throttle" and faults[0].plan == "cli"
        assert [c.status for c in calls if c.operation == "SendMessage"][:2] == [403, 200]
    finally:
        direct.delete_queue(QueueUrl=url)


@pytest.mark.integration
def test_signals_arriving_while_c_relays_do_not_fail_a_call(
    require_compiled_relay: None, emulator_endpoint: str, tmp_path: Path
) -> None:
    # GIVEN the proxy process relaying in C, with a plan file that has no rule
    plan = tmp_path / "quiet.yaml"
    plan.write_text("name: quiet\nrules: []\n")
    direct = client("sqs", emulator_endpoint)
    url = direct.create_queue(QueueName=unique("cli-signals"))["QueueUrl"]
    stop = threading.Event()
    try:
        with _proxy_process(
            "--upstream", emulator_endpoint, "--plan", str(plan), "--fastpath", "on"
        ) as (process, endpoint):
            assert endpoint.startswith("http://127.0.0.1:"), process.stderr
            sqs = client("sqs", endpoint, max_attempts=1)  # a failed call is not retried

            def hang_ups() -> None:  # interrupts whichever thread the kernel picks
                while not stop.wait(0.005):
                    process.send_signal(signal.SIGHUP)

            sender = threading.Thread(target=hang_ups, daemon=True)
            sender.start()
            # WHEN SIGHUP arrives every few milliseconds during 150 calls on one connection
            sent = [sqs.send_message(QueueUrl=url, MessageBody=f"m{i}") for i in range(150)]
            stop.set()
            sender.join(30)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == EXIT_OK
            assert process.stderr is not None
            events = [json.loads(line) for line in process.stderr.read().splitlines()]
        # THEN every call succeeded at its first attempt, and C relayed them
        assert all(s["ResponseMetadata"]["RetryAttempts"] == 0 for s in sent)
        stopped = [e for e in events if e["event"] == "faultproxy.stopped"]
        assert stopped[0]["compiled_calls"] >= 149
        assert sum(e["event"] == "faultproxy.plan_set" for e in events) > 10, "signals arrived"
    finally:
        stop.set()
        direct.delete_queue(QueueUrl=url)


def _throttled_soon(sqs: Any, url: str) -> bool:
    """The reload is asynchronous (a signal): try a few sends, bounded."""
    for _ in range(50):
        try:
            sqs.send_message(QueueUrl=url, MessageBody="after reload")
        except ClientError as exc:
            return bool(exc.response["Error"]["Code"] == "RequestThrottled")
        time.sleep(0.1)
    return False


@pytest.mark.integration
def test_a_port_in_use_is_an_infrastructure_error(emulator_endpoint: str) -> None:
    with contextlib.closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "local.faultproxy",
                "--upstream",
                emulator_endpoint,
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == EXIT_INFRA
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another --port" in result.stderr
