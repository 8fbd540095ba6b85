terraform {
  # Minimums only: terraform 1.11.x and hashicorp/aws 5.100.0 (the offline mirror) satisfy them.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
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
