terraform {
  # 1.9: variable validations may refer to other variables (the Fargate CPU/memory pairs).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Pinned to the 5.x line: 6.0 is a major release with breaking changes that nothing here
      # was tested against, and a run without the offline mirror must not pick it up.
      # .terraform.lock.hcl records the exact version (5.100.0) and its checksums.
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      "project"    = var.project_name
      "managed-by" = "sqs-kit"
    }
  }
}
