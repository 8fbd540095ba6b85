# `terraform test` for the stack module, offline: every AWS call is answered by a mock provider.
# tests/terraform/test_tftest.py runs it (and checks that each assertion can fail).

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
  name_prefix        = "tftest-stack"
  execution_role_arn = "arn:aws:iam::123456789012:role/tftest-execution"
  log_group_name     = "/ecs/tftest"
}

run "awslogs_never_drops_lines" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)[0].logConfiguration.options.mode == "blocking"
    error_message = "the awslogs driver must run in blocking mode: non-blocking drops the oracle's evidence when its buffer fills"
  }
}

run "point_in_time_recovery_follows_the_variable" {
  command = plan

  variables {
    point_in_time_recovery = false
  }

  assert {
    condition     = !aws_dynamodb_table.status.point_in_time_recovery[0].enabled && !aws_dynamodb_table.completed.point_in_time_recovery[0].enabled && !aws_dynamodb_table.effects.point_in_time_recovery[0].enabled
    error_message = "point_in_time_recovery = false must reach every table"
  }

  assert {
    condition     = output.settings.point_in_time_recovery == false
    error_message = "the settings output must report the tables' PITR"
  }
}

run "every_stack_has_an_effects_table_its_consumers_are_told_about" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.effects.name == "tftest-stack-effects" && aws_dynamodb_table.effects.hash_key == "message_id" && aws_dynamodb_table.effects.range_key == "effect_id"
    error_message = "the effects table is <prefix>-effects, keyed by message_id (hash) and effect_id (range), as consumer/contract.py says"
  }

  assert {
    condition     = output.settings.effects_table == "tftest-stack-effects"
    error_message = "the settings output must name the effects table"
  }

  assert {
    condition     = contains([for e in jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)[0].environment : "${e.name}=${e.value}"], "EFFECTS_TABLE=tftest-stack-effects")
    error_message = "the consumer task must get EFFECTS_TABLE"
  }

  assert {
    condition     = contains([for e in jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)[0].environment : "${e.name}=${e.value}"], "SQSKIT_RUN_ID=tftest-stack")
    error_message = "the consumer task must get SQSKIT_RUN_ID, the stack prefix"
  }
}

run "fargate_task_sizes_must_be_a_valid_pair" {
  command = plan

  variables {
    container_cpu    = 512
    container_memory = 512
  }

  expect_failures = [var.container_memory]
}

run "the_ec2_launch_type_on_emulators_has_no_fargate_table" {
  command = plan

  variables {
    network_mode     = "host"
    container_cpu    = 512
    container_memory = 512
  }
}

# -- FIFO: both queues FIFO, the settings SQS accepts ----------------------------------------------

run "a_fifo_stack_has_a_fifo_queue_and_a_fifo_dlq" {
  command = plan

  variables {
    fifo                        = true
    content_based_deduplication = true
    deduplication_scope         = "messageGroup"
    fifo_throughput_limit       = "perMessageGroupId"
  }

  assert {
    condition     = aws_sqs_queue.queue.name == "tftest-stack-queue.fifo" && aws_sqs_queue.queue.fifo_queue
    error_message = "a FIFO stack's queue is a FIFO queue named <prefix>-queue.fifo"
  }

  assert {
    condition     = aws_sqs_queue.dlq.name == "tftest-stack-dlq.fifo" && aws_sqs_queue.dlq.fifo_queue
    error_message = "a FIFO queue needs a FIFO DLQ, named <prefix>-dlq.fifo"
  }

  assert {
    condition     = aws_sqs_queue.queue.content_based_deduplication && aws_sqs_queue.queue.deduplication_scope == "messageGroup" && aws_sqs_queue.queue.fifo_throughput_limit == "perMessageGroupId"
    error_message = "the FIFO settings reach the queue"
  }

  assert {
    condition     = output.settings.fifo && output.settings.deduplication_scope == "messageGroup"
    error_message = "the settings output reports the FIFO settings"
  }
}

run "a_standard_stack_keeps_its_names" {
  command = plan

  assert {
    condition     = aws_sqs_queue.queue.name == "tftest-stack-queue" && aws_sqs_queue.dlq.name == "tftest-stack-dlq" && !aws_sqs_queue.queue.fifo_queue && !aws_sqs_queue.dlq.fifo_queue
    error_message = "a standard stack's queues are standard, without the .fifo suffix"
  }
}

run "high_throughput_needs_the_message_group_scope" {
  command = plan

  variables {
    fifo                  = true
    deduplication_scope   = "queue"
    fifo_throughput_limit = "perMessageGroupId"
  }

  expect_failures = [var.fifo_throughput_limit]
}

run "fifo_settings_on_a_standard_queue_are_refused" {
  command = plan

  variables {
    content_based_deduplication = true
  }

  expect_failures = [var.content_based_deduplication]
}

# -- Opt-in AWS FIS network faults: the SSM agent sidecar ------------------------------------------

run "no_sidecar_by_default" {
  command = apply

  variables {
    create_task_definition = true
    container_image        = "example.com/consumer:tftest"
  }

  assert {
    condition     = length(jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)) == 1 && aws_ecs_task_definition.consumer[0].pid_mode == null
    error_message = "without fis_managed_instance_role the task runs the consumer alone"
  }
}

run "fis_adds_the_ssm_agent_sidecar" {
  command = apply

  variables {
    create_task_definition = true
    container_image        = "example.com/consumer:tftest"
    fis_managed_instance_role = {
      name = "tftest-fis-managed-instance"
      arn  = "arn:aws:iam::123456789012:role/tftest-fis-managed-instance"
    }
  }

  assert {
    condition     = [for c in jsondecode(aws_ecs_task_definition.consumer[0].container_definitions) : c.name] == ["consumer", "ssm-agent"]
    error_message = "FIS network faults need the SSM agent sidecar next to the consumer"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)[1].environment[0].value == "tftest-fis-managed-instance" && !jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)[1].essential
    error_message = "the sidecar registers the task with the managed-instance role, and is not essential"
  }

  assert {
    condition     = aws_ecs_task_definition.consumer[0].pid_mode == "task" && aws_ecs_task_definition.consumer[0].enable_fault_injection
    error_message = "the sidecar must share the task's processes (pidMode task), with fault injection on"
  }

  assert {
    condition     = strcontains(jsondecode(aws_ecs_task_definition.consumer[0].container_definitions)[1].command[0], "create-activation")
    error_message = "the sidecar's command is the registration script"
  }
}
