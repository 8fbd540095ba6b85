# The SSM agent sidecar for AWS FIS aws:ecs:task-* actions (opt-in: fis_managed_instance_role).
# It registers this task as an SSM managed instance tagged with the task's ARN - FIS finds the
# task's instance by that tag - runs the agent, and on SIGTERM deletes the activation and
# deregisters the instance, so stopped tasks leave no managed instances behind.
set -eu
dnf install -y -q jq awscli >/dev/null
: "${MANAGED_INSTANCE_ROLE_NAME:?MANAGED_INSTANCE_ROLE_NAME is not set}"
: "${ECS_CONTAINER_METADATA_URI_V4:?not an ECS task: no task metadata endpoint}"
meta=$(curl -fsS "${ECS_CONTAINER_METADATA_URI_V4}/task")
task_arn=$(echo "$meta" | jq -er .TaskARN)
zone=$(echo "$meta" | jq -er .AvailabilityZone)
region=${zone%?}
activation=$(aws ssm create-activation --region "$region" \
  --iam-role "$MANAGED_INSTANCE_ROLE_NAME" \
  --tags "Key=ECS_TASK_ARN,Value=$task_arn" "Key=ECS_TASK_AVAILABILITY_ZONE,Value=$zone" \
  "Key=FAULT_INJECTION_SIDECAR,Value=true")
activation_id=$(echo "$activation" | jq -er .ActivationId)
cleanup() {
  aws ssm delete-activation --region "$region" --activation-id "$activation_id" || true
  instance=$(jq -r .ManagedInstanceID /var/lib/amazon/ssm/registration 2>/dev/null || true)
  if [ -n "$instance" ]; then
    aws ssm deregister-managed-instance --region "$region" --instance-id "$instance" || true
  fi
  kill -TERM "$agent" 2>/dev/null || true
}
trap cleanup TERM INT
amazon-ssm-agent -register -region "$region" -id "$activation_id" \
  -code "$(echo "$activation" | jq -er .ActivationCode)"
amazon-ssm-agent &
agent=$!
wait "$agent"
