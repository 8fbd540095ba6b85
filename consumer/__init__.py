"""sqs-kit consumer: an idempotent SQS worker (`python -m consumer`) and a library.

from consumer import Worker, WorkerConfig, Message

def handle(message: Message) -> None:
    ...  # return to complete, raise to retry / dead-letter

Worker(WorkerConfig.from_env(), handler=handle).run()
"""

from consumer.chaos import SimulatedWork, default_handler
from consumer.config import WorkerConfig
from consumer.effects import EffectsTable
from consumer.errors import ConfigError, ConsumerError, PoisonMessage
from consumer.message import Handler, Message
from consumer.worker import Counters, StopReason, Worker

__all__ = [
    "ConfigError",
    "ConsumerError",
    "Counters",
    "EffectsTable",
    "Handler",
    "Message",
    "PoisonMessage",
    "SimulatedWork",
    "StopReason",
    "Worker",
    "WorkerConfig",
    "default_handler",
]
