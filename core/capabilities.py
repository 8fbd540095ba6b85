"""Capability names: what the conformance probe proves and what scenarios declare they need.

A scenario that needs a capability the probe did not prove is skipped with the reason, or
shimmed (``sqs.move_task`` missing -> a manual receive/send/delete redrive).
"""

from __future__ import annotations

SQS_BASIC = "sqs.basic"  # create/send/receive/delete, MD5s, attributes
SQS_VISIBILITY = "sqs.visibility"  # in-flight messages are hidden, then redelivered
SQS_RECEIVE_COUNT = "sqs.receive_count"  # ApproximateReceiveCount and receive timestamps
SQS_DLQ = "sqs.dlq"  # moved to the DLQ on the receive after maxReceiveCount
SQS_LONG_POLL = "sqs.long_poll"  # WaitTimeSeconds waits, and wakes early on a send
SQS_CHANGE_VISIBILITY = "sqs.change_visibility"  # release (0) and extend (heartbeat)
SQS_VISIBILITY_LIMIT = "sqs.visibility_limit"  # a timeout above 12 h is rejected
SQS_BATCH_LIMITS = "sqs.batch_limits"  # 10 entries, distinct ids, MaxNumberOfMessages <= 10
SQS_SIZE_LIMITS = "sqs.size_limits"  # 1 MiB per message and per batch
SQS_RECEIPT_HANDLES = "sqs.receipt_handles"  # garbage and stale handles are rejected
SQS_MOVE_TASK = "sqs.move_task"  # StartMessageMoveTask / ListMessageMoveTasks
SQS_COUNTERS = "sqs.counters"  # ApproximateNumberOfMessages(NotVisible)
SQS_DELAY = "sqs.delay"  # DelaySeconds
SQS_PURGE = "sqs.purge"  # PurgeQueue
SQS_EXPIRED_HANDLE = "sqs.expired_handle"  # ChangeMessageVisibility after expiry (disputed)
SQS_ATTRIBUTE_MD5 = "sqs.attribute_md5"  # MD5OfMessageAttributes, absent without attributes
SQS_MAX_MESSAGE_SIZE = "sqs.max_message_size"  # the MaximumMessageSize attribute: 1 MiB, enforced
SQS_DLQ_CHAIN = "sqs.dlq_chain"  # a DLQ with its own redrive policy passes messages on
SQS_DLQ_SOURCE_ARN = "sqs.dlq_source_arn"  # DeadLetterQueueSourceArn on dead-lettered messages
SQS_REDRIVE_AS_NEW = "sqs.redrive_as_new"  # a redriven message is new: receive count 1 again
SQS_MOVE_TASK_RULES = "sqs.move_task_rules"  # DLQ sources only, one task, rate, RUNNING
SQS_FIFO = "sqs.fifo"  # .fifo names, MessageGroupId required, SequenceNumber
SQS_FIFO_GROUP_ORDER = "sqs.fifo_group_order"  # in order per group; blocked while in flight
SQS_FIFO_DEDUP = "sqs.fifo_dedup"  # 5-minute deduplication window, content-based dedup
SQS_FIFO_DEDUP_SCOPE = "sqs.fifo_dedup_scope"  # DeduplicationScope queue | messageGroup
SQS_FIFO_DELAY = "sqs.fifo_delay"  # queue-level DelaySeconds only
SQS_FIFO_RECEIVE_ATTEMPT = "sqs.fifo_receive_attempt"  # ReceiveRequestAttemptId retries
SQS_FIFO_DLQ = "sqs.fifo_dlq"  # FIFO dead-letter queue with its redrive
SQS_FIFO_MOVE_TASK = "sqs.fifo_move_task"  # StartMessageMoveTask out of a FIFO DLQ
DDB_CONDITIONAL = "ddb.conditional"  # conditional put/update, atomic counters
DDB_RETURN_VALUES_ON_FAILURE = "ddb.return_values_on_condition_failure"
DDB_TRANSACTIONS = "ddb.transactions"  # TransactWriteItems, atomic, CancellationReasons
DDB_TTL = "ddb.ttl"  # UpdateTimeToLive / DescribeTimeToLive
ECS_API = "ecs.api"  # clusters, task definitions, RunTask accepted
ECS_RUNS_CONTAINERS = "ecs.runs_containers"  # RunTask really runs the container

ALL: frozenset[str] = frozenset(
    {
        SQS_BASIC,
        SQS_VISIBILITY,
        SQS_RECEIVE_COUNT,
        SQS_DLQ,
        SQS_LONG_POLL,
        SQS_CHANGE_VISIBILITY,
        SQS_VISIBILITY_LIMIT,
        SQS_BATCH_LIMITS,
        SQS_SIZE_LIMITS,
        SQS_RECEIPT_HANDLES,
        SQS_MOVE_TASK,
        SQS_COUNTERS,
        SQS_DELAY,
        SQS_PURGE,
        SQS_EXPIRED_HANDLE,
        SQS_ATTRIBUTE_MD5,
        SQS_MAX_MESSAGE_SIZE,
        SQS_DLQ_CHAIN,
        SQS_DLQ_SOURCE_ARN,
        SQS_REDRIVE_AS_NEW,
        SQS_MOVE_TASK_RULES,
        SQS_FIFO,
        SQS_FIFO_GROUP_ORDER,
        SQS_FIFO_DEDUP,
        SQS_FIFO_DEDUP_SCOPE,
        SQS_FIFO_DELAY,
        SQS_FIFO_RECEIVE_ATTEMPT,
        SQS_FIFO_DLQ,
        SQS_FIFO_MOVE_TASK,
        DDB_CONDITIONAL,
        DDB_RETURN_VALUES_ON_FAILURE,
        DDB_TRANSACTIONS,
        DDB_TTL,
        ECS_API,
        ECS_RUNS_CONTAINERS,
    }
)
