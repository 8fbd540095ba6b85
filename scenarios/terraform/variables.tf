################################################################################
# One scenario run's stack. core/provisioners/terraform.py fills these from
# a StackSpec (core/stack.py); the defaults match StackSpec's.
################################################################################

variable "region" {
  description = "Region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "prefix" {
  description = "Unique name prefix of this run (StackSpec.prefix); also the workspace name."
  type        = string
}

variable "visibility_timeout" {
  description = "Visibility timeout of the source queue, in seconds."
  type        = number
  default     = 10
}

variable "receive_wait" {
  description = "Long-poll wait of the source queue, in seconds."
  type        = number
  default     = 10
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ."
  type        = number
  default     = 5
}

variable "message_retention" {
  description = "Retention of the source queue, in seconds."
  type        = number
  default     = 345600
}

variable "dlq_retention" {
  description = "Retention of the DLQ, in seconds."
  type        = number
  default     = 1209600
}

variable "max_message_size" {
  description = "MaximumMessageSize of both queues, in bytes (hashicorp/aws 5.100 caps it at 262144)."
  type        = number
  default     = 262144
}

variable "ttl_attribute" {
  description = "TTL attribute of the message-status table."
  type        = string
  default     = "expires_at"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "fifo" {
  description = "FIFO queue and FIFO DLQ (StackSpec.fifo); the module validates the FIFO settings."
  type        = bool
  default     = false
}

variable "content_based_deduplication" {
  description = "FIFO only: content-based deduplication (StackSpec.content_based_deduplication)."
  type        = bool
  default     = false
}

variable "deduplication_scope" {
  description = "FIFO only: queue or messageGroup (StackSpec.deduplication_scope)."
  type        = string
  default     = "queue"
}

variable "fifo_throughput_limit" {
  description = "FIFO only: perQueue or perMessageGroupId (StackSpec.fifo_throughput_limit)."
  type        = string
  default     = "perQueue"
}

variable "point_in_time_recovery" {
  description = "DynamoDB point-in-time recovery on every table. Off for a run's tables: they live minutes, and deleting a table with PITR on leaves a system backup behind for every run."
  type        = bool
  default     = false
}

variable "create_task_definition" {
  description = "Also create the consumer task definition and task role (for the ECS runner on AWS)."
  type        = bool
  default     = false
}

variable "container_image" {
  description = "Consumer image for the task definition."
  type        = string
  default     = "sqs-kit-consumer:latest"
}

variable "task_network_mode" {
  description = "Network mode of the task definition: awsvpc (Fargate) or host (an emulator whose Docker engine has no bridge network)."
  type        = string
  default     = "awsvpc"
}

variable "execution_role_arn" {
  description = "ECS execution role (the main infrastructure's output) when create_task_definition is true."
  type        = string
  default     = null
}

variable "log_group_name" {
  description = "Log group (the main infrastructure's output) when create_task_definition is true."
  type        = string
  default     = null
}

variable "fis_managed_instance_role" {
  description = "AWS FIS network faults on this run's tasks: the main infrastructure's output fis_managed_instance_role (name, arn). The task definition then gets the SSM agent sidecar; null (the default): none. The aws target sets it when SQSKIT_AWS_FIS_NETWORK_FAULTS=on."
  type = object({
    name = string
    arn  = string
  })
  default = null
}

################################################################################
# Joining the main infrastructure (the aws target's ECS consumers)
################################################################################

variable "main_state_path" {
  description = "Path of the main infrastructure's local state (terraform/terraform.tfstate). While that file exists, the stack gets a task definition using its execution role, log group and ECR image, and exposes its cluster, subnets and security group; a missing file is ignored (a destroy after the main infrastructure is gone)."
  type        = string
  default     = null
}

variable "container_image_tag" {
  description = "Consumer image tag in the main infrastructure's ECR repository (with main_state_path); null uses container_image. No `latest` is ever pushed: the repository's tags are immutable."
  type        = string
  default     = null
}
