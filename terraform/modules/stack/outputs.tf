output "queue_url" {
  description = "URL of the source queue."
  value       = aws_sqs_queue.queue.url
}

output "queue_arn" {
  description = "ARN of the source queue."
  value       = aws_sqs_queue.queue.arn
}

output "queue_name" {
  description = "Name of the source queue."
  value       = aws_sqs_queue.queue.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "status_table_name" {
  description = "Name of the message-status table."
  value       = aws_dynamodb_table.status.name
}

output "status_table_arn" {
  description = "ARN of the message-status table."
  value       = aws_dynamodb_table.status.arn
}

output "completed_table_name" {
  description = "Name of the message-completed table."
  value       = aws_dynamodb_table.completed.name
}

output "completed_table_arn" {
  description = "ARN of the message-completed table."
  value       = aws_dynamodb_table.completed.arn
}

output "effects_table_name" {
  description = "Name of the effects table (one item per applied side effect)."
  value       = aws_dynamodb_table.effects.name
}

output "effects_table_arn" {
  description = "ARN of the effects table."
  value       = aws_dynamodb_table.effects.arn
}

output "task_definition_arn" {
  description = "ARN of the consumer task definition, or null when not created."
  value       = try(aws_ecs_task_definition.consumer[0].arn, null)
}

output "task_definition_family" {
  description = "Family of the consumer task definition, or null when not created."
  value       = try(aws_ecs_task_definition.consumer[0].family, null)
}

output "task_role_arn" {
  description = "ARN of the consumer task role, or null when not created."
  value       = try(aws_iam_role.task[0].arn, null)
}

output "region" {
  description = "Region the stack lives in."
  value       = data.aws_region.current.name
}

output "settings" {
  description = "The settings this stack was declared with; `scenario validate` compares the deployed resources against them."
  value = {
    prefix                 = var.name_prefix
    queue_name             = aws_sqs_queue.queue.name
    dlq_name               = aws_sqs_queue.dlq.name
    status_table           = aws_dynamodb_table.status.name
    completed_table        = aws_dynamodb_table.completed.name
    effects_table          = aws_dynamodb_table.effects.name
    visibility_timeout     = var.visibility_timeout
    receive_wait           = var.receive_wait
    max_receive_count      = var.max_receive_count
    message_retention      = var.message_retention
    dlq_retention          = var.dlq_retention
    max_message_size       = var.max_message_size
    ttl_attribute          = var.ttl_attribute
    point_in_time_recovery = aws_dynamodb_table.status.point_in_time_recovery[0].enabled
    fifo                   = var.fifo
    # null on a standard queue, where these attributes mean nothing
    content_based_deduplication = var.fifo ? var.content_based_deduplication : null
    deduplication_scope         = var.fifo ? var.deduplication_scope : null
    fifo_throughput_limit       = var.fifo ? var.fifo_throughput_limit : null
  }
}
