"""`send()`: plan, check, then pace batches to SQS, retry failed entries, write the ledger.

Nothing is dropped silently: every planned message ends as a ledger entry (accepted) or a
`Failure` (with the SQS error code and reason). Whole-call errors are botocore's to retry
(standard mode); if one still fails, the run stops with `SendAborted` carrying the partial report.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from producer.batching import pack
from producer.config import MAX_MESSAGE_SIZE_BYTES, SendConfig
from producer.errors import ConfigError, SendAborted
from producer.ledger import LedgerEntry, LedgerWriter
from producer.pacing import Pacer
from producer.payloads import Outgoing, check_sizes, plan
from producer.report import MISSING_FROM_RESPONSE, NOT_SENT, Failure, Progress, SendReport

log = logging.getLogger("producer")

ProgressCallback = Callable[[Progress], None]

_MISSING_QUEUE_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


def send(
    config: SendConfig,
    *,
    sqs: Any = None,
    on_progress: ProgressCallback | None = None,
) -> SendReport:
    """Send what ``config`` describes and report what SQS accepted.

    ``sqs`` is a boto3 SQS client (built from the config when ``None``); ``on_progress`` gets a
    `Progress` after every SendMessageBatch call. Raises `ConfigError` (nothing sent) for bad
    input, `MessageTooLarge` for a body over the queue's limit, `SendAborted` if a call fails
    outright part-way.
    """
    messages = plan(config)
    client = sqs if sqs is not None else build_client(config)
    limit, limit_source = _message_size_limit(client, config)
    check_sizes(messages, limit, limit_source=limit_source)
    return _Run(config, client, messages, on_progress).execute()


def build_client(config: SendConfig) -> Any:
    """A boto3 SQS client with the kit's standard botocore retry mode."""
    from scenarios.aws import client

    return client(
        "sqs", endpoint_url=config.endpoint_url, region=config.region, profile=config.profile
    )


def _message_size_limit(client: Any, config: SendConfig) -> tuple[int, str]:
    """The largest body the queue takes; reading it also proves the queue exists."""
    if config.max_message_size is not None:
        return config.max_message_size, "max_message_size setting"
    try:
        attrs = client.get_queue_attributes(
            QueueUrl=config.queue_url, AttributeNames=["MaximumMessageSize"]
        )
    except ClientError as exc:
        code = _error_code(exc)
        if code in _MISSING_QUEUE_CODES:
            raise ConfigError(
                f"queue {config.queue_url} does not exist: check --queue-url / QUEUE_URL "
                "and the endpoint"
            ) from exc
        if code in {"AccessDenied", "AccessDeniedException"}:
            log.warning(
                "producer.queue.attributes_denied",
                extra={"queue_url": config.queue_url, "assumed_limit": MAX_MESSAGE_SIZE_BYTES},
            )
            return MAX_MESSAGE_SIZE_BYTES, "SQS maximum; the queue's own limit was unreadable"
        raise SendAborted(
            f"cannot read the attributes of {config.queue_url}: {code}: {_error_message(exc)}",
            report=_empty_report(config),
        ) from exc
    except BotoCoreError as exc:
        raise SendAborted(
            f"cannot reach SQS for {config.queue_url}: {exc}", report=_empty_report(config)
        ) from exc
    raw = attrs.get("Attributes", {}).get("MaximumMessageSize")
    try:
        return int(raw), "the queue's MaximumMessageSize"
    except (TypeError, ValueError):
        return MAX_MESSAGE_SIZE_BYTES, "SQS maximum; the queue reported no MaximumMessageSize"


def _empty_report(config: SendConfig) -> SendReport:
    return SendReport(
        requested=0,
        sent=0,
        failed=0,
        elapsed_s=0.0,
        target_rate=config.rate,
        batches=0,
        retried_entries=0,
        failures=(),
        ledger=(),
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


class _Run:
    """The state of one run; `execute` is the whole algorithm."""

    def __init__(
        self,
        config: SendConfig,
        client: Any,
        messages: Sequence[Outgoing],
        on_progress: ProgressCallback | None,
    ) -> None:
        self.config = config
        self.client = client
        self.messages = messages
        self.on_progress = on_progress
        self.pacer = Pacer(config.rate)
        self.accepted: list[LedgerEntry] = []
        self._accepted_seqs: set[int] = set()
        self.failures: list[Failure] = []
        self.batches = 0
        self.retried = 0
        self._jitter = random.Random()  # jitter, apart from the payload seed

    def execute(self) -> SendReport:
        config = self.config
        log.info(
            "producer.send.started",
            extra={
                "total": len(self.messages),
                "rate": config.rate,
                "batch_size": config.batch_size,
                "queue_url": config.queue_url,
            },
        )
        with LedgerWriter(config.ledger) as ledger:
            self.pacer.start()
            self._progress()
            cumulative = 0
            for batch in pack(self.messages, config.batch_size):
                cumulative += len(batch)
                self.pacer.wait_for(cumulative)
                try:
                    self._send_batch(batch, ledger)
                except (ClientError, BotoCoreError) as exc:
                    raise self._abort(exc, batch, cumulative) from exc
                self._progress()
        report = self._report()
        log.info(
            "producer.send.finished",
            extra={
                "sent": report.sent,
                "failed": report.failed,
                "elapsed_s": round(report.elapsed_s, 3),
                "achieved_rate": round(report.achieved_rate, 2),
            },
        )
        return report

    def _send_batch(self, batch: list[Outgoing], ledger: LedgerWriter) -> None:
        """One batch, with its failed entries retried under the config's `RetryPolicy`."""
        policy = self.config.retry
        pending = batch
        attempt = 1
        while pending:
            self.batches += 1
            sent_at = int(time.time() * 1000)
            response = self.client.send_message_batch(
                QueueUrl=self.config.queue_url,
                Entries=[self._entry(m, sent_at) for m in pending],
            )
            by_entry_id = {str(m.seq): m for m in pending}
            accepted: list[tuple[int, LedgerEntry]] = []
            for ok in response.get("Successful", []):
                message = by_entry_id.pop(str(ok["Id"]), None)
                if message is not None:
                    self._accepted_seqs.add(message.seq)
                    accepted.append(
                        (message.seq, LedgerEntry(message.ledger_id, str(ok["MessageId"]), sent_at))
                    )
            accepted.sort(key=lambda pair: pair[0])
            ledger.write(entry for _, entry in accepted)
            self.accepted.extend(entry for _, entry in accepted)

            retry: list[Outgoing] = []
            reasons: set[str] = set()
            failed_entries: list[dict[str, Any]] = list(response.get("Failed", []))
            # An entry in neither list is not known to be accepted: it counts as failed.
            failed_ids = {str(f.get("Id")) for f in failed_entries}
            failed_entries += [
                {
                    "Id": entry_id,
                    "Code": MISSING_FROM_RESPONSE,
                    "Message": "SQS reported neither success nor failure for this entry",
                    "SenderFault": False,
                }
                for entry_id in by_entry_id
                if entry_id not in failed_ids
            ]
            for failed in failed_entries:
                message = by_entry_id.pop(str(failed.get("Id")), None)
                if message is None:
                    continue
                code = str(failed.get("Code", "Unknown"))
                sender_fault = bool(failed.get("SenderFault", False))
                if sender_fault or attempt >= policy.max_attempts:
                    self._fail(message, code, str(failed.get("Message", "")), sender_fault, attempt)
                else:
                    retry.append(message)
                    reasons.add(code)
            if retry:
                delay = policy.delay(attempt, self._jitter.random())
                log.warning(
                    "producer.entries.retrying",
                    extra={
                        "entries": len(retry),
                        "codes": ",".join(sorted(reasons)),
                        "attempt": attempt + 1,
                        "delay_s": round(delay, 3),
                    },
                )
                self.retried += len(retry)
                time.sleep(delay)
            pending = sorted(retry, key=lambda m: m.seq)
            attempt += 1

    def _entry(self, message: Outgoing, sent_at: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": str(message.seq), "MessageBody": message.render(sent_at)}
        if message.dedup_id is not None:
            entry["MessageGroupId"] = self.config.message_group_id
            entry["MessageDeduplicationId"] = message.dedup_id
        return entry

    def _fail(
        self, message: Outgoing, code: str, text: str, sender_fault: bool, attempts: int
    ) -> None:
        reason = f"{code}: {text}" if text else code
        if not sender_fault and attempts > 1:
            reason += f" (still failing after {attempts} attempts)"
        self.failures.append(
            Failure(
                seq=message.seq,
                id=message.ledger_id,
                code=code,
                reason=reason,
                sender_fault=sender_fault,
                attempts=attempts,
            )
        )
        log.error(
            "producer.entry.failed",
            extra={"seq": message.seq, "id": message.ledger_id, "code": code, "reason": reason},
        )

    def _abort(self, exc: Exception, batch: list[Outgoing], cumulative: int) -> SendAborted:
        """Record the in-flight batch as unknown and the rest as not sent; build the error."""
        if isinstance(exc, ClientError):
            code, text = _error_code(exc), _error_message(exc)
        else:
            code, text = type(exc).__name__, str(exc)
        settled = {f.seq for f in self.failures} | self._accepted_seqs
        accepted_count = len(self.accepted)
        # Entries accepted or failed on an earlier attempt of this batch are already settled.
        for message in batch:
            if message.seq in settled:
                continue
            self.failures.append(
                Failure(
                    seq=message.seq,
                    id=message.ledger_id,
                    code=code,
                    reason=f"SendMessageBatch failed ({code}: {text}); delivery unknown",
                    sender_fault=False,
                    attempts=1,
                )
            )
        for message in self.messages[cumulative:]:
            self.failures.append(
                Failure(
                    seq=message.seq,
                    id=message.ledger_id,
                    code=NOT_SENT,
                    reason=f"not sent: the run stopped after {code}",
                    sender_fault=False,
                    attempts=0,
                )
            )
        report = self._report()
        log.error(
            "producer.send.aborted",
            extra={"code": code, "sent": accepted_count, "failed": report.failed},
        )
        return SendAborted(
            f"SendMessageBatch failed ({code}: {text}) after {report.sent} of "
            f"{report.requested} messages were accepted; the ledger lists those",
            report=report,
        )

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    sent=len(self.accepted),
                    failed=len(self.failures),
                    total=len(self.messages),
                    elapsed_s=self.pacer.elapsed(),
                )
            )

    def _report(self) -> SendReport:
        return SendReport(
            requested=len(self.messages),
            sent=len(self.accepted),
            failed=len(self.failures),
            elapsed_s=self.pacer.elapsed(),
            target_rate=self.config.rate,
            batches=self.batches,
            retried_entries=self.retried,
            failures=tuple(sorted(self.failures, key=lambda f: f.seq)),
            ledger=tuple(self.accepted),
        )
