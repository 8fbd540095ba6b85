################################################################################
# Per-scenario stack: the same module the main infrastructure uses, named from
# the run's prefix, in the run's own workspace; destroyed after the run.
################################################################################

data "terraform_remote_state" "main" {
  count = var.main_state_path == null ? 0 : 1

  backend = "local"
  config = {
    path = var.main_state_path
  }
}

locals {
  main      = try(data.terraform_remote_state.main[0].outputs, null)
  with_main = var.main_state_path != null

  container_image = local.with_main ? "${local.main.ecr_repository_url}:${var.container_image_tag}" : var.container_image
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

  create_task_definition = var.create_task_definition || local.with_main
  container_image        = local.container_image
  network_mode           = var.task_network_mode
  execution_role_arn     = var.execution_role_arn != null ? var.execution_role_arn : try(local.main.execution_role_arn, null)
  log_group_name         = var.log_group_name != null ? var.log_group_name : try(local.main.log_group_name, null)
}
