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
  project_name        = "tftest-main"
  container_image_tag = "3f9a1c2b7d4e"
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

# -- Availability zones: chosen by zone ID ------------------------------------------------------

run "us_west_1_subnets_only_in_fargate_zone_ids" {
  command = plan

  # An account where us-west-1a is usw1-az2, the zone Fargate does not run in.
  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["us-west-1a", "us-west-1b", "us-west-1c"]
      zone_ids = ["usw1-az2", "usw1-az3", "usw1-az1"]
    }
  }

  assert {
    condition     = [for s in aws_subnet.public : s.availability_zone] == ["us-west-1c", "us-west-1b"]
    error_message = "us-west-1's subnets must be in usw1-az1 and usw1-az3 (here us-west-1c and us-west-1b), never in usw1-az2"
  }

  assert {
    condition     = one([for f in data.aws_availability_zones.available.filter : f.values if f.name == "zone-id"]) == toset(["usw1-az1", "usw1-az3"])
    error_message = "DescribeAvailabilityZones must filter on the Fargate zone IDs"
  }
}

run "other_regions_take_the_two_lowest_zone_ids" {
  command = plan

  variables {
    aws_region = "eu-west-1"
  }

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      zone_ids = ["euw1-az3", "euw1-az1", "euw1-az2"]
    }
  }

  assert {
    condition     = [for s in aws_subnet.public : s.availability_zone] == ["eu-west-1b", "eu-west-1c"]
    error_message = "without a Fargate restriction the subnets take the two lowest zone IDs (euw1-az1, euw1-az2)"
  }
}

run "explicit_zone_ids_win" {
  command = plan

  variables {
    availability_zone_ids = ["usw1-az3"]
  }

  assert {
    condition     = [for s in aws_subnet.public : s.availability_zone] == ["us-west-1a"]
    error_message = "availability_zone_ids must override the per-region default"
  }
}

run "no_fargate_zone_is_a_clear_error" {
  command = plan

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["us-west-1a"]
      zone_ids = ["usw1-az2"]
    }
  }

  expect_failures = [aws_vpc.this]
}

run "zone_names_are_refused_as_zone_ids" {
  command = plan

  variables {
    availability_zone_ids = ["us-west-1a"]
  }

  expect_failures = [var.availability_zone_ids]
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
    condition     = aws_ecs_service.consumer.desired_count == 0
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

# -- Point-in-time recovery: on for the main stack -------------------------------------------------

run "main_tables_keep_point_in_time_recovery" {
  command = plan

  assert {
    condition     = output.stack_settings.point_in_time_recovery == true
    error_message = "the main stack's tables keep point-in-time recovery on"
  }
}
