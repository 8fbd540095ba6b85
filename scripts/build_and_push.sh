#!/usr/bin/env bash
# Build the consumer image for Fargate (linux/amd64) and push it to the deployment's ECR repo.
#
#   scripts/build_and_push.sh                 # tag = git SHA (+ -dirty-<UTC timestamp> if dirty)
#   IMAGE_TAG=v1 scripts/build_and_push.sh    # an explicit tag
#   DRY_RUN=1 scripts/build_and_push.sh       # print the commands, run nothing
#
# ECR_REPO and AWS_REGION come from the environment, .env, or the Terraform outputs
# (scripts/set_env.sh). The repository's tags are immutable, so a tag is pushed once: when the
# tag is already in ECR (a re-run on the same commit) nothing is built or pushed. The dirty
# suffix keeps a rebuilt work tree from colliding with the commit's image.
# Then point the service at it:
#   terraform -chdir=terraform apply -var container_image_tag=<tag>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=set_env.sh
source scripts/set_env.sh

run() {
  printf '+ %s\n' "$*" >&2
  [[ ${DRY_RUN:-0} == 1 ]] || "$@"
}

if [[ -z ${IMAGE_TAG:-} ]]; then
  IMAGE_TAG="$(git rev-parse --short=12 HEAD 2>/dev/null || echo untracked)"
  if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    IMAGE_TAG="${IMAGE_TAG}-dirty-$(date -u +%Y%m%d%H%M%S)"
  fi
fi
: "${ECR_REPO:?ECR_REPO is not set: deploy the main infrastructure (make aws-up) or write .env}"
: "${AWS_REGION:?AWS_REGION is not set: export it or write .env}"
registry="${ECR_REPO%%/*}"
repository="${ECR_REPO#*/}"
image="$ECR_REPO:$IMAGE_TAG"

next_steps() {
  echo "next: terraform -chdir=terraform apply -var container_image_tag=$IMAGE_TAG"
  echo "  or: make aws-up TAG=$IMAGE_TAG"
  echo "  or: scenario run happy --target aws --image-tag $IMAGE_TAG --yes"
}

# A pushed tag cannot be pushed again (IMMUTABLE), and the same commit builds the same image.
describe=(aws ecr describe-images --region "$AWS_REGION" --repository-name "$repository"
  --image-ids "imageTag=$IMAGE_TAG")
if [[ ${DRY_RUN:-0} == 1 ]]; then
  printf '+ %s\n' "${describe[*]}" >&2
elif found="$("${describe[@]}" 2>&1)"; then
  echo "$image is already in ECR (tags are immutable): nothing to build or push"
  next_steps
  exit 0
elif [[ $found != *ImageNotFoundException* ]]; then
  echo "cannot check $image in ECR (aws ecr describe-images failed): ${found##*$'\n'}" >&2
  exit 1
fi

# The consumer Dockerfile installs from a local wheelhouse (no registry access at build time).
if [[ ! -d .wheelhouse/consumer ]]; then
  run "${PYTHON:-.venv/bin/python}" -m local.docker build wheelhouse
fi

if docker buildx version >/dev/null 2>&1; then
  run docker buildx build --platform linux/amd64 --load -f consumer/Dockerfile -t "$image" .
else
  run docker build --platform linux/amd64 -f consumer/Dockerfile -t "$image" .
fi

if [[ ${DRY_RUN:-0} == 1 ]]; then
  printf '+ aws ecr get-login-password --region %s | docker login --username AWS --password-stdin %s\n' \
    "$AWS_REGION" "$registry" >&2
else
  aws ecr get-login-password --region "$AWS_REGION" |
    docker login --username AWS --password-stdin "$registry"
fi
run docker push "$image"

echo "pushed $image"
next_steps
