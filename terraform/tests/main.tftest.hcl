# `terraform test` for the main infrastructure, offline: every AWS call is answered by a mock
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
  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["us-west-1a", "us-west-1c"]
      zone_ids = ["usw1-az3", "usw1-az1"]
    }
  }
}

variables {
  project_name = "tftest-main"
}

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
