"""`send()`: plan, check, then pace batches to SQS, retry failed entries, write the ledger.

Nothing is dropped silently: every planned message ends as a ledger entry (accepted) or a
`Failure` (with the SQS error code and reason). Whole-call errors are botocore's to retry
(standard mode); if one still fails, the run stops with `SendAborted` carrying the partial report.

At rate 0 up to ``config.in_flight`` calls run at once on a thread pool sharing the one client
(botocore clients are thread-safe); FIFO queues and paced runs send one call at a time.

On a FIFO queue a message's group and deduplication id are fixed by the plan, and its body is
rendered once: every retry, and botocore's resend of a whole call, is byte for byte the first
attempt, so SQS deduplicates it rather than delivering it twice.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.aws import client as aws_client
from core.aws import retry_config
from producer.batching import pack
from producer.config import DEDUP_CONTENT, MAX_MESSAGE_SIZE_BYTES, SendConfig
from producer.errors import ConfigError, SendAborted
from producer.ledger import LedgerEntry, LedgerId, LedgerWriter
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
    `Progress` on the calling thread as batches finish. Raises `ConfigError` (nothing sent) for bad
    input, `MessageTooLarge` for a body over the queue's limit, `SendAborted` if a call fails
    outright part-way.
    """
    messages = plan(config)
    client = sqs if sqs is not None else build_client(config)
    limit, limit_source = _read_queue(client, config)
    check_sizes(messages, limit, limit_source=limit_source)
    return _Run(config, client, messages, on_progress).execute()


def build_client(config: SendConfig) -> Any:
    """A boto3 SQS client with the kit's standard botocore retry mode.

    Its connection pool holds at least one connection per call the run keeps in flight.
    """
    pool = Config(max_pool_connections=max(10, config.in_flight))
    return aws_client(
        "sqs",
        endpoint_url=config.endpoint_url,
        region=config.region,
        profile=config.profile,
        config=retry_config().merge(pool),
    )


def _read_queue(client: Any, config: SendConfig) -> tuple[int, str]:
    """The largest body the queue takes, checking what the run needs of the queue on the way.

    One GetQueueAttributes call (none if nothing needs reading) also proves the queue exists and,
    for ``--dedup-id content``, that its ContentBasedDeduplication is on.
    """
    names = []
    if config.max_message_size is None:
        names.append("MaximumMessageSize")
    content = config.is_fifo and config.dedup_id == DEDUP_CONTENT
    if content:
        names.append("ContentBasedDeduplication")
    attrs = _queue_attributes(client, config, names) if names else {}
    if content and attrs is not None:
        _check_content_based(config, attrs.get("ContentBasedDeduplication"))
    if config.max_message_size is not None:
        return config.max_message_size, "max_message_size setting"
    if attrs is None:
        return MAX_MESSAGE_SIZE_BYTES, "SQS maximum; the queue's own limit was unreadable"
    try:
        return int(attrs["MaximumMessageSize"]), "the queue's MaximumMessageSize"
    except (KeyError, TypeError, ValueError):
        return MAX_MESSAGE_SIZE_BYTES, "SQS maximum; the queue reported no MaximumMessageSize"


def _queue_attributes(client: Any, config: SendConfig, names: list[str]) -> dict[str, str] | None:
    """The queue's ``names`` attributes; ``None`` when access to them is denied."""
    try:
        attrs = client.get_queue_attributes(QueueUrl=config.queue_url, AttributeNames=names)
    except ClientError as exc:
        code = _error_code(exc)
        if code in _MISSING_QUEUE_CODES:
            raise ConfigError(
                f"queue {config.queue_url} does not exist: check --queue-url / QUEUE_URL "
                "and the endpoint"
            ) from exc
        if code in {"AccessDenied", "AccessDeniedException"}:
            # SQS still enforces both itself; the report lists whatever it refuses.
            log.warning(
                "producer.queue.attributes_denied",
                extra={
                    "queue_url": config.queue_url,
                    "attributes": ",".join(names),
                    "assumed_limit": MAX_MESSAGE_SIZE_BYTES,
                },
            )
            return None
        raise SendAborted(
            f"cannot read the attributes of {config.queue_url}: {code}: {_error_message(exc)}",
            report=_empty_report(config),
        ) from exc
    except BotoCoreError as exc:
        raise SendAborted(
            f"cannot reach SQS for {config.queue_url}: {exc}", report=_empty_report(config)
        ) from exc
    return dict(attrs.get("Attributes", {}))


def _check_content_based(config: SendConfig, value: str | None) -> None:
    if value is not None and value.lower() == "true":
        return
    state = "has it off" if value is not None else "does not report it"
    raise ConfigError(
        f"--dedup-id {DEDUP_CONTENT} needs ContentBasedDeduplication=true on the queue, and "
        f"{config.queue_url} {state}: enable it on the queue, or use --dedup-id random or "
        "payload-id"
    )


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


def _describe(exc: Exception) -> tuple[str, str]:
    """(code, text) of a call-level failure."""
    if isinstance(exc, ClientError):
        return _error_code(exc), _error_message(exc)
    return type(exc).__name__, str(exc)


def _first(pair: tuple[int, LedgerEntry]) -> int:
    return pair[0]


def _first_seq(pair: tuple[Outgoing, Any]) -> int:
    return pair[0].seq


def _seq(message: Outgoing) -> int:
    return message.seq


class _Run:
    """The state of one run; `execute` is the whole algorithm.

    With ``in_flight > 1`` the batches are sent from a thread pool; everything the workers
    touch (the ledger file, the accepted list, the failures, the counters) is guarded by
    ``_lock``, and the progress callback is only ever called from the calling thread.
    """

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
        self.in_flight = config.in_flight
        self.pacer = Pacer(config.rate)
        #: (seq, entry) in completion order, as the ledger file has them.
        self.accepted: list[tuple[int, LedgerEntry]] = []
        self.failures: list[Failure] = []
        self.batches = 0
        self.retried = 0
        self._lock = threading.Lock()
        self._ledger: LedgerWriter | None = None
        self._jitter = random.Random()  # jitter, apart from the payload seed
        # FIFO bookkeeping, under the lock: the next seq_in_group, and the highest plan seq
        # accepted so far, per group.
        self._next_in_group: dict[str, int] = {}
        self._last_seq_in_group: dict[str, int] = {}
        # Content-based deduplication hashes the body, so a resend must repeat the original's
        # bytes (its sent_at too): the first body of every id that the plan sends again.
        self._resent: set[LedgerId] = set()
        if config.is_fifo and config.dedup_id == DEDUP_CONTENT:
            self._resent = {m.ledger_id for m in messages if m.duplicate}
        self._first_bodies: dict[LedgerId, str] = {}

    def execute(self) -> SendReport:
        config = self.config
        if config.max_in_flight not in (None, 1) and self.in_flight == 1:
            log.info(
                "producer.in_flight.forced",
                extra={
                    "max_in_flight": config.max_in_flight,
                    "in_flight": 1,
                    "reason": "FIFO queue" if config.is_fifo else "rate > 0",
                },
            )
        log.info(
            "producer.send.started",
            extra={
                "total": len(self.messages),
                "rate": config.rate,
                "batch_size": config.batch_size,
                "in_flight": self.in_flight,
                "queue_url": config.queue_url,
                **self._fifo_context(),
            },
        )
        with LedgerWriter(config.ledger) as ledger:
            self._ledger = ledger
            self.pacer.start()
            self._progress()
            if self.in_flight == 1:
                self._send_serially()
            else:
                self._send_pipelined()
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

    def _fifo_context(self) -> dict[str, Any]:
        config = self.config
        if not config.is_fifo:
            return {}
        groups = len({m.group for m in self.messages})
        return {"groups": groups, "dedup_id": config.dedup_id}

    def _send_serially(self) -> None:
        """One call at a time, each batch when its last message is due (the paced path)."""
        cumulative = 0
        for batch in pack(self.messages, self.config.batch_size):
            cumulative += len(batch)
            self.pacer.wait_for(cumulative)
            try:
                self._send_batch(batch)
            except (ClientError, BotoCoreError) as exc:
                raise self._abort([(batch, exc)], cumulative) from exc
            self._progress()

    def _send_pipelined(self) -> None:
        """Up to ``in_flight`` batches at once (rate 0 only; the pacer never waits).

        A call that fails outright stops new submissions; the batches already in flight are
        waited for and their outcomes recorded before `SendAborted` is raised.
        """
        batches = pack(self.messages, self.config.batch_size)
        running: dict[Future[None], list[Outgoing]] = {}
        failed: list[tuple[list[Outgoing], ClientError | BotoCoreError]] = []
        unexpected: BaseException | None = None
        submitted = 0  # batches are submitted in plan order, so this is a prefix of the plan
        exhausted = False
        with ThreadPoolExecutor(
            max_workers=self.in_flight, thread_name_prefix="producer-send"
        ) as pool:
            while True:
                stopping = bool(failed) or unexpected is not None
                if not stopping and not exhausted and len(running) < self.in_flight:
                    batch = next(batches, None)
                    if batch is not None:
                        running[pool.submit(self._send_batch, batch)] = batch
                        submitted += len(batch)
                        continue
                    exhausted = True
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = running.pop(future)
                    exc = future.exception()
                    if exc is None:
                        continue
                    if isinstance(exc, ClientError | BotoCoreError):
                        failed.append((batch, exc))
                    elif unexpected is None:
                        unexpected = exc
                self._progress()
        if unexpected is not None:
            raise unexpected
        if failed:
            raise self._abort(failed, submitted) from failed[0][1]

    def _send_batch(self, batch: list[Outgoing]) -> None:
        """One batch, with its failed entries retried under the config's `RetryPolicy`.

        Safe to run in several threads at once: the call and the backoff sleep happen outside
        the lock; the bookkeeping of each response (ledger write and flush included) inside it.
        """
        policy = self.config.retry
        ledger = self._ledger
        assert ledger is not None
        queue_url = self.config.queue_url
        pending = batch
        attempt = 1
        fifo_bodies: dict[int, str] = {}  # seq -> body, so FIFO retries resend the same bytes
        while pending:
            sent_at = int(time.time() * 1000)
            entries = [self._entry(m, sent_at, fifo_bodies) for m in pending]
            response = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            by_entry_id = {entry["Id"]: m for entry, m in zip(entries, pending, strict=True)}
            oks: list[tuple[Outgoing, Any]] = []
            for ok in response.get("Successful", ()):
                message = by_entry_id.pop(str(ok["Id"]), None)
                if message is not None:
                    oks.append((message, ok))
            oks.sort(key=_first_seq)

            retry: list[Outgoing] = []
            reasons: set[str] = set()
            jitter = 0.0
            with self._lock:
                self.batches += 1
                accepted = [
                    (m.seq, self._ledger_entry(m, ok, sent_at, fifo_bodies)) for m, ok in oks
                ]
                ledger.write(entry for _, entry in accepted)
                self.accepted.extend(accepted)
                if by_entry_id:
                    failed_entries: list[dict[str, Any]] = list(response.get("Failed", ()))
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
                            self._fail(
                                message, code, str(failed.get("Message", "")), sender_fault, attempt
                            )
                        else:
                            retry.append(message)
                            reasons.add(code)
                    if retry:
                        self.retried += len(retry)
                        jitter = self._jitter.random()
            if retry:
                delay = policy.delay(attempt, jitter)
                log.warning(
                    "producer.entries.retrying",
                    extra={
                        "entries": len(retry),
                        "codes": ",".join(sorted(reasons)),
                        "attempt": attempt + 1,
                        "delay_s": round(delay, 3),
                    },
                )
                time.sleep(delay)
            pending = sorted(retry, key=_seq)
            attempt += 1

    def _entry(
        self, message: Outgoing, sent_at: int, fifo_bodies: dict[int, str]
    ) -> dict[str, Any]:
        if message.group is None:
            return {"Id": str(message.seq), "MessageBody": message.render(sent_at)}
        body = fifo_bodies.get(message.seq)
        if body is None:
            body = fifo_bodies[message.seq] = self._first_body(message, sent_at)
        entry: dict[str, Any] = {
            "Id": str(message.seq),
            "MessageBody": body,
            "MessageGroupId": message.group,
        }
        if message.dedup_id is not None:
            entry["MessageDeduplicationId"] = message.dedup_id
        return entry

    def _first_body(self, message: Outgoing, sent_at: int) -> str:
        """A FIFO message's first body (for a content-deduplicated resend, its original's)."""
        key = message.ledger_id
        if key not in self._resent:
            return message.render(sent_at)
        with self._lock:
            body = self._first_bodies.get(key)
            if body is None:
                body = self._first_bodies[key] = message.render(sent_at)
        return body

    def _ledger_entry(
        self, message: Outgoing, ok: Any, sent_at: int, fifo_bodies: dict[int, str]
    ) -> LedgerEntry:
        """The ledger line of an accepted message; called under the lock, in plan order."""
        if message.group is None:
            return LedgerEntry(message.ledger_id, str(ok["MessageId"]), sent_at)
        group = message.group
        position = self._next_in_group.get(group, 0)
        self._next_in_group[group] = position + 1
        if message.seq < self._last_seq_in_group.get(group, -1):
            # A retried entry landed after later messages of its group: SQS now holds the
            # group out of plan order. seq_in_group records the order SQS has.
            log.warning(
                "producer.fifo.reordered",
                extra={"group": group, "seq": message.seq, "id": message.ledger_id},
            )
        else:
            self._last_seq_in_group[group] = message.seq
        dedup_id = message.dedup_id
        if dedup_id is None:  # content-based: what SQS computes, so the oracle can compare
            dedup_id = hashlib.sha256(fifo_bodies[message.seq].encode("utf-8")).hexdigest()
        sequence_number = ok.get("SequenceNumber")
        return LedgerEntry(
            message.ledger_id,
            str(ok["MessageId"]),
            sent_at,
            group=group,
            dedup_id=dedup_id,
            seq_in_group=position,
            sequence_number=None if sequence_number is None else str(sequence_number),
            duplicate=message.duplicate,
        )

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

    def _abort(
        self,
        failed: Sequence[tuple[list[Outgoing], ClientError | BotoCoreError]],
        submitted: int,
    ) -> SendAborted:
        """Record the failed calls' batches as unknown and the unsubmitted rest as not sent.

        Called once no call is in flight any more, so every other batch is already settled.
        ``submitted`` counts the messages (a prefix of the plan) whose batches were handed out.
        """
        first_code, first_text = _describe(failed[0][1])
        settled = {f.seq for f in self.failures} | {seq for seq, _ in self.accepted}
        accepted_count = len(self.accepted)
        for batch, exc in failed:
            code, text = _describe(exc)
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
        for message in self.messages[submitted:]:
            self.failures.append(
                Failure(
                    seq=message.seq,
                    id=message.ledger_id,
                    code=NOT_SENT,
                    reason=f"not sent: the run stopped after {first_code}",
                    sender_fault=False,
                    attempts=0,
                )
            )
        report = self._report()
        log.error(
            "producer.send.aborted",
            extra={"code": first_code, "sent": accepted_count, "failed": report.failed},
        )
        return SendAborted(
            f"SendMessageBatch failed ({first_code}: {first_text}) after {report.sent} of "
            f"{report.requested} messages were accepted; the ledger lists those",
            report=report,
        )

    def _progress(self) -> None:
        if self.on_progress is not None:
            with self._lock:
                progress = Progress(
                    sent=len(self.accepted),
                    failed=len(self.failures),
                    total=len(self.messages),
                    elapsed_s=self.pacer.elapsed(),
                )
            self.on_progress(progress)

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
            ledger=tuple(entry for _, entry in sorted(self.accepted, key=_first)),
        )
