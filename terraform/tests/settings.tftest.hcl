# `terraform test` for the main infrastructure: table and task settings.
# Offline: the mock provider (tests/mocks) answers every AWS call. tests/terraform/test_tftest.py
# runs the suites and checks that each guarded fix, undone, makes its run fail.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  project_name        = "tftest-main"
  container_image_tag = "3f9a1c2b7d4e"
}

# -- Point-in-time recovery: on for the main stack -------------------------------------------------

run "main_tables_keep_point_in_time_recovery" {
  command = plan

  assert {
    condition     = output.stack_settings.point_in_time_recovery == true
    error_message = "the main stack's tables keep point-in-time recovery on"
  }
}

# -- Fargate sizes: only valid CPU/memory pairs ------------------------------------------------

run "a_valid_fargate_size_plans" {
  command = plan

  variables {
    container_cpu    = 1024
    container_memory = 3072
  }
}

run "memory_outside_the_cpu_size_is_refused" {
  command = plan

  variables {
    container_cpu    = 256
    container_memory = 4096
  }

  expect_failures = [var.container_memory]
}

run "a_cpu_size_fargate_does_not_offer_is_refused" {
  command = plan

  variables {
    container_cpu = 300
  }

  expect_failures = [var.container_cpu]
}
