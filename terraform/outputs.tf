output "queue_url" {
  description = "URL of the work queue (QUEUE_URL)."
  value       = module.stack.queue_url
}

output "queue_arn" {
  description = "ARN of the work queue."
  value       = module.stack.queue_arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.stack.dlq_url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue (DLQ_ARN)."
  value       = module.stack.dlq_arn
}

output "ecr_repository_url" {
  description = "ECR repository for the consumer image (ECR_REPO)."
  value       = aws_ecr_repository.consumer.repository_url
}

output "aws_region" {
  description = "Region of the deployment (AWS_REGION)."
  value       = var.aws_region
}

output "message_status_table" {
  description = "Name of the message-status table (MESSAGE_STATUS_TABLE)."
  value       = module.stack.status_table_name
}

output "message_completed_table" {
  description = "Name of the message-completed table (MESSAGE_COMPLETED_TABLE)."
  value       = module.stack.completed_table_name
}

output "effects_table" {
  description = "Name of the effects table (EFFECTS_TABLE)."
  value       = module.stack.effects_table_name
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service name."
  value       = one(concat(aws_ecs_service.consumer[*].name, aws_ecs_service.autoscaled[*].name))
}

output "autoscaling" {
  description = "With enable_autoscaling: the target-tracking policy (name, ARN), the two CloudWatch alarms it created (AlarmHigh, AlarmLow) and its bounds; null without."
  value = var.enable_autoscaling ? {
    policy_name             = one(aws_appautoscaling_policy.backlog_per_task[*].name)
    policy_arn              = one(aws_appautoscaling_policy.backlog_per_task[*].arn)
    alarm_arns              = one(aws_appautoscaling_policy.backlog_per_task[*].alarm_arns)
    min_capacity            = var.autoscaling_min_capacity
    max_capacity            = var.autoscaling_max_capacity
    target_backlog_per_task = var.autoscaling_target_backlog_per_task
  } : null
}

output "task_definition_arn" {
  description = "Consumer task definition ARN."
  value       = module.stack.task_definition_arn
}

output "task_role_arn" {
  description = "Consumer task role ARN."
  value       = module.stack.task_role_arn
}

output "execution_role_arn" {
  description = "ECS execution role ARN."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "Consumer log group."
  value       = aws_cloudwatch_log_group.consumer.name
}

output "subnet_ids" {
  description = "Public subnet IDs the service runs in."
  value       = aws_subnet.public[*].id
}

output "security_group_id" {
  description = "Security group of the consumer tasks."
  value       = aws_security_group.consumer.id
}

output "dotenv" {
  description = "The .env keys (written by `python -m scenarios.tfenv`)."
  value = {
    QUEUE_URL               = module.stack.queue_url
    DLQ_ARN                 = module.stack.dlq_arn
    ECR_REPO                = aws_ecr_repository.consumer.repository_url
    AWS_REGION              = var.aws_region
    MESSAGE_STATUS_TABLE    = module.stack.status_table_name
    MESSAGE_COMPLETED_TABLE = module.stack.completed_table_name
    EFFECTS_TABLE           = module.stack.effects_table_name
  }
}

output "stack_settings" {
  description = "Declared settings of the queue, DLQ and tables (read by `scenario validate --main`)."
  value       = module.stack.settings
}

output "log_retention_days" {
  description = "Retention of the consumer log group, in days."
  value       = var.log_retention_days
}

output "fis_experiment_template_id" {
  description = "The AWS FIS network-fault experiment template (null unless enable_fis_network_faults): aws fis start-experiment --experiment-template-id <id>."
  value       = var.enable_fis_network_faults ? aws_fis_experiment_template.network[0].id : null
}

output "fis_managed_instance_role" {
  description = "The SSM managed-instance role a run's task definitions register with for AWS FIS (null unless enable_fis_network_faults): the aws target passes it to a run's stack when SQSKIT_AWS_FIS_NETWORK_FAULTS=on."
  value = var.enable_fis_network_faults ? {
    name = aws_iam_role.fis_managed_instance[0].name
    arn  = aws_iam_role.fis_managed_instance[0].arn
  } : null
}
