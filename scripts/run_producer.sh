#!/usr/bin/env bash
# Send messages to the deployment's queue with the kit's producer (`produce`).
#
#   scripts/run_producer.sh                    # 10 messages
#   scripts/run_producer.sh --n 500 --rate 50  # any `produce` option passes through
#
# QUEUE_URL and AWS_REGION come from the environment, .env, or the Terraform outputs
# (scripts/set_env.sh). After `make local-up` the .env points it at the emulator: no exports.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=set_env.sh
source "$root/scripts/set_env.sh"
: "${QUEUE_URL:?QUEUE_URL is not set: deploy the main infrastructure (make aws-up) or write .env}"
produce_bin="$root/.venv/bin/produce"
[[ -x $produce_bin ]] || produce_bin=produce
exec "$produce_bin" --queue-url "$QUEUE_URL" --region "${AWS_REGION:-us-west-1}" "$@"
