output "prefix" {
  description = "Name prefix of the stack."
  value       = var.prefix
}

output "region" {
  description = "Region of the stack."
  value       = module.stack.region
}

output "queue_url" {
  description = "URL of the source queue."
  value       = module.stack.queue_url
}

output "queue_arn" {
  description = "ARN of the source queue."
  value       = module.stack.queue_arn
}

output "dlq_url" {
  description = "URL of the DLQ."
  value       = module.stack.dlq_url
}

output "dlq_arn" {
  description = "ARN of the DLQ."
  value       = module.stack.dlq_arn
}

output "status_table" {
  description = "Name of the message-status table."
  value       = module.stack.status_table_name
}

output "completed_table" {
  description = "Name of the message-completed table."
  value       = module.stack.completed_table_name
}

output "effects_table" {
  description = "Name of the effects table (one item per applied side effect)."
  value       = module.stack.effects_table_name
}

output "task_definition_arn" {
  description = "Consumer task definition ARN, or null."
  value       = module.stack.task_definition_arn
}

output "workspace" {
  description = "Terraform workspace of this run."
  value       = terraform.workspace
}

output "cluster_name" {
  description = "ECS cluster of the main infrastructure, or null."
  value       = try(local.main.cluster_name, null)
}

output "subnet_ids" {
  description = "Public subnets of the main infrastructure, or null."
  value       = try(local.main.subnet_ids, null)
}

output "security_group_id" {
  description = "Consumer security group of the main infrastructure, or null."
  value       = try(local.main.security_group_id, null)
}

output "log_group_name" {
  description = "Log group the consumer tasks write to, or null."
  value       = var.log_group_name != null ? var.log_group_name : try(local.main.log_group_name, null)
}

output "stack_settings" {
  description = "Declared settings of the queue, DLQ and tables (read by `scenario validate --workspace`)."
  value       = module.stack.settings
}
