"""A plain boto3 SQS consumer with NO idempotency: what the kit exists to catch.

It applies its side effect (one item in EFFECTS_TABLE per execution), then deletes the message.
A redelivery (a visibility overrun, a crash between the effect and the delete) applies the
effect again. `scenario run duplicates --consumer-cmd "python examples/naive-python/consumer.py"`
exits 1 and names the ids whose effect was applied twice.
"""

import json
import os
import random
import signal
import threading
import time
import uuid

import boto3

sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
queue, table = os.environ["QUEUE_URL"], os.environ["EFFECTS_TABLE"]
me = os.environ.get("CONSUMER_ID", f"naive-{os.getpid()}")
low = float(os.environ.get("SLEEP_MIN_SECONDS", "0"))
high = float(os.environ.get("SLEEP_MAX_SECONDS", "0"))
stopping = threading.Event()  # SIGTERM (the kit's stop): finish the message in hand, exit 0
signal.signal(signal.SIGTERM, lambda *_: stopping.set())

while not stopping.is_set():
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    for m in got.get("Messages", []):
        try:
            message_id = json.loads(m["Body"])["id"]
        except (ValueError, KeyError, TypeError):
            continue  # poison: leave it for the redrive policy
        time.sleep(random.uniform(low, high))  # the work
        ddb.put_item(
            TableName=table,
            Item={
                "message_id": {"S": str(message_id)},
                "effect_id": {"S": str(uuid.uuid4())},  # a new key per execution: the bug
                "consumer_id": {"S": me},
                "applied_at": {"N": str(int(time.time() * 1000))},
            },
        )
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
