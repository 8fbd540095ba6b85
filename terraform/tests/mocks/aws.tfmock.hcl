# Answers for the AWS data sources the main root reads, shared by every suite in tests/.

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
