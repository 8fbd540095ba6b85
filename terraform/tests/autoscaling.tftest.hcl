# `terraform test` for the main infrastructure: the service under autoscaling.
# Offline: the mock provider (tests/mocks) answers every AWS call. tests/terraform/test_tftest.py
# runs the suites and checks that each guarded fix, undone, makes its run fail.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  project_name        = "tftest-main"
  container_image_tag = "3f9a1c2b7d4e"
}

# -- Off by default: no scaling resources ----------------------------------------------------------

run "autoscaling_off_creates_no_scaling_resources" {
  command = plan

  assert {
    condition     = length(aws_appautoscaling_target.consumer) == 0 && length(aws_appautoscaling_policy.backlog_per_task) == 0 && output.autoscaling == null
    error_message = "without enable_autoscaling there is no scalable target, no policy and a null autoscaling output"
  }
}

run "container_insights_may_be_off_without_autoscaling" {
  command = plan

  variables {
    container_insights = "disabled"
  }

  assert {
    condition     = one([for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"]) == "disabled"
    error_message = "container_insights must reach the cluster's containerInsights setting"
  }
}

# -- The policy: AWS's backlog-per-task recipe (metric math) ---------------------------------------

run "the_policy_tracks_backlog_per_task_with_metric_math" {
  command = plan

  variables {
    enable_autoscaling = true
  }

  assert {
    condition     = aws_appautoscaling_policy.backlog_per_task[0].policy_type == "TargetTrackingScaling" && aws_appautoscaling_target.consumer[0].scalable_dimension == "ecs:service:DesiredCount" && aws_appautoscaling_target.consumer[0].service_namespace == "ecs"
    error_message = "a target-tracking policy on the service's DesiredCount"
  }

  assert {
    condition     = [for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.id if m.return_data] == ["backlog_per_task"] && length(aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics) == 3
    error_message = "three queries, and return_data on exactly one: the final expression (Application Auto Scaling rejects any other)"
  }

  assert {
    condition     = one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.expression if m.id == "backlog_per_task"]) == "visible / IF(tasks > 0, tasks, 1)" && length(one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat if m.id == "backlog_per_task"])) == 0
    error_message = "the expression divides the visible messages by the running tasks, never by 0"
  }

  assert {
    condition = (
      one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0] if m.id == "visible"]).stat == "Sum"
      && one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0] if m.id == "visible"]).metric[0].namespace == "AWS/SQS"
      && one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0] if m.id == "visible"]).metric[0].metric_name == "ApproximateNumberOfMessagesVisible"
      && { for d in one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0].metric[0].dimensions if m.id == "visible"]) : d.name => d.value } == { QueueName = "tftest-main-queue" }
    )
    error_message = "visible = AWS/SQS ApproximateNumberOfMessagesVisible of the main queue (QueueName), Sum"
  }

  assert {
    condition = (
      one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0] if m.id == "tasks"]).stat == "Average"
      && one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0] if m.id == "tasks"]).metric[0].namespace == "ECS/ContainerInsights"
      && one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0] if m.id == "tasks"]).metric[0].metric_name == "RunningTaskCount"
      && { for d in one([for m in aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.metric_stat[0].metric[0].dimensions if m.id == "tasks"]) : d.name => d.value } == { ClusterName = "tftest-main", ServiceName = "tftest-main-consumer-autoscaled" }
    )
    error_message = "tasks = ECS/ContainerInsights RunningTaskCount of the autoscaled service (ClusterName, ServiceName), Average"
  }

  assert {
    condition     = one([for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"]) == "enabled"
    error_message = "RunningTaskCount exists only with Container Insights on the cluster"
  }

  assert {
    condition = (
      aws_appautoscaling_target.consumer[0].min_capacity == 1
      && aws_appautoscaling_target.consumer[0].max_capacity == 10
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].target_value == 100
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].scale_out_cooldown == 60
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].scale_in_cooldown == 300
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].disable_scale_in == false
    )
    error_message = "the defaults: 1-10 tasks, 100 messages per task, scale out after 60 s, in after 300 s"
  }
}

run "the_policy_takes_its_knobs" {
  command = plan

  variables {
    enable_autoscaling                  = true
    autoscaling_min_capacity            = 2
    autoscaling_max_capacity            = 20
    autoscaling_target_backlog_per_task = 25
    autoscaling_scale_out_cooldown      = 30
    autoscaling_scale_in_cooldown       = 600
    autoscaling_disable_scale_in        = true
    container_insights                  = "enhanced"
  }

  assert {
    condition = (
      aws_appautoscaling_target.consumer[0].min_capacity == 2
      && aws_appautoscaling_target.consumer[0].max_capacity == 20
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].target_value == 25
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].scale_out_cooldown == 30
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].scale_in_cooldown == 600
      && aws_appautoscaling_policy.backlog_per_task[0].target_tracking_scaling_policy_configuration[0].disable_scale_in == true
    )
    error_message = "min, max, target, both cooldowns and disable_scale_in must reach the target and the policy"
  }

  assert {
    condition     = output.autoscaling.min_capacity == 2 && output.autoscaling.max_capacity == 20 && output.autoscaling.target_backlog_per_task == 25
    error_message = "the autoscaling output reports the bounds it was given"
  }
}

# -- Bad input: one clear error per variable ---------------------------------------------------------

run "min_capacity_0_is_refused" {
  command = plan

  variables {
    enable_autoscaling       = true
    autoscaling_min_capacity = 0
  }

  expect_failures = [var.autoscaling_min_capacity]
}

run "min_above_max_is_refused" {
  command = plan

  variables {
    enable_autoscaling       = true
    autoscaling_min_capacity = 5
    autoscaling_max_capacity = 3
  }

  expect_failures = [var.autoscaling_min_capacity]
}

run "cooldowns_outside_0_to_3600_are_refused" {
  command = plan

  variables {
    enable_autoscaling             = true
    autoscaling_scale_out_cooldown = -1
    autoscaling_scale_in_cooldown  = 7200
  }

  expect_failures = [var.autoscaling_scale_out_cooldown, var.autoscaling_scale_in_cooldown]
}

run "a_target_of_0_is_refused" {
  command = plan

  variables {
    enable_autoscaling                  = true
    autoscaling_target_backlog_per_task = 0
  }

  expect_failures = [var.autoscaling_target_backlog_per_task]
}

run "autoscaling_without_container_insights_is_refused" {
  command = plan

  variables {
    enable_autoscaling = true
    container_insights = "disabled"
  }

  expect_failures = [var.container_insights]
}

# -- The service under autoscaling -------------------------------------------------------------------

run "a_fixed_count_service_without_autoscaling" {
  command = plan

  variables {
    desired_count = 2
  }

  assert {
    condition     = length(aws_ecs_service.autoscaled) == 0 && aws_ecs_service.consumer[0].desired_count == 2 && aws_ecs_service.consumer[0].name == "tftest-main-consumer"
    error_message = "without autoscaling, Terraform owns the service's desired_count"
  }

  assert {
    condition     = output.service_name == "tftest-main-consumer"
    error_message = "service_name must name the service that exists"
  }
}

run "autoscaling_creates_the_autoscaled_service" {
  command = apply

  variables {
    enable_autoscaling = true
    desired_count      = 1
  }

  assert {
    condition     = length(aws_ecs_service.consumer) == 0 && aws_ecs_service.autoscaled[0].desired_count == 1
    error_message = "with autoscaling on, only the autoscaled service exists, created at desired_count"
  }

  assert {
    condition     = output.service_name == "tftest-main-consumer-autoscaled" && aws_appautoscaling_target.consumer[0].resource_id == "service/tftest-main/tftest-main-consumer-autoscaled"
    error_message = "the scaling target and service_name must follow the autoscaled service"
  }
}

run "a_later_apply_leaves_the_count_to_autoscaling" {
  command = apply

  # Application Auto Scaling changed the count since; a new apply with another desired_count
  # must not reset it.
  variables {
    enable_autoscaling = true
    desired_count      = 5
  }

  assert {
    condition     = aws_ecs_service.autoscaled[0].desired_count == 1
    error_message = "under autoscaling Terraform must ignore desired_count after creation (ignore_changes)"
  }
}

run "autoscaling_needs_an_image_even_at_count_0" {
  command = plan

  variables {
    enable_autoscaling  = true
    desired_count       = 0
    container_image_tag = null
  }

  expect_failures = [aws_ecs_service.autoscaled]
}
