# `terraform test` for the main infrastructure: the ECS service and cluster.
# Offline: the mock provider (tests/mocks) answers every AWS call. tests/terraform/test_tftest.py
# runs the suites and checks that each guarded fix, undone, makes its run fail.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  project_name        = "tftest-main"
  container_image_tag = "3f9a1c2b7d4e"
}

# -- The service-linked role ----------------------------------------------------------------------

run "service_linked_role_is_left_to_ecs_by_default" {
  command = plan

  assert {
    condition     = length(aws_iam_service_linked_role.ecs) == 0
    error_message = "an existing account already has AWSServiceRoleForECS: creating it again fails"
  }
}

run "service_linked_role_for_a_new_account" {
  command = plan

  variables {
    create_ecs_service_linked_role = true
  }

  assert {
    condition     = length(aws_iam_service_linked_role.ecs) == 1 && aws_iam_service_linked_role.ecs[0].aws_service_name == "ecs.amazonaws.com"
    error_message = "create_ecs_service_linked_role must create ECS's service-linked role"
  }
}

# -- The image tag: required to start the service ------------------------------------------------

run "starting_the_service_needs_an_image_tag" {
  command = plan

  variables {
    container_image_tag = null
    desired_count       = 1
  }

  expect_failures = [aws_ecs_service.consumer]
}

run "infrastructure_without_an_image_starts_nothing" {
  command = plan

  variables {
    container_image_tag = null
    desired_count       = 0
  }

  assert {
    condition     = aws_ecs_service.consumer[0].desired_count == 0
    error_message = "with no image tag the service must be planned at desired_count 0"
  }
}

run "an_image_reference_is_not_a_tag" {
  command = plan

  variables {
    container_image_tag = "123456789012.dkr.ecr.us-west-1.amazonaws.com/sqs-demo:3f9a1c2b7d4e"
  }

  expect_failures = [var.container_image_tag]
}
