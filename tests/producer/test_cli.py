"""The `produce` CLI via click's CliRunner: flags, env precedence, exit codes, output."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from click.testing import CliRunner

from producer import SendConfig
from producer import sender as sender_module
from producer.cli import produce
from producer.exit_codes import EXIT_ABORTED, EXIT_CONFIG, EXIT_SEND_FAILED
from tests.producer.conftest import FaultyClient, drain

pytestmark = pytest.mark.unit


@pytest.fixture
def run(monkeypatch):
    for name in ("QUEUE_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("PRODUCE_"):
            monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(produce, list(args), env=env or {}, auto_envvar_prefix="PRODUCE")

    return invoke


def _count(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def test_defaults_send_ten_messages(run, sqs, queue_url):
    result = run("--queue-url", queue_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("sent 10/10 in ")
    assert _count(sqs, queue_url) == 10


def test_json_summary(run, sqs, queue_url):
    result = run("--queue-url", queue_url, "--n", "25", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sent"] == 25 and summary["failed"] == 0 and summary["failures"] == []
    assert summary["elapsed"] >= 0 and summary["achieved_rate"] > 0
    assert {"sent", "failed", "elapsed", "achieved_rate"} <= set(summary)


def test_batch_size_out_of_range_is_a_usage_error(run, sqs, queue_url):
    result = run("--queue-url", queue_url, "--batch-size", "11")
    assert result.exit_code == 2
    assert "Invalid value for '--batch-size': 11 is not in the range 1<=x<=10" in result.output
    assert _count(sqs, queue_url) == 0


def test_missing_queue_url_is_a_usage_error(run):
    result = run("--n", "1")
    assert result.exit_code == 2
    assert "Missing option '--queue-url'" in result.output
    assert "QUEUE_URL" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rate", "-1"], "Invalid value for '--rate'"),
        (["--duplicate-ids", "2"], "Invalid value for '--duplicate-ids'"),
        (["--n", "x"], "Invalid value for '--n'"),
        (["--body-file", "/nonexistent/poison.jsonl"], "does not exist"),
    ],
)
def test_bad_flags_are_usage_errors(run, queue_url, args, expected):
    result = run("--queue-url", queue_url, *args)
    assert result.exit_code == 2
    assert expected in result.output


def test_config_conflicts_are_usage_errors(run, queue_url, tmp_path):
    bodies = tmp_path / "b.jsonl"
    bodies.write_text("a\nb\n")
    result = run("--queue-url", queue_url, "--body-file", str(bodies), "--duplicate-ids", "0.5")
    assert result.exit_code == 2
    assert "applies to generated payloads only" in result.output


def test_fifo_flags_on_a_standard_queue_are_usage_errors(run, sqs, queue_url):
    result = run("--queue-url", queue_url, "--group-ids", "3")
    assert result.exit_code == EXIT_CONFIG
    assert "group_ids (--group-ids, PRODUCE_GROUP_IDS) applies to FIFO queues only" in result.output
    result = run("--queue-url", queue_url, "--dedup-id", "payload-id")
    assert result.exit_code == EXIT_CONFIG
    assert "applies to FIFO queues only" in result.output
    assert _count(sqs, queue_url) == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--group-ids", "0"],
            "Invalid value for '--group-ids': 0 is not in the range 1<=x<=10000",
        ),
        (["--dedup-id", "uuid"], "Invalid value for '--dedup-id': 'uuid' is not one of"),
    ],
)
def test_bad_fifo_flags_are_usage_errors(run, make_queue, args, expected):
    result = run("--queue-url", make_queue(FifoQueue="true"), *args)
    assert result.exit_code == EXIT_CONFIG
    assert expected in result.output


def test_fifo_groups_and_dedup_mode_via_cli(run, sqs, make_queue, tmp_path):
    # GIVEN a FIFO queue, 3 groups from the environment, payload-id deduplication, resent ids
    url = make_queue(FifoQueue="true")
    ledger = tmp_path / "sent.jsonl"
    result = run(
        "--queue-url", url, "--n", "12", "--seed", "3", "--duplicate-ids", "0.5",
        "--dedup-id", "payload-id", "--ledger", str(ledger), "--json", "-q",
        env={"PRODUCE_GROUP_IDS": "3"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # THEN the ledger has the FIFO fields, and SQS dropped the 4 resends
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert {line["group"] for line in lines} == {"sqs-kit-0", "sqs-kit-1", "sqs-kit-2"}
    assert all(line["dedup_id"] == line["id"] for line in lines)
    assert [line["duplicate"] for line in lines].count(True) == 4
    assert len(drain(sqs, url)) == 8


def test_content_dedup_without_the_queue_attribute_exits_2(run, sqs, make_queue):
    url = make_queue(FifoQueue="true")
    result = run("--queue-url", url, "--dedup-id", "content")
    assert result.exit_code == EXIT_CONFIG
    assert "Error: --dedup-id content needs ContentBasedDeduplication=true" in result.stderr
    assert _count(sqs, url) == 0


def test_queue_url_from_env_and_flag_wins(run, sqs, make_queue):
    from_env, from_flag = make_queue(), make_queue()
    result = run("--n", "3", env={"QUEUE_URL": from_env})
    assert result.exit_code == 0, result.output
    result = run("--n", "4", "--queue-url", from_flag, env={"QUEUE_URL": from_env})
    assert result.exit_code == 0, result.output
    assert (_count(sqs, from_env), _count(sqs, from_flag)) == (3, 4)


def test_other_options_from_produce_env(run, sqs, queue_url):
    result = run("--json", "-q", env={"QUEUE_URL": queue_url, "PRODUCE_N": "12"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] == 12
    result = run("--n", "2", "--json", "-q", env={"QUEUE_URL": queue_url, "PRODUCE_N": "12"})
    assert json.loads(result.stdout)["sent"] == 2
    result = run(env={"QUEUE_URL": queue_url, "PRODUCE_BATCH_SIZE": "0"})
    assert result.exit_code == 2


def test_ledger_and_seed_via_cli(run, sqs, make_queue, tmp_path):
    ledgers = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        result = run("--queue-url", make_queue(), "--n", "11", "--seed", "5", "--ledger", str(path))
        assert result.exit_code == 0, result.output
        # Sorted: with calls in flight at once, the file follows the order responses came back.
        ledgers.append(sorted(json.loads(line)["id"] for line in path.read_text().splitlines()))
    assert ledgers[0] == ledgers[1] and len(ledgers[0]) == 11


def test_body_file_sends_every_body_by_default(run, sqs, queue_url, tmp_path):
    path = tmp_path / "poison.jsonl"
    path.write_text('{"id": "p"}\nnot json\n{"truncated": \n')
    result = run("--queue-url", queue_url, "--body-file", str(path), "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] == 3
    assert sorted(m["Body"] for m in drain(sqs, queue_url)) == sorted(
        ['{"id": "p"}', "not json", '{"truncated": ']
    )


def test_oversize_body_exits_2_and_sends_nothing(run, sqs, make_queue, tmp_path):
    url = make_queue(MaximumMessageSize="1024")
    path = tmp_path / "big.jsonl"
    path.write_text("small\n" + "b" * 2000 + "\n")
    result = run("--queue-url", url, "--body-file", str(path))
    assert result.exit_code == EXIT_CONFIG
    assert "line 2 of" in result.output and "over the 1024-byte limit" in result.output
    assert _count(sqs, url) == 0


def test_failed_entries_give_a_non_zero_exit_and_are_listed(run, sqs, queue_url, monkeypatch):
    def fail_third(entry):
        if entry["Id"] == "2":
            return {"Code": "InternalError", "Message": "injected", "SenderFault": False}
        return None

    monkeypatch.setattr(sender_module, "build_client", lambda _c: FaultyClient(sqs, fail_third))
    result = run("--queue-url", queue_url, "--n", "5", "--retry-attempts", "1", "--json")
    assert result.exit_code == EXIT_SEND_FAILED
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["failed"]) == (4, 1)
    assert summary["failures"][0]["code"] == "InternalError"
    assert "failed: seq 2" in result.stderr and "InternalError: injected" in result.stderr
    # The structured log record, rendered as text on stderr.
    assert "error producer.entry.failed seq=2" in result.stderr


def test_a_failed_call_exits_3_with_a_partial_summary(run, sqs, queue_url, monkeypatch):
    monkeypatch.setattr(
        sender_module, "build_client", lambda _c: FaultyClient(sqs, raise_on_call=2)
    )
    result = run("--queue-url", queue_url, "--n", "20", "--json", "-q")
    assert result.exit_code == EXIT_ABORTED
    assert json.loads(result.stdout)["sent"] == 10
    assert "Error: SendMessageBatch failed (ServiceUnavailable" in result.stderr


def test_plain_progress_lines_when_not_a_tty(run, queue_url):
    result = run("--queue-url", queue_url, "--n", "30")
    assert result.exit_code == 0
    assert "produce: 30/30 done, 30 sent, 0 failed" in result.stderr
    quiet = run("--queue-url", queue_url, "--n", "30", "--quiet")
    assert "produce:" not in quiet.stderr


def test_help_has_worked_examples(run):
    result = run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "produce --n 500 --rate 50" in result.output
    assert "env var: QUEUE_URL" in result.output and "PRODUCE_RATE" in result.output


def test_flags_map_onto_send_config(run, queue_url, monkeypatch, tmp_path):
    seen: list[SendConfig] = []

    def fake_send(config, **_):
        seen.append(config)
        from producer.report import SendReport

        return SendReport(0, 0, 0, 0.0, config.rate, 0, 0, (), ())

    monkeypatch.setattr("producer.cli.send", fake_send)
    ledger = str(tmp_path / "l.jsonl")
    result = run(
        "--queue-url", queue_url, "--n", "7", "--rate", "2.5", "--batch-size", "3",
        "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:9", "--seed", "4",
        "--duplicate-ids", "0.1", "--ledger", ledger, "--max-message-size", "2048",
        "--retry-attempts", "2",
    )  # fmt: skip
    fifo = run("--queue-url", f"{queue_url}.fifo", "--group-ids", "5", "--dedup-id", "content")
    assert fifo.exit_code == 0, fifo.output
    assert result.exit_code == 0, result.output
    config, fifo_config = seen
    assert (config.n, config.rate, config.batch_size, config.seed) == (7, 2.5, 3, 4)
    assert (config.region, config.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9")
    assert (config.duplicate_ids, config.max_message_size, config.retry.max_attempts) == (
        0.1,
        2048,
        2,
    )
    assert config.ledger == tmp_path / "l.jsonl"
    assert (config.group_ids, config.dedup_id) == (None, "random")
    assert (fifo_config.group_ids, fifo_config.dedup_id) == (5, "content")
