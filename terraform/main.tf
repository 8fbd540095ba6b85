################################################################################
# sqs-kit main infrastructure: a public-subnet VPC (no NAT), ECR, an ECS Fargate
# cluster + service running the consumer, its logs, and the stack module
# (queue + DLQ + tables + task definition + task role).
################################################################################

# Subnets are chosen by zone ID: an ID names the same physical zone in every account, while a
# name can map to different zones in different accounts. In some regions Fargate runs in listed
# zone IDs only (var.fargate_az_ids), so a name-based pick (the first two names) can land on a
# zone where no task ever starts.
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-type"
    values = ["availability-zone"] # no Local or Wavelength Zones
  }

  dynamic "filter" {
    for_each = length(local.az_id_allowlist) > 0 ? [local.az_id_allowlist] : []
    content {
      name   = "zone-id"
      values = filter.value
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name = var.project_name

  az_id_allowlist = length(var.availability_zone_ids) > 0 ? var.availability_zone_ids : lookup(var.fargate_az_ids, var.aws_region, [])
  zone_name_by_id = zipmap(data.aws_availability_zones.available.zone_ids, data.aws_availability_zones.available.names)
  # The allowlist again, here: emulators answer DescribeAvailabilityZones without applying filters.
  usable_az_ids = sort([
    for id in keys(local.zone_name_by_id) : id
    if length(local.az_id_allowlist) == 0 || contains(local.az_id_allowlist, id)
  ])
  # The two lowest IDs: the same zones in every account, unchanged when AWS adds a zone.
  az_ids = slice(local.usable_az_ids, 0, min(2, length(local.usable_az_ids)))
  azs    = length(var.availability_zones) > 0 ? var.availability_zones : [for id in local.az_ids : local.zone_name_by_id[id]]
}

################################################################################
# Network: public subnets only. Tasks get a public IP to reach SQS, DynamoDB
# and ECR without a NAT gateway; nothing may connect in.
################################################################################

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = local.name }

  lifecycle {
    precondition {
      condition     = length(local.azs) > 0
      error_message = "No availability zone in ${var.aws_region} matches the Fargate zone IDs [${join(", ", local.az_id_allowlist)}]: set availability_zone_ids to zone IDs this account has (aws ec2 describe-availability-zones), or availability_zones to names."
    }
  }
}

# Lock down the default security group so nothing uses it by accident.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = local.name }
}

resource "aws_subnet" "public" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = true

  tags = { Name = "${local.name}-public-${local.azs[count.index]}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-public" }
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "consumer" {
  name        = "${local.name}-consumer"
  description = "sqs-kit consumer tasks: no inbound, HTTPS out to AWS APIs"
  vpc_id      = aws_vpc.this.id

  egress {
    description = "HTTPS to SQS, DynamoDB, ECR and CloudWatch Logs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = { Name = "${local.name}-consumer" }
}

resource "aws_flow_log" "vpc" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "REJECT"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow.arn
  iam_role_arn         = aws_iam_role.flow.arn
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/vpc/${local.name}/flow"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role" "flow" {
  name               = "${local.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
}

resource "aws_iam_role_policy" "flow" {
  name   = "${local.name}-vpc-flow-logs"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

################################################################################
# ECR: immutable tags (they are git SHAs) and scan on push
################################################################################

resource "aws_ecr_repository" "consumer" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = true

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = var.kms_key_arn == null ? "AES256" : "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "consumer" {
  repository = aws_ecr_repository.consumer.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the 30 most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "consumer" {
  name              = "/ecs/${local.name}/consumer"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

################################################################################
# IAM: execution role (ECR pull, logs). The task role lives in the stack module.
################################################################################

data "aws_iam_policy_document" "execution_assume" {
  statement {
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

data "aws_iam_policy_document" "execution" {
  # GetAuthorizationToken has no resource-level permissions in IAM.
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = [aws_ecr_repository.consumer.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.consumer.arn}:*"]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  description        = "sqs-kit ECS execution role: pull the consumer image, write its logs"
  assume_role_policy = data.aws_iam_policy_document.execution_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "${local.name}-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# The stack: queue + DLQ + tables + task definition + task role
################################################################################

module "stack" {
  source = "./modules/stack"

  name_prefix        = local.name
  visibility_timeout = var.queue_visibility_timeout
  receive_wait       = var.queue_receive_wait
  max_receive_count  = var.max_receive_count
  kms_key_arn        = var.kms_key_arn

  point_in_time_recovery = var.point_in_time_recovery

  create_task_definition = true
  # Without a tag the task definition is registered but never started (desired_count must be 0,
  # checked on the service); "untagged" exists in no repository.
  container_image    = "${aws_ecr_repository.consumer.repository_url}:${coalesce(var.container_image_tag, "untagged")}"
  container_cpu      = var.container_cpu
  container_memory   = var.container_memory
  execution_role_arn = aws_iam_role.execution.arn
  log_group_name     = aws_cloudwatch_log_group.consumer.name
  log_region         = var.aws_region

  fis_managed_instance_role = var.enable_fis_network_faults ? {
    name = aws_iam_role.fis_managed_instance[0].name
    arn  = aws_iam_role.fis_managed_instance[0].arn
  } : null
}

################################################################################
# ECS: Fargate cluster and service
################################################################################

# ECS creates its service-linked role (AWSServiceRoleForECS) on first use in an account, but the
# service can be created before the role is usable, and a principal without
# iam:CreateServiceLinkedRole never gets one. In a new account set create_ecs_service_linked_role
# (or run `aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com` once); the
# cluster and the service wait for it.
resource "aws_iam_service_linked_role" "ecs" {
  count = var.create_ecs_service_linked_role ? 1 : 0

  aws_service_name = "ecs.amazonaws.com"
  description      = "ECS service-linked role, created by sqs-kit for a new account"
}

# Container Insights publishes ECS/ContainerInsights RunningTaskCount, the divisor of the
# autoscaling policy below (AWS/ECS has no task count); var.container_insights refuses
# "disabled" while enable_autoscaling is on.
resource "aws_ecs_cluster" "this" {
  name = local.name

  depends_on = [aws_iam_service_linked_role.ecs]

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }
}

# Two service resources, one of which exists: a lifecycle block cannot be conditional, and with
# autoscaling on, Application Auto Scaling owns desired_count, so Terraform must ignore it there
# (or every apply would reset the count it chose). Without autoscaling the count stays Terraform's
# (make aws-up COUNT=N). The autoscaled service has its own name, so switching enable_autoscaling
# creates one service while the other drains, instead of colliding on one name.
locals {
  service_name = var.enable_autoscaling ? "${local.name}-consumer-autoscaled" : "${local.name}-consumer"
  # Autoscaling may start tasks at any time, so it needs an image as much as desired_count > 0.
  starts_tasks = var.enable_autoscaling || var.desired_count > 0
  image_error  = "${var.enable_autoscaling ? "enable_autoscaling" : "desired_count = ${var.desired_count}"} needs container_image_tag: push the consumer image (make aws-build-push prints its tag), then apply with -var container_image_tag=<tag>; or apply with desired_count = 0 first."
}

resource "aws_ecs_service" "consumer" {
  count = var.enable_autoscaling ? 0 : 1

  name                    = local.service_name
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = module.stack.task_definition_arn
  desired_count           = var.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  # A consumer needs no load balancer; a failed deployment rolls back.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.public[*].id
    security_groups  = [aws_security_group.consumer.id]
    assign_public_ip = true # public subnets, no NAT: the only way out to AWS APIs
  }

  lifecycle {
    precondition {
      condition     = !local.starts_tasks || var.container_image_tag != null
      error_message = local.image_error
    }
  }

  # The task definition names the execution role, not its policy: without this edge the service
  # can start tasks before the role may pull the image or write logs (and fail the deployment).
  # The service-linked role comes first through the cluster.
  depends_on = [aws_iam_role_policy.execution]
}

# The same service under autoscaling: identical but for its name and the ignored desired_count.
resource "aws_ecs_service" "autoscaled" {
  count = var.enable_autoscaling ? 1 : 0

  name                    = local.service_name
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = module.stack.task_definition_arn
  desired_count           = var.desired_count # the first count only
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.public[*].id
    security_groups  = [aws_security_group.consumer.id]
    assign_public_ip = true
  }

  lifecycle {
    ignore_changes = [desired_count]

    precondition {
      condition     = !local.starts_tasks || var.container_image_tag != null
      error_message = local.image_error
    }
  }

  depends_on = [aws_iam_role_policy.execution]
}

################################################################################
# Optional: target tracking on backlog per task (off by default)
#
# AWS's recipe (Application Auto Scaling user guide, "Create a target tracking scaling policy
# using metric math", example "Amazon SQS queue backlog per task"): m1 = AWS/SQS
# ApproximateNumberOfMessagesVisible (QueueName), Sum; m2 = ECS/ContainerInsights
# RunningTaskCount (ClusterName, ServiceName), Average; both at the 1-minute period target
# tracking always uses (TargetTrackingMetricStat has no period); e1 = m1 / m2, the only query
# with return_data = true. One deviation: the divisor is IF(tasks > 0, tasks, 1). When no task
# runs (all crashed, or still pending) m1 / m2 divides by zero just when the backlog needs tasks;
# counting the backlog against one task keeps the value finite and the scale-out proportional.
# min_capacity >= 1 (variables.tf): at 0 tasks Container Insights may publish no
# RunningTaskCount at all, and target tracking does nothing on missing data.
################################################################################

resource "aws_appautoscaling_target" "consumer" {
  count = var.enable_autoscaling ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.autoscaled[0].name}"
  min_capacity       = var.autoscaling_min_capacity
  max_capacity       = var.autoscaling_max_capacity
}

resource "aws_appautoscaling_policy" "backlog_per_task" {
  count = var.enable_autoscaling ? 1 : 0

  name               = "${local.name}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.consumer[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.consumer[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.consumer[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling_target_backlog_per_task
    scale_out_cooldown = var.autoscaling_scale_out_cooldown
    scale_in_cooldown  = var.autoscaling_scale_in_cooldown
    disable_scale_in   = var.autoscaling_disable_scale_in

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "messages visible in the queue"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = module.stack.queue_name
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "running tasks of the service"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.autoscaled[0].name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_task"
        label       = "visible messages per running task"
        expression  = "visible / IF(tasks > 0, tasks, 1)"
        return_data = true
      }
    }
  }
}

################################################################################
# AWS FIS: network faults on the consumer's tasks (opt-in: enable_fis_network_faults)
################################################################################

# The fault proxy (local/faultproxy) speaks the AWS protocols but runs next to an emulator; on
# AWS, FIS injects network faults into the consumer's tasks instead: latency, packet loss and a
# blackholed HTTPS port, one after the other (FIS runs no two of them in parallel). They run
# through the SSM agent sidecar the stack module adds to the task definition. Nothing runs until
# someone starts the experiment (docs/faults.md says how, and what stays unverified here).

locals {
  fis_count = var.enable_fis_network_faults ? 1 : 0
  # the service FIS targets: whichever of the two exists
  fis_service = var.enable_autoscaling ? "${local.name}-consumer-autoscaled" : "${local.name}-consumer"
}

# The role the sidecar registers each task with: an SSM managed instance.
data "aws_iam_policy_document" "fis_managed_instance_assume" {
  count = local.fis_count

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ssm.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "fis_managed_instance" {
  count = local.fis_count

  name               = "${local.name}-fis-managed-instance"
  description        = "sqs-kit: consumer tasks registered as SSM managed instances for AWS FIS"
  assume_role_policy = data.aws_iam_policy_document.fis_managed_instance_assume[0].json
}

resource "aws_iam_role_policy_attachment" "fis_managed_instance_core" {
  count = local.fis_count

  role       = aws_iam_role.fis_managed_instance[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# A stopping task removes its own registration (the sidecar's SIGTERM handler).
data "aws_iam_policy_document" "fis_managed_instance" {
  count = local.fis_count

  statement {
    actions   = ["ssm:DeleteActivation"]
    resources = ["*"] # DeleteActivation takes no resource-level permission
  }

  statement {
    actions   = ["ssm:DeregisterManagedInstance"]
    resources = ["arn:${data.aws_partition.current.partition}:ssm:${var.aws_region}:${data.aws_caller_identity.current.account_id}:managed-instance/*"]
  }
}

resource "aws_iam_role_policy" "fis_managed_instance" {
  count = local.fis_count

  name   = "${local.name}-fis-deregister"
  role   = aws_iam_role.fis_managed_instance[0].id
  policy = data.aws_iam_policy_document.fis_managed_instance[0].json
}

# The role the experiment runs as.
data "aws_iam_policy_document" "fis_assume" {
  count = local.fis_count

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["fis.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "fis" {
  count = local.fis_count

  statement {
    sid       = "FindTheTasks"
    actions   = ["ecs:DescribeTasks"]
    resources = ["arn:${data.aws_partition.current.partition}:ecs:${var.aws_region}:${data.aws_caller_identity.current.account_id}:task/${local.name}/*"]
  }

  statement {
    sid       = "ListTheServiceTasks"
    actions   = ["ecs:ListTasks"]
    resources = ["*"] # ListTasks is narrowed by its cluster condition, not by a resource
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }

  statement {
    sid     = "RunTheFaultDocuments"
    actions = ["ssm:SendCommand"]
    resources = [
      "arn:${data.aws_partition.current.partition}:ssm:${var.aws_region}::document/AWSFIS-Run-Network-*",
      "arn:${data.aws_partition.current.partition}:ssm:${var.aws_region}:${data.aws_caller_identity.current.account_id}:managed-instance/*",
    ]
  }

  statement {
    sid       = "ResolveTargetsByTag"
    actions   = ["tag:GetResources"] # a run's experiment selects its tasks by tag
    resources = ["*"]                # GetResources has no resource-level permissions
  }

  statement {
    sid       = "FollowTheCommands"
    actions   = ["ssm:ListCommands", "ssm:CancelCommand"]
    resources = ["*"] # command ids exist only once the experiment runs
  }
}

resource "aws_iam_role" "fis" {
  count = local.fis_count

  name               = "${local.name}-fis"
  description        = "sqs-kit: AWS FIS experiment role for network faults on the consumer tasks"
  assume_role_policy = data.aws_iam_policy_document.fis_assume[0].json
}

resource "aws_iam_role_policy" "fis" {
  count = local.fis_count

  name   = "${local.name}-fis"
  role   = aws_iam_role.fis[0].id
  policy = data.aws_iam_policy_document.fis[0].json
}

resource "aws_fis_experiment_template" "network" {
  count = local.fis_count

  description = "sqs-kit: latency, packet loss, then a blackholed HTTPS port on every consumer task"
  role_arn    = aws_iam_role.fis[0].arn

  stop_condition {
    source = "none"
  }

  target {
    name           = "consumer-tasks"
    resource_type  = "aws:ecs:task"
    selection_mode = "ALL"
    parameters = {
      cluster = aws_ecs_cluster.this.name
      service = local.fis_service
    }
  }

  action {
    name      = "latency"
    action_id = "aws:ecs:task-network-latency"
    target {
      key   = "Tasks"
      value = "consumer-tasks"
    }
    parameter {
      key   = "duration"
      value = var.fis_fault_duration
    }
    parameter {
      key   = "delayMilliseconds"
      value = tostring(var.fis_latency_ms)
    }
    parameter {
      key   = "useEcsFaultInjectionEndpoints"
      value = "true"
    }
  }

  action {
    name        = "packet-loss"
    action_id   = "aws:ecs:task-network-packet-loss"
    start_after = ["latency"]
    target {
      key   = "Tasks"
      value = "consumer-tasks"
    }
    parameter {
      key   = "duration"
      value = var.fis_fault_duration
    }
    parameter {
      key   = "lossPercent"
      value = tostring(var.fis_packet_loss_percent)
    }
    parameter {
      key   = "useEcsFaultInjectionEndpoints"
      value = "true"
    }
  }

  # Every AWS API the consumer calls is HTTPS: blackholing 443 is an SQS and DynamoDB outage.
  action {
    name        = "blackhole-https"
    action_id   = "aws:ecs:task-network-blackhole-port"
    start_after = ["packet-loss"]
    target {
      key   = "Tasks"
      value = "consumer-tasks"
    }
    parameter {
      key   = "duration"
      value = var.fis_fault_duration
    }
    parameter {
      key   = "port"
      value = "443"
    }
    parameter {
      key   = "protocol"
      value = "tcp"
    }
    parameter {
      key   = "trafficType"
      value = "egress"
    }
    parameter {
      key   = "useEcsFaultInjectionEndpoints"
      value = "true"
    }
  }

  tags = {
    Name = "${local.name}-network-faults"
  }

  depends_on = [aws_iam_role_policy.fis]
}
