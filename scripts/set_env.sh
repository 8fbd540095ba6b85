#!/usr/bin/env bash
# Export the deployment's settings for the shell: QUEUE_URL, DLQ_ARN, ECR_REPO, AWS_REGION,
# MESSAGE_STATUS_TABLE, MESSAGE_COMPLETED_TABLE, plus CLUSTER_NAME, SERVICE_NAME and LOG_GROUP
# for the ECS commands in docs/aws.md.
#
#   source scripts/set_env.sh            # into the current shell
#   scripts/set_env.sh --print           # print `export K=V` lines (eval "$(scripts/set_env.sh --print)")
#
# Precedence: a variable already set in the environment > .env (SQSKIT_ENV_FILE, default the
# repo root's, written by `make local-up` or `make aws-up`) > the main infrastructure's
# Terraform outputs (terraform -chdir=terraform output -json). After `make local-up` the .env
# also carries AWS_ENDPOINT_URL and the emulator's dummy keys, so the scripts reach it as is.

_sqskit_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sqskit_keys=(QUEUE_URL DLQ_ARN ECR_REPO AWS_REGION MESSAGE_STATUS_TABLE MESSAGE_COMPLETED_TABLE
  CLUSTER_NAME SERVICE_NAME LOG_GROUP)

# .env: KEY=VALUE lines; comments and blank lines ignored; never overrides the environment.
_sqskit_from_dotenv() {
  local file="${SQSKIT_ENV_FILE:-$_sqskit_root/.env}" line key value
  [[ -f $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    key="${line%%=*}"
    value="${line#*=}"
    key="${key//[[:space:]]/}"
    value="${value%\"}"
    value="${value#\"}"
    [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [[ -n ${!key:-} ]] || export "$key=$value"
  done <"$file"
}

# Terraform outputs of the main infrastructure, for what .env did not provide.
_sqskit_from_terraform() {
  local missing=0 key
  for key in "${_sqskit_keys[@]}"; do [[ -n ${!key:-} ]] || missing=1; done
  ((missing)) || return 0
  command -v terraform >/dev/null 2>&1 || return 0
  [[ -f $_sqskit_root/terraform/terraform.tfstate ]] || return 0
  local json python
  json="$(terraform -chdir="$_sqskit_root/terraform" output -json 2>/dev/null)" || return 0
  python="${PYTHON:-$_sqskit_root/.venv/bin/python}"
  [[ -x $python ]] || python=python3
  while IFS='=' read -r key value; do
    [[ -n $key && -z ${!key:-} ]] && export "$key=$value"
  done < <("$python" - "$json" <<'PY'
import json, sys
out = {k: v.get("value") for k, v in json.loads(sys.argv[1]).items()}
names = {
    "QUEUE_URL": "queue_url", "DLQ_ARN": "dlq_arn", "ECR_REPO": "ecr_repository_url",
    "AWS_REGION": "aws_region", "MESSAGE_STATUS_TABLE": "message_status_table",
    "MESSAGE_COMPLETED_TABLE": "message_completed_table", "CLUSTER_NAME": "cluster_name",
    "SERVICE_NAME": "service_name", "LOG_GROUP": "log_group_name",
}
for key, output in names.items():
    if out.get(output) not in (None, ""):
        print(f"{key}={out[output]}")
PY
  )
}

_sqskit_from_dotenv
_sqskit_from_terraform
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-}}"

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  # Executed, not sourced: print what a shell should export.
  if [[ ${1:-} == --print ]]; then
    for _k in "${_sqskit_keys[@]}"; do
      [[ -n ${!_k:-} ]] && printf 'export %s=%q\n' "$_k" "${!_k}"
    done
  else
    echo "source this file (source scripts/set_env.sh), or run it with --print" >&2
    exit 2
  fi
fi
unset -f _sqskit_from_dotenv _sqskit_from_terraform
