// An idempotent SQS consumer in Node.js that honours the sqs-kit consumer contract
// (docs/consumer-contract.md): it reads only the documented environment, applies its side
// effect keyed by the message id in EFFECTS_TABLE, and prints optional JSON event lines.
//
//   scenario run happy kill-mid-run --consumer-cmd "node examples/node/consumer.mjs"
//
// The SDK takes AWS_REGION, AWS_ENDPOINT_URL and the credentials from the environment itself.
import { setTimeout as sleep } from "node:timers/promises";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  ChangeMessageVisibilityCommand,
} from "@aws-sdk/client-sqs";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const env = process.env;
const queueUrl = env.QUEUE_URL;
const table = env.EFFECTS_TABLE;
const consumerId = env.CONSUMER_ID ?? `node-${process.pid}`;
const num = (name, dflt) => (env[name] === undefined || env[name] === "" ? dflt : Number(env[name]));
const waitSeconds = num("WAIT_TIME_SECONDS", 1);
const maxMessages = num("MAX_MESSAGES", 1);
const sleepMin = num("SLEEP_MIN_SECONDS", 0);
const sleepMax = num("SLEEP_MAX_SECONDS", 0);
if (!queueUrl || !table) {
  console.error("QUEUE_URL and EFFECTS_TABLE are required (see docs/consumer-contract.md)");
  process.exit(2);
}

const sqs = new SQSClient({});
const ddb = new DynamoDBClient({});
const emit = (event, fields = {}) =>
  process.stdout.write(
    JSON.stringify({ ts: new Date().toISOString(), level: "INFO", event, consumer_id: consumerId, ...fields }) + "\n",
  );

// SIGTERM is the kit's (and ECS's) stop: stop receiving, finish the message in hand, exit 0.
let stopping = false;
const polling = new AbortController();
process.on("SIGTERM", () => {
  stopping = true;
  polling.abort();
});

// The effect, applied at most once per message id: the item's key is the message id itself.
async function applyEffect(messageId) {
  try {
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          message_id: { S: messageId },
          effect_id: { S: messageId },
          consumer_id: { S: consumerId },
          applied_at: { N: String(Date.now()) },
        },
        ConditionExpression: "attribute_not_exists(effect_id)",
      }),
    );
    return true;
  } catch (err) {
    if (err.name === "ConditionalCheckFailedException") return false;
    throw err;
  }
}

async function handle(m) {
  const base = {
    sqs_message_id: m.MessageId,
    receive_count: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
  };
  let id;
  try {
    id = JSON.parse(m.Body).id;
  } catch {
    id = undefined;
  }
  if (typeof id !== "string" || id.length === 0) {
    emit("message.received", base);
    emit("message.poison", base);
    // Never delete poison: hand it back soon, and the redrive policy dead-letters it.
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1 }));
    return;
  }
  emit("message.received", { message_id: id, ...base });
  await sleep(1000 * (sleepMin + Math.random() * Math.max(0, sleepMax - sleepMin))); // the work
  const applied = await applyEffect(id);
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
  emit(applied ? "message.completed" : "message.duplicate", { message_id: id, ...base });
}

emit("consumer.started", { queue_url: queueUrl });
while (!stopping) {
  let got;
  try {
    got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: maxMessages,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
      { abortSignal: polling.signal },
    );
  } catch (err) {
    if (stopping) break;
    emit("consumer.receive_failed", { error: String(err) });
    await sleep(1000);
    continue;
  }
  for (const m of got.Messages ?? []) await handle(m);
}
emit("consumer.stopped", { reason: "drain", exit_code: 0 });
