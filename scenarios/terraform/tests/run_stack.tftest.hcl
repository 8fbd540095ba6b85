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
