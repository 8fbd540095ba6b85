################################################################################
# sqs-kit stack: queue + DLQ + the two idempotency tables + the effects table +
# consumer task definition and a task role scoped to exactly those ARNs.
#
# core/provisioners/api.py creates the same queue, DLQ and tables through
# boto3; tests/terraform/test_parity.py keeps the two equal.
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # SQS requires the .fifo suffix on a FIFO queue's name; a FIFO queue needs a FIFO DLQ.
  suffix          = var.fifo ? ".fifo" : ""
  queue_name      = "${var.name_prefix}-queue${local.suffix}"
  dlq_name        = "${var.name_prefix}-dlq${local.suffix}"
  status_table    = "${var.name_prefix}-message-status"
  completed_table = "${var.name_prefix}-message-completed"
  effects_table   = "${var.name_prefix}-effects"
  # opt-in AWS FIS network faults on the consumer's task (the SSM agent sidecar)
  fis = var.fis_managed_instance_role != null

  tags = merge(var.tags, {
    "managed-by"    = "sqs-kit"
    "sqs-kit-stack" = var.name_prefix
  })

  # The source queue's ARN is known before it exists, so the DLQ can carry its
  # redrive-allow policy inline. That keeps the chain DLQ -> queue at two
  # creations (~25 s each: the AWS provider waits for attribute propagation).
  queue_arn = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${local.queue_name}"

  create_task = var.create_task_definition
}

################################################################################
# SQS: DLQ and source queue
################################################################################

resource "aws_sqs_queue" "dlq" {
  name                      = local.dlq_name
  message_retention_seconds = var.dlq_retention
  max_message_size          = var.max_message_size

  # Messages are moved into the DLQ, never sent: it needs no deduplication settings of its own.
  fifo_queue = var.fifo

  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 300

  # Only this stack's source queue may dead-letter into the DLQ.
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.queue_arn]
  })

  tags = local.tags
}

resource "aws_sqs_queue" "queue" {
  name                       = local.queue_name
  visibility_timeout_seconds = var.visibility_timeout
  receive_wait_time_seconds  = var.receive_wait
  message_retention_seconds  = var.message_retention
  max_message_size           = var.max_message_size

  fifo_queue                  = var.fifo
  content_based_deduplication = var.fifo ? var.content_based_deduplication : null
  deduplication_scope         = var.fifo ? var.deduplication_scope : null
  fifo_throughput_limit       = var.fifo ? var.fifo_throughput_limit : null

  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.dlq_retention >= var.message_retention
      error_message = "dlq_retention must be at least message_retention, or dead letters expire before the messages they came from."
    }
  }
}

################################################################################
# DynamoDB: the consumer's idempotency tables
################################################################################

resource "aws_dynamodb_table" "status" {
  name         = local.status_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "message_id"

  attribute {
    name = "message_id"
    type = "S"
  }

  ttl {
    attribute_name = var.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = local.tags
}

resource "aws_dynamodb_table" "completed" {
  name         = local.completed_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "message_id"

  attribute {
    name = "message_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = local.tags
}

################################################################################
# DynamoDB: the effects table - one item per side effect a consumer applied
# (consumer/contract.py), which the oracle counts: "applied once per message?"
################################################################################

resource "aws_dynamodb_table" "effects" {
  name         = local.effects_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "message_id"
  range_key    = "effect_id"

  attribute {
    name = "message_id"
    type = "S"
  }

  attribute {
    name = "effect_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = local.tags
}

################################################################################
# IAM: the consumer's task role, scoped to this stack's ARNs only
################################################################################

data "aws_iam_policy_document" "task_assume" {
  count = local.create_task ? 1 : 0

  statement {
    sid     = "EcsTasksAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "task" {
  count = local.create_task ? 1 : 0

  statement {
    sid = "ConsumeQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.queue.arn]
  }

  statement {
    sid = "IdempotencyTables"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DescribeTable",
    ]
    resources = [aws_dynamodb_table.status.arn, aws_dynamodb_table.completed.arn]
  }

  # The demo handler applies its side effect with one conditional PutItem.
  statement {
    sid       = "EffectsTable"
    actions   = ["dynamodb:PutItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.effects.arn]
  }

  # Opt-in FIS network faults: the SSM agent sidecar registers the task as a managed instance.
  dynamic "statement" {
    for_each = var.fis_managed_instance_role == null ? [] : [var.fis_managed_instance_role]
    content {
      sid       = "FisSsmActivation"
      actions   = ["ssm:CreateActivation", "ssm:AddTagsToResource"]
      resources = ["*"] # CreateActivation supports no resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = var.fis_managed_instance_role == null ? [] : [var.fis_managed_instance_role]
    content {
      sid       = "FisPassManagedInstanceRole"
      actions   = ["iam:PassRole"]
      resources = [statement.value.arn]
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ssm.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "CustomerKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "task" {
  count = local.create_task ? 1 : 0

  name               = "${var.name_prefix}-task"
  description        = "sqs-kit consumer task role for stack ${var.name_prefix}"
  assume_role_policy = data.aws_iam_policy_document.task_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "task" {
  count = local.create_task ? 1 : 0

  name   = "${var.name_prefix}-consumer"
  role   = aws_iam_role.task[0].id
  policy = data.aws_iam_policy_document.task[0].json
}

################################################################################
# ECS: the consumer's Fargate task definition
################################################################################

resource "aws_ecs_task_definition" "consumer" {
  count = local.create_task ? 1 : 0

  family                   = "${var.name_prefix}-consumer"
  requires_compatibilities = var.network_mode == "awsvpc" ? ["FARGATE"] : ["EC2"]
  network_mode             = var.network_mode
  cpu                      = var.container_cpu
  memory                   = var.container_memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = aws_iam_role.task[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Opt-in FIS network faults: the sidecar must see the consumer's processes and network
  # namespace (pidMode task), and Fargate serves the fault endpoints only when asked.
  pid_mode               = local.fis ? "task" : null
  enable_fault_injection = local.fis ? true : null

  # The root filesystem is read-only; /tmp is the only writable path.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(concat([
    {
      name                   = "consumer"
      image                  = var.container_image
      essential              = true
      user                   = var.container_user
      readonlyRootFilesystem = true
      privileged             = false
      stopTimeout            = 30
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }
      ]
      environment = [
        for k, v in merge({
          QUEUE_URL               = aws_sqs_queue.queue.url
          AWS_REGION              = coalesce(var.log_region, data.aws_region.current.name)
          MESSAGE_STATUS_TABLE    = aws_dynamodb_table.status.name
          MESSAGE_COMPLETED_TABLE = aws_dynamodb_table.completed.name
          EFFECTS_TABLE           = aws_dynamodb_table.effects.name
          SQSKIT_RUN_ID           = var.name_prefix
        }, var.consumer_environment) : { name = k, value = v }
      ]
      # The consumer's log lines are the oracle's evidence, so none may be dropped. ECS's default
      # has been non-blocking since 2025 (a full buffer drops lines), so blocking is explicit:
      # a write waits while CloudWatch Logs is slow, it is never lost. max-buffer-size applies
      # to non-blocking mode only and is not set.
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = coalesce(var.log_group_name, "unset")
          "awslogs-region"        = coalesce(var.log_region, data.aws_region.current.name)
          "awslogs-stream-prefix" = "consumer"
          "mode"                  = "blocking"
        }
      }
    }
    ], local.fis ? [
    {
      # AWS FIS aws:ecs:task-network-* run through this agent (docs/faults.md, on AWS). It
      # installs its tools and writes its registration, so its root filesystem is writable;
      # it is not essential: the consumer does not stop with it.
      name                   = "ssm-agent"
      image                  = "public.ecr.aws/amazon-ssm-agent/amazon-ssm-agent:latest"
      essential              = false
      readonlyRootFilesystem = false
      privileged             = false
      entryPoint             = ["/bin/bash", "-c"]
      command                = [file("${path.module}/ssm-sidecar.sh")]
      environment = [
        { name = "MANAGED_INSTANCE_ROLE_NAME", value = var.fis_managed_instance_role.name }
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = coalesce(var.log_group_name, "unset")
          "awslogs-region"        = coalesce(var.log_region, data.aws_region.current.name)
          "awslogs-stream-prefix" = "ssm-agent"
        }
      }
    }
  ] : []))

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.execution_role_arn != null && var.log_group_name != null
      error_message = "create_task_definition needs execution_role_arn and log_group_name."
    }
  }
}
