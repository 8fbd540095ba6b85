# `terraform test` for one scenario run's stack, offline: every AWS call is answered by a mock
# provider. tests/terraform/test_tftest.py runs it (and checks that each assertion can fail).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-west-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # ARNs and URLs the provider validates at apply.
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-west-1:123456789012:mock"
      url = "https://sqs.us-west-1.amazonaws.com/123456789012/mock"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-west-1:123456789012:table/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-west-1:123456789012:task-definition/mock:1" }
  }
}

variables {
  prefix = "sqskit-tftest"
  region = "us-west-1"
}

run "run_tables_leave_no_system_backup" {
  command = plan

  # stack_settings reads the status table's own attribute; the module suite checks both tables.
  assert {
    condition     = output.stack_settings.point_in_time_recovery == false
    error_message = "a run's tables must have point-in-time recovery off: deleting a PITR table leaves a system backup for every run"
  }
}

run "a_run_exposes_its_effects_table" {
  command = plan

  assert {
    condition     = output.effects_table == "sqskit-tftest-effects"
    error_message = "the run's outputs name its effects table (the provisioner builds the StackHandle from them)"
  }
}

# -- Joining the main infrastructure, and leaving after it is gone ---------------------------------
# The two runs share one state, as a run's apply and destroy do: the provisioner writes the
# variables once (main_state_path included) and destroys with the same file.

run "a_run_joins_the_main_infrastructure" {
  command = apply

  variables {
    main_state_path     = "tests/fixtures/main-state.json"
    container_image_tag = "3f9a1c2b7d4e"
  }

  assert {
    condition     = output.cluster_name == "sqs-demo" && output.subnet_ids == tolist(["subnet-0a", "subnet-0b"]) && output.log_group_name == "/ecs/sqs-demo/consumer"
    error_message = "with the main state, the run exposes the main cluster, subnets and log group"
  }

  assert {
    condition     = output.task_definition_arn != null
    error_message = "joining the main infrastructure creates the run's task definition"
  }
}

run "the_main_state_is_gone" {
  # The same variables after `terraform -chdir=terraform destroy` removed the main state: the
  # configuration still evaluates (this plan, and the suite's final destroy of the run's stack).
  command = apply

  variables {
    main_state_path        = "tests/fixtures/destroyed/terraform.tfstate"
    container_image_tag    = "3f9a1c2b7d4e"
    create_task_definition = true
    execution_role_arn     = "arn:aws:iam::123456789012:role/sqs-demo-execution"
    log_group_name         = "/ecs/sqs-demo/consumer"
  }

  assert {
    condition     = output.cluster_name == null && output.subnet_ids == null && output.security_group_id == null
    error_message = "without the main state, its outputs are null, not an error"
  }
}

run "a_fifo_run_reaches_the_module" {
  command = plan

  variables {
    fifo                        = true
    content_based_deduplication = true
  }

  assert {
    condition     = output.stack_settings.queue_name == "sqskit-tftest-queue.fifo" && output.stack_settings.dlq_name == "sqskit-tftest-dlq.fifo" && output.stack_settings.content_based_deduplication
    error_message = "the run's FIFO variables reach the stack module (both queues FIFO, content-based deduplication)"
  }
}
