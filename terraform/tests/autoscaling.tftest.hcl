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
