################################################################################
# The seed's variables (names and defaults are part of the contract)
################################################################################

variable "aws_region" {
  description = "AWS region for every resource."
  type        = string
  default     = "us-west-1"
}

variable "project_name" {
  description = "Name prefix for every resource (queue, DLQ, tables, ECR repository, cluster)."
  type        = string
  default     = "sqs-demo"
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; two public subnets are carved from it."
  type        = string
  default     = "10.0.0.0/20"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block, e.g. 10.0.0.0/20."
  }
}

variable "desired_count" {
  description = "Number of consumer tasks the ECS service keeps running."
  type        = number
  default     = 1

  validation {
    condition     = var.desired_count >= 0
    error_message = "desired_count must be 0 or more."
  }
}

variable "container_cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.container_cpu)
    error_message = "container_cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384 units."
  }
}

variable "container_memory" {
  description = "Fargate task memory, in MiB; Fargate accepts only some sizes per container_cpu (see the validation)."
  type        = number
  default     = 512

  # Fargate's CPU/memory pairs for Linux tasks (ECS developer guide, "Task CPU and memory").
  validation {
    condition = contains(lookup({
      "256"   = [512, 1024, 2048]
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(var.container_cpu), []), var.container_memory)
    error_message = "container_memory = ${var.container_memory} MiB is not a Fargate size for container_cpu = ${var.container_cpu}: 256 takes 512, 1024 or 2048; 512 takes 1024-4096; 1024 takes 2048-8192; 2048 takes 4096-16384; 4096 takes 8192-30720 (steps of 1024); 8192 takes 16384-61440 (steps of 4096); 16384 takes 32768-122880 (steps of 8192)."
  }
}

variable "container_image_tag" {
  description = "Consumer image tag pushed to the ECR repository (scripts/build_and_push.sh prints it: a git SHA). Required when desired_count > 0: tags are immutable, so no `latest` is ever pushed."
  type        = string
  default     = null

  validation {
    condition     = var.container_image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.container_image_tag))
    error_message = "container_image_tag must be an image tag (letters, digits, '_', '.', '-'; at most 128), e.g. the git SHA scripts/build_and_push.sh printed, not a full image reference."
  }
}

variable "queue_visibility_timeout" {
  description = "Visibility timeout of the work queue, in seconds."
  type        = number
  default     = 10
}

variable "queue_receive_wait" {
  description = "Long-poll wait of the work queue (ReceiveMessageWaitTimeSeconds), 0-20."
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "Retention of the consumer's CloudWatch log group, in days."
  type        = number
  default     = 14
}

################################################################################
# Additions (all optional)
################################################################################

variable "availability_zones" {
  description = "Availability zone names for the public subnets (names differ per account); empty chooses by zone ID (availability_zone_ids, fargate_az_ids)."
  type        = list(string)
  default     = []
}

variable "availability_zone_ids" {
  description = "Zone IDs (e.g. usw1-az1) the public subnets may use; the two lowest present are taken. Empty uses fargate_az_ids for the region, or every zone of a region not listed there."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.availability_zone_ids : can(regex("^[a-z0-9]+(-[a-z0-9]+)*-az[0-9]+$", id))])
    error_message = "availability_zone_ids takes zone IDs such as usw1-az1 (aws ec2 describe-availability-zones --query 'AvailabilityZones[].ZoneId'), not zone names such as us-west-1a."
  }
}

variable "fargate_az_ids" {
  description = "Per region, the only zone IDs where ECS runs Linux tasks on Fargate (the ECS developer guide's 'Supported Regions for Amazon ECS on AWS Fargate'). Regions not listed have Fargate in every zone."
  type        = map(list(string))
  default = {
    "us-west-1"      = ["usw1-az1", "usw1-az3"]
    "ap-northeast-1" = ["apne1-az1", "apne1-az2", "apne1-az4"]
    "cn-north-1"     = ["cnn1-az1", "cnn1-az2"]
  }
}

variable "point_in_time_recovery" {
  description = "DynamoDB point-in-time recovery on the main stack's two tables (per-run stacks turn it off)."
  type        = bool
  default     = true
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ."
  type        = number
  default     = 5
}

variable "kms_key_arn" {
  description = "Optional customer-managed KMS key for SQS, DynamoDB and logs; null uses AWS-managed encryption."
  type        = string
  default     = null
}

variable "enable_autoscaling" {
  description = "Target-tracking autoscaling of the service on backlog per task (ApproximateNumberOfMessagesVisible / RunningTaskCount). The service is then <project_name>-consumer-autoscaled and Terraform ignores its desired_count after creation."
  type        = bool
  default     = false
}

variable "autoscaling_min_capacity" {
  description = "Minimum task count when autoscaling is enabled, 1 or more: at 0 tasks the policy's RunningTaskCount may have no data, and target tracking never scales out of 0."
  type        = number
  default     = 1

  validation {
    condition     = var.autoscaling_min_capacity >= 1 && floor(var.autoscaling_min_capacity) == var.autoscaling_min_capacity && var.autoscaling_min_capacity <= var.autoscaling_max_capacity
    error_message = "autoscaling_min_capacity = ${var.autoscaling_min_capacity} is invalid: it must be a whole number from 1 to autoscaling_max_capacity (${var.autoscaling_max_capacity}). 0 is refused: with no task running, RunningTaskCount may have no data and target tracking would never scale out again."
  }
}

variable "autoscaling_max_capacity" {
  description = "Maximum task count when autoscaling is enabled."
  type        = number
  default     = 10

  validation {
    condition     = var.autoscaling_max_capacity >= 1 && floor(var.autoscaling_max_capacity) == var.autoscaling_max_capacity
    error_message = "autoscaling_max_capacity = ${var.autoscaling_max_capacity} is invalid: it must be a whole number, 1 or more (and at least autoscaling_min_capacity)."
  }
}

variable "autoscaling_target_backlog_per_task" {
  description = "Target visible messages per running task when autoscaling is enabled: what one task drains in the latency you accept (messages per second per task x acceptable seconds)."
  type        = number
  default     = 100

  validation {
    condition     = var.autoscaling_target_backlog_per_task > 0
    error_message = "autoscaling_target_backlog_per_task = ${var.autoscaling_target_backlog_per_task} is invalid: it must be more than 0 (visible messages per running task)."
  }
}

variable "autoscaling_scale_out_cooldown" {
  description = "Seconds after a scale-out before the policy adds tasks again (0-3600). Short: a growing backlog should get tasks fast."
  type        = number
  default     = 60

  validation {
    condition     = var.autoscaling_scale_out_cooldown >= 0 && var.autoscaling_scale_out_cooldown <= 3600 && floor(var.autoscaling_scale_out_cooldown) == var.autoscaling_scale_out_cooldown
    error_message = "autoscaling_scale_out_cooldown = ${var.autoscaling_scale_out_cooldown} is invalid: it must be whole seconds from 0 to 3600."
  }
}

variable "autoscaling_scale_in_cooldown" {
  description = "Seconds after a scale-in before the policy removes tasks again (0-3600; ECS's default is 300). Each scale-in stops tasks, which drain on SIGTERM."
  type        = number
  default     = 300

  validation {
    condition     = var.autoscaling_scale_in_cooldown >= 0 && var.autoscaling_scale_in_cooldown <= 3600 && floor(var.autoscaling_scale_in_cooldown) == var.autoscaling_scale_in_cooldown
    error_message = "autoscaling_scale_in_cooldown = ${var.autoscaling_scale_in_cooldown} is invalid: it must be whole seconds from 0 to 3600."
  }
}

variable "autoscaling_disable_scale_in" {
  description = "true: the policy only adds tasks and never removes them (scale in by hand, or with another policy)."
  type        = bool
  default     = false
}

variable "container_insights" {
  description = "Container Insights on the ECS cluster: enabled, enhanced or disabled. The autoscaling policy divides by its RunningTaskCount, so enable_autoscaling needs enabled or enhanced."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.container_insights)
    error_message = "container_insights = \"${var.container_insights}\" is invalid: choose enabled, enhanced or disabled."
  }

  validation {
    condition     = !(var.enable_autoscaling && var.container_insights == "disabled")
    error_message = "container_insights = \"disabled\" cannot go with enable_autoscaling = true: the policy divides by ECS/ContainerInsights RunningTaskCount, which only Container Insights publishes. Set container_insights to enabled (or enhanced)."
  }
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow-log group, in days."
  type        = number
  default     = 14
}

variable "create_ecs_service_linked_role" {
  description = "Create ECS's service-linked role (AWSServiceRoleForECS) before the cluster, for an account that has never used ECS. Apply fails where the role exists already; see docs/aws.md for destroy."
  type        = bool
  default     = false
}

variable "enable_fis_network_faults" {
  description = "Opt in to an AWS FIS experiment template for network faults on the consumer's ECS tasks (latency, packet loss, a blackholed HTTPS port, one after the other). Adds the SSM agent sidecar to the task definition and the roles FIS and SSM need; the experiment only runs when you start it. Off by default (docs/faults.md, on AWS)."
  type        = bool
  default     = false
}

variable "fis_fault_duration" {
  description = "How long each FIS network fault lasts, as an ISO 8601 duration (PT1M to PT12H)."
  type        = string
  default     = "PT2M"

  validation {
    condition     = can(regex("^PT([1-9][0-9]*M|([1-9]|1[0-2])H)$", var.fis_fault_duration))
    error_message = "fis_fault_duration = \"${var.fis_fault_duration}\" is invalid: give minutes or hours, e.g. PT2M or PT1H (at most PT12H)."
  }
}

variable "fis_latency_ms" {
  description = "Delay the FIS latency fault adds to the consumer task's traffic, in milliseconds."
  type        = number
  default     = 200

  validation {
    condition     = var.fis_latency_ms >= 1 && var.fis_latency_ms <= 10000
    error_message = "fis_latency_ms = ${var.fis_latency_ms} is out of range: allowed 1 to 10000."
  }
}

variable "fis_packet_loss_percent" {
  description = "Share of the consumer task's packets the FIS packet-loss fault drops, in percent."
  type        = number
  default     = 10

  validation {
    condition     = var.fis_packet_loss_percent >= 1 && var.fis_packet_loss_percent <= 100
    error_message = "fis_packet_loss_percent = ${var.fis_packet_loss_percent} is out of range: allowed 1 to 100."
  }
}
