################################################################################
# Per-scenario stack: the same module the main infrastructure uses, named from
# the run's prefix, in the run's own workspace; destroyed after the run.
################################################################################

# Read only while the main state exists: a run's destroy reuses the variables of its apply, and
# after the main infrastructure is destroyed terraform_remote_state fails on the missing file
# ("Unable to find remote state", even with defaults), which would leave the run's stack behind.
data "terraform_remote_state" "main" {
  count = try(fileexists(var.main_state_path), false) ? 1 : 0

  backend = "local"
  config = {
    path = var.main_state_path
  }
}

locals {
  # Every read of the main outputs is null-safe: an output may be missing from an older state.
  main      = try(data.terraform_remote_state.main[0].outputs, {})
  with_main = length(data.terraform_remote_state.main) > 0
  main_repo = try(local.main.ecr_repository_url, null)

  container_image = local.main_repo != null && var.container_image_tag != null ? "${local.main_repo}:${var.container_image_tag}" : var.container_image
}

module "stack" {
  source = "../../terraform/modules/stack"

  name_prefix            = var.prefix
  visibility_timeout     = var.visibility_timeout
  receive_wait           = var.receive_wait
  max_receive_count      = var.max_receive_count
  message_retention      = var.message_retention
  dlq_retention          = var.dlq_retention
  max_message_size       = var.max_message_size
  ttl_attribute          = var.ttl_attribute
  point_in_time_recovery = var.point_in_time_recovery
  tags                   = merge(var.tags, { "terraform-workspace" = terraform.workspace })

  fifo                        = var.fifo
  content_based_deduplication = var.content_based_deduplication
  deduplication_scope         = var.deduplication_scope
  fifo_throughput_limit       = var.fifo_throughput_limit

  create_task_definition = var.create_task_definition || local.with_main
  container_image        = local.container_image
  network_mode           = var.task_network_mode
  execution_role_arn     = var.execution_role_arn != null ? var.execution_role_arn : try(local.main.execution_role_arn, null)
  log_group_name         = var.log_group_name != null ? var.log_group_name : try(local.main.log_group_name, null)

  fis_managed_instance_role = var.fis_managed_instance_role
}
