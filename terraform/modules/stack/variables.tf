################################################################################
# Naming and tags
################################################################################

variable "name_prefix" {
  description = "Unique prefix for every resource: <prefix>-queue, <prefix>-dlq (both with .fifo when fifo is true), <prefix>-message-status, <prefix>-message-completed, <prefix>-effects."
  type        = string
  default     = "sqs-demo"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,39}$", var.name_prefix))
    error_message = "name_prefix must be 2-40 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags on every resource (managed-by and sqs-kit-stack are always added)."
  type        = map(string)
  default     = {}
}

################################################################################
# Queue and DLQ
################################################################################

variable "visibility_timeout" {
  description = "Visibility timeout of the source queue, in seconds (0-43200)."
  type        = number
  default     = 10

  validation {
    condition     = var.visibility_timeout >= 0 && var.visibility_timeout <= 43200
    error_message = "visibility_timeout must be within 0..43200 seconds."
  }
}

variable "receive_wait" {
  description = "Long-poll wait of the source queue (ReceiveMessageWaitTimeSeconds, 0-20)."
  type        = number
  default     = 10

  validation {
    condition     = var.receive_wait >= 0 && var.receive_wait <= 20
    error_message = "receive_wait must be within 0..20 seconds."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ (redrive policy maxReceiveCount)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be within 1..1000."
  }
}

variable "message_retention" {
  description = "Retention of the source queue, in seconds (default 4 days)."
  type        = number
  default     = 345600
}

variable "dlq_retention" {
  description = "Retention of the DLQ, in seconds (default 14 days, longer than the source queue so dead letters outlive their originals)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_retention >= 60 && var.dlq_retention <= 1209600
    error_message = "dlq_retention must be within 60..1209600 seconds."
  }
}

variable "max_message_size" {
  description = "MaximumMessageSize of both queues, in bytes. hashicorp/aws 5.100 accepts at most 262144 (and sends 262144 when unset), although SQS itself now allows 1 MiB."
  type        = number
  default     = 262144

  validation {
    condition     = var.max_message_size >= 1024 && var.max_message_size <= 262144
    error_message = "max_message_size must be within 1024..262144 bytes (the hashicorp/aws 5.100 limit)."
  }
}

################################################################################
# FIFO (core/stack.py check_fifo_settings applies the same rules)
################################################################################

variable "fifo" {
  description = "Make the queue and its DLQ FIFO queues (names end in .fifo; a FIFO queue needs a FIFO DLQ)."
  type        = bool
  default     = false
}

variable "content_based_deduplication" {
  description = "FIFO only: deduplicate by a SHA-256 of the body when a send carries no deduplication id."
  type        = bool
  default     = false

  validation {
    condition     = var.fifo || !var.content_based_deduplication
    error_message = "content_based_deduplication applies to FIFO queues only: set fifo = true."
  }
}

variable "deduplication_scope" {
  description = "FIFO only: the deduplication window is per queue or per messageGroup."
  type        = string
  default     = "queue"

  validation {
    condition     = contains(["queue", "messageGroup"], var.deduplication_scope)
    error_message = "deduplication_scope must be queue or messageGroup."
  }

  validation {
    condition     = var.fifo || var.deduplication_scope == "queue"
    error_message = "deduplication_scope applies to FIFO queues only: set fifo = true, or leave queue."
  }
}

variable "fifo_throughput_limit" {
  description = "FIFO only: the throughput quota applies perQueue, or perMessageGroupId (high throughput, which needs deduplication_scope = messageGroup)."
  type        = string
  default     = "perQueue"

  validation {
    condition     = contains(["perQueue", "perMessageGroupId"], var.fifo_throughput_limit)
    error_message = "fifo_throughput_limit must be perQueue or perMessageGroupId."
  }

  # SQS: "The perMessageGroupId value is allowed only when the value for DeduplicationScope is
  # messageGroup" (SetQueueAttributes, FifoThroughputLimit).
  validation {
    condition     = var.fifo_throughput_limit == "perQueue" || (var.fifo && var.deduplication_scope == "messageGroup")
    error_message = "fifo_throughput_limit = perMessageGroupId (high throughput) needs fifo = true and deduplication_scope = messageGroup."
  }
}

################################################################################
# Tables
################################################################################

variable "ttl_attribute" {
  description = "TTL attribute of the message-status table."
  type        = string
  default     = "expires_at"
}

variable "point_in_time_recovery" {
  description = "Enable DynamoDB point-in-time recovery on every table (status, completed, effects)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Optional customer-managed KMS key for SQS and DynamoDB; null uses AWS-owned/managed keys."
  type        = string
  default     = null
}

################################################################################
# ECS task definition (optional: scenario stacks on the emulators skip it)
################################################################################

variable "create_task_definition" {
  description = "Create the consumer's Fargate task definition and its task role."
  type        = bool
  default     = true
}

variable "container_image" {
  description = "Consumer image (repository:tag). Tags are git SHAs, so the repository can keep tags immutable."
  type        = string
  default     = "sqs-kit-consumer:latest"
}

variable "container_cpu" {
  description = "Fargate task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  type        = number
  default     = 256
}

variable "container_memory" {
  description = "Fargate task memory, in MiB; Fargate accepts only some sizes per container_cpu."
  type        = number
  default     = 512

  # Fargate's CPU/memory pairs for Linux tasks (ECS developer guide, "Task CPU and memory"); the
  # EC2 launch type (network_mode host, emulators only) has no such table.
  validation {
    condition = var.network_mode != "awsvpc" || contains(lookup({
      "256"   = [512, 1024, 2048]
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(var.container_cpu), []), var.container_memory)
    error_message = "container_cpu = ${var.container_cpu} with container_memory = ${var.container_memory} MiB is not a Fargate size pair (256: 512/1024/2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720, steps of 1024; 8192: 16384-61440, steps of 4096; 16384: 32768-122880, steps of 8192)."
  }
}

variable "network_mode" {
  description = "Task network mode: awsvpc (Fargate, the default) or host (EC2 launch type; an emulator running tasks on a Docker engine without a bridge network)."
  type        = string
  default     = "awsvpc"

  validation {
    condition     = contains(["awsvpc", "host"], var.network_mode)
    error_message = "network_mode must be awsvpc or host."
  }
}

variable "container_user" {
  description = "UID:GID the consumer runs as; never root."
  type        = string
  default     = "10001:10001"

  validation {
    condition     = !contains(["0", "root", "0:0", "root:root"], var.container_user)
    error_message = "container_user must not be root."
  }
}

variable "execution_role_arn" {
  description = "ECS execution role (ECR pull, logs); required when create_task_definition is true."
  type        = string
  default     = null
}

variable "log_group_name" {
  description = "CloudWatch log group for the awslogs driver; required when create_task_definition is true."
  type        = string
  default     = null
}

variable "log_region" {
  description = "Region of the log group; null means the provider's region."
  type        = string
  default     = null
}

variable "consumer_environment" {
  description = "Extra environment variables for the consumer container."
  type        = map(string)
  default     = {}
}

variable "fis_managed_instance_role" {
  description = "Opt-in AWS FIS network faults: the name and ARN of the SSM managed-instance role. When set, the task definition gets the SSM agent sidecar that registers each task as an SSM managed instance (the aws:ecs:task-network-* actions run through it), pidMode task and enableFaultInjection, and the task role may create the activation. null (the default): none of it."
  type = object({
    name = string
    arn  = string
  })
  default = null
}
