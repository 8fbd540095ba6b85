terraform {
  # 1.9: variable validations may refer to other variables (the Fargate CPU/memory pairs).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # A reusable module states the range it works with; the roots pin the exact line (~> 5.100)
      # and lock the version. 6.x (breaking changes, untested here) is excluded.
      version = ">= 5.40, < 6.0"
    }
  }
}
