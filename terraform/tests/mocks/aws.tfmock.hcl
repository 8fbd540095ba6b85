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

# ARNs and URLs the provider validates at apply (an apply-mode run needs them well-formed).
mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
}
mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:us-west-1:123456789012:log-group:mock" }
}
mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:us-west-1:123456789012:repository/mock"
    repository_url = "123456789012.dkr.ecr.us-west-1.amazonaws.com/mock"
  }
}
mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:us-west-1:123456789012:mock"
    url = "https://sqs.us-west-1.amazonaws.com/123456789012/mock"
  }
}
mock_resource "aws_dynamodb_table" {
  defaults = { arn = "arn:aws:dynamodb:us-west-1:123456789012:table/mock" }
}
mock_resource "aws_ecs_task_definition" {
  defaults = { arn = "arn:aws:ecs:us-west-1:123456789012:task-definition/mock:1" }
}
mock_resource "aws_ecs_cluster" {
  defaults = { arn = "arn:aws:ecs:us-west-1:123456789012:cluster/mock" }
}
