terraform {
  # 1.9: the stack module's validations refer to other variables (Fargate CPU/memory pairs).
  required_version = ">= 1.9.0"

  # One workspace per scenario run. The provisioner points workspace_dir at this directory's
  # terraform.tfstate.d, so `terraform workspace list` here shows every live run.
  backend "local" {}

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Same pin as the main root (terraform/versions.tf); .terraform.lock.hcl holds 5.100.0.
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region
}
