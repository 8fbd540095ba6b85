"""What a run sends: generated payloads or verbatim bodies, planned and checked before sending.

Generated payloads are ``{"id": <uuid4>, "work": <1..1000>, "sent_at": <epoch ms>}``; the id and
work come from a ``random.Random(seed)``, so a seed makes them reproducible, while ``sent_at`` is
stamped when the message actually goes out. Verbatim bodies are any strings SQS accepts; their
ledger id is the body's JSON ``id`` when there is one, else ``None``.

On a FIFO queue each message also gets its MessageGroupId and, unless the queue's content-based
deduplication is used, its MessageDeduplicationId here, once, so every retry reuses them.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from producer.config import DEDUP_PAYLOAD_ID, DEDUP_RANDOM, SendConfig, check_fifo_id
from producer.errors import ConfigError, MessageTooLarge
from producer.ledger import LedgerId

MIN_WORK = 1
MAX_WORK = 1000
# 13 digits: every epoch-ms timestamp between 2001 and 2286, so the size never changes.
_SIZING_SENT_AT = 9_999_999_999_999

# The characters SQS accepts in a message body; anything else fails the whole batch call.
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: ``body`` when verbatim, else a payload rendered at send time.

    ``seq`` is its place in the plan (0-based), ``ledger_id`` its payload id, ``work`` the
    generated work value. FIFO only: ``group`` (MessageGroupId), ``dedup_id``
    (MessageDeduplicationId, ``None`` with content-based deduplication) and ``duplicate``
    (its id was planned before: an intentional resend).
    """

    seq: int
    ledger_id: LedgerId
    size: int
    body: str | None = None
    work: int | None = None
    source: str = ""
    dedup_id: str | None = None
    group: str | None = None
    duplicate: bool = False

    def render(self, sent_at_ms: int) -> str:
        """The body as it goes on the wire, stamped with ``sent_at_ms`` if generated."""
        if self.body is not None:
            return self.body
        return _render_uuid_payload(str(self.ledger_id), self.work or MIN_WORK, sent_at_ms)


def render_payload(message_id: str, work: int, sent_at_ms: int) -> str:
    """The generated payload's JSON text."""
    return json.dumps({"id": message_id, "work": work, "sent_at": sent_at_ms})


def _render_uuid_payload(message_id: str, work: int, sent_at_ms: int) -> str:
    """`render_payload` for an id that needs no JSON escaping (the generated uuids).

    Byte for byte what ``json.dumps`` gives, several times faster; it runs once per message
    per attempt, on the sending path.
    """
    return f'{{"id": "{message_id}", "work": {work:d}, "sent_at": {sent_at_ms:d}}}'


# The size of a generated payload is this plus the digits of its work value (the uuid is always
# 36 ASCII characters and sent_at 13 digits).
_PAYLOAD_BASE_SIZE = len(render_payload(str(uuid.UUID(int=0)), 0, _SIZING_SENT_AT)) - 1


def plan(config: SendConfig) -> list[Outgoing]:
    """Every message of the run, in send order, each with its size in bytes.

    Raises `ConfigError` for a body file that cannot be read or a body SQS would refuse.
    """
    rng = random.Random(config.seed)  # reproducible test data, not secrets
    if config.bodies is not None:
        messages = _verbatim(
            ((f"bodies[{i}]", body) for i, body in enumerate(config.bodies)),
        )
    elif config.body_file is not None:
        messages = _verbatim(_read_body_file(config.body_file))
        if config.n is not None and config.n != len(messages):
            raise ConfigError(
                f"n={config.n} does not match the {len(messages)} bodies in {config.body_file}: "
                "leave --n unset to send every body"
            )
    else:
        messages = _generated(config.generated_count, config.duplicate_ids, rng)
    if config.is_fifo:
        messages = _fifo(messages, config)
    return messages


def _fifo(messages: Sequence[Outgoing], config: SendConfig) -> list[Outgoing]:
    """Give each message its group, its deduplication id and its resend mark, once."""
    seen: set[str | int] = set()
    groups: dict[object, str] = {}  # distinct key -> group, for the round-robin
    fifo = []
    for message in messages:
        key = message.ledger_id
        duplicate = key is not None and key in seen
        if key is not None:
            seen.add(key)
        group = _group(message, config, groups)
        fifo.append(
            replace(message, group=group, dedup_id=_dedup_id(message, config), duplicate=duplicate)
        )
    return fifo


def _group(message: Outgoing, config: SendConfig, groups: dict[object, str]) -> str:
    if config.group_key is not None:
        group = config.group_key(message)
        check_fifo_id(f"group_key's MessageGroupId for {_where(message)}", group)
        return group
    if config.group_ids is None:
        return config.message_group_id
    # Round-robin over distinct ids in plan order: a resend of an id joins its original's group,
    # so payload-id deduplication holds whatever the queue's DeduplicationScope.
    # An id-less body is its own key (a tuple never equals a payload id).
    key: object = message.ledger_id if message.ledger_id is not None else (message.seq,)
    if key not in groups:
        groups[key] = f"{config.message_group_id}-{len(groups) % config.group_ids}"
    return groups[key]


def _dedup_id(message: Outgoing, config: SendConfig) -> str | None:
    if config.dedup_id == DEDUP_RANDOM:
        # Not from the seed: a second run with the same seed must not be deduplicated away.
        return uuid.uuid4().hex
    if config.dedup_id == DEDUP_PAYLOAD_ID:
        if message.ledger_id is None:
            raise ConfigError(
                f"{_where(message)} has no id, which --dedup-id {DEDUP_PAYLOAD_ID} needs: give "
                'every body a JSON "id" or use --dedup-id random'
            )
        dedup = str(message.ledger_id)
        check_fifo_id(f"the id of {_where(message)} (--dedup-id {DEDUP_PAYLOAD_ID})", dedup)
        return dedup
    return None  # content: the queue hashes the body


def _where(message: Outgoing) -> str:
    return message.source or f"message {message.seq}"


def _generated(n: int, duplicate_fraction: float, rng: random.Random) -> list[Outgoing]:
    """``n`` messages in total; a ``duplicate_fraction`` of the distinct ids is sent twice."""
    if n == 0:
        return []
    distinct = max(1, int(n / (1 + duplicate_fraction) + 0.5))
    duplicates = n - distinct
    payloads = [
        (str(uuid.UUID(int=rng.getrandbits(128), version=4)), rng.randint(MIN_WORK, MAX_WORK))
        for _ in range(distinct)
    ]
    # (sort key, kind, payload index): an original sits at its index; its second copy at a
    # random later point, as a retrying upstream would resend it some time afterwards.
    order: list[tuple[float, int, int]] = [(float(i), 0, i) for i in range(distinct)]
    for index in sorted(rng.sample(range(distinct), duplicates)):
        order.append((rng.uniform(index, distinct), 1, index))
    order.sort()
    messages = []
    for seq, (_, _, index) in enumerate(order):
        message_id, work = payloads[index]
        size = _PAYLOAD_BASE_SIZE + len(str(work))  # ASCII: chars == bytes
        messages.append(Outgoing(seq=seq, ledger_id=message_id, size=size, work=work))
    return messages


def _verbatim(bodies: Iterable[tuple[str, str]]) -> list[Outgoing]:
    messages = []
    for seq, (source, body) in enumerate(bodies):
        if body == "":
            raise ConfigError(f"{source} is empty: SQS needs at least one character")
        bad = _INVALID_CHARS.search(body)
        if bad is not None:
            raise ConfigError(
                f"{source} contains {bad.group()!r} at position {bad.start()}, which SQS refuses "
                "in a message body (allowed: tab, newline, carriage return, U+0020..U+D7FF, "
                "U+E000..U+FFFD, U+10000..U+10FFFF)"
            )
        size = len(body.encode("utf-8"))
        messages.append(
            Outgoing(seq=seq, ledger_id=body_id(body), size=size, body=body, source=source)
        )
    return messages


def _read_body_file(path: Path) -> list[tuple[str, str]]:
    """One body per line, verbatim (without its line ending); empty lines are skipped."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"body file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read body file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"body file {path} is not UTF-8 (byte {exc.start})") from None
    bodies = []
    for number, line in enumerate(text.split("\n"), start=1):
        body = line.removesuffix("\r")
        if body:
            bodies.append((f"line {number} of {path}", body))
    if not bodies:
        raise ConfigError(f"body file {path} has no bodies (one per line)")
    return bodies


def body_id(body: str) -> LedgerId:
    """The body's JSON ``id`` (a string or an integer), or ``None`` if it has none."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("id")
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def check_sizes(messages: Sequence[Outgoing], limit: int, *, limit_source: str) -> None:
    """Refuse the run, before anything is sent, if any body is larger than ``limit`` bytes."""
    too_big = [m for m in messages if m.size > limit]
    if not too_big:
        return
    first = too_big[0]
    where = first.source or f"message {first.seq}"
    others = f" (and {len(too_big) - 1} more)" if len(too_big) > 1 else ""
    raise MessageTooLarge(
        f"{where} is {first.size} bytes, over the {limit}-byte limit ({limit_source}){others}; "
        "nothing was sent"
    )
