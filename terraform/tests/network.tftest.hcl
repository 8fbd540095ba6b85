# `terraform test` for the main infrastructure: the subnets' availability zones.
# Offline: the mock provider (tests/mocks) answers every AWS call. tests/terraform/test_tftest.py
# runs the suites and checks that each guarded fix, undone, makes its run fail.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  project_name        = "tftest-main"
  container_image_tag = "3f9a1c2b7d4e"
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
