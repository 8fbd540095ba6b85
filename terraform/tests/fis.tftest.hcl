# `terraform test` for the opt-in AWS FIS network faults on the consumer's tasks.
# Offline: the mock provider (tests/mocks) answers every AWS call.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  project_name        = "tftest-fis"
  container_image_tag = "3f9a1c2b7d4e"
}

run "fis_is_off_by_default" {
  command = plan

  assert {
    condition     = length(aws_fis_experiment_template.network) == 0 && length(aws_iam_role.fis) == 0 && length(aws_iam_role.fis_managed_instance) == 0
    error_message = "FIS network faults are opt-in: nothing of them exists by default"
  }
}

run "fis_network_faults_on_the_consumer_tasks" {
  command = plan

  variables {
    enable_fis_network_faults = true
    fis_latency_ms            = 300
  }

  assert {
    condition = { for a in aws_fis_experiment_template.network[0].action : a.name => a.action_id } == {
      latency           = "aws:ecs:task-network-latency"
      "packet-loss"     = "aws:ecs:task-network-packet-loss"
      "blackhole-https" = "aws:ecs:task-network-blackhole-port"
    }
    error_message = "the template runs latency, packet loss and a blackholed port"
  }

  assert {
    condition = { for a in aws_fis_experiment_template.network[0].action : a.name => join(",", a.start_after == null ? [] : sort(a.start_after)) } == {
      latency           = ""
      "packet-loss"     = "latency"
      "blackhole-https" = "packet-loss"
    }
    error_message = "FIS runs no two ECS network faults in parallel: each starts after the previous"
  }

  assert {
    condition     = one([for t in aws_fis_experiment_template.network[0].target : t.resource_type]) == "aws:ecs:task"
    error_message = "the faults target the consumer's ECS tasks"
  }

  assert {
    condition     = one(flatten([for a in aws_fis_experiment_template.network[0].action : [for p in a.parameter : p.value if p.key == "delayMilliseconds"]])) == "300"
    error_message = "fis_latency_ms sets the latency"
  }

  assert {
    condition     = aws_iam_role.fis_managed_instance[0].name == "tftest-fis-fis-managed-instance"
    error_message = "the stack module's sidecar registers tasks with this role (its own suite checks the sidecar)"
  }
}

run "fis_fault_duration_is_validated" {
  command = plan

  variables {
    enable_fis_network_faults = true
    fis_fault_duration        = "2 minutes"
  }

  expect_failures = [var.fis_fault_duration]
}
