"""A test-only consumer with one bug: a failed delete is fatal, and the SDK never retries.

Its effect is idempotent (one item per message id, written once), so redeliveries are
harmless. But it turns botocore's retries off and exits 1 when a DeleteMessage fails - the
bug ``lost-ack`` exists to catch: a delete that SQS applied but whose answer was a 500 kills
the consumer, although nothing was wrong with the message.
"""

import json
import os
import signal
import sys
import threading

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 0})  # the first half of the bug
sqs = boto3.client("sqs", config=NO_RETRIES)
ddb = boto3.client("dynamodb", config=NO_RETRIES)
queue, table = os.environ["QUEUE_URL"], os.environ["EFFECTS_TABLE"]
me = os.environ.get("CONSUMER_ID", f"fatal-delete-{os.getpid()}")
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())

while not stopping.is_set():
    try:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    except ClientError:
        continue
    for m in got.get("Messages", []):
        try:
            message_id = str(json.loads(m["Body"])["id"])
        except (ValueError, KeyError, TypeError):
            continue
        try:
            ddb.put_item(
                TableName=table,
                Item={
                    "message_id": {"S": message_id},
                    "effect_id": {"S": message_id},  # keyed by the message: applied once
                    "consumer_id": {"S": me},
                },
                ConditionExpression="attribute_not_exists(message_id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                continue  # not applied: the message comes back
        try:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        except ClientError as exc:
            print(f"delete failed, giving up: {exc}", file=sys.stderr)
            sys.exit(1)  # the second half of the bug
