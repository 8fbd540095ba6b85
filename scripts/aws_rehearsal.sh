#!/usr/bin/env bash
# Rehearse a scenario on the AWS code path here (MiniStack runs the ECS tasks on Docker), run
# the same scenario on the local target, and diff the two reports: `make aws-rehearsal`.
#
#   scripts/aws_rehearsal.sh                      # happy
#   scripts/aws_rehearsal.sh crash --count 10     # any `scenario run` option passes to both runs
#
# The rehearsal reuses `make local-up`'s emulator and main infrastructure when they are up
# (Terraform then applies only the run's workspace). Reports go to reports/rehearsal/<UTC time>/
# (REHEARSAL_DIR to choose). Exit status: a run's own (1 oracle failed, 2 usage, 3
# infrastructure) if one fails, else the diff's (0 parity, 1 a difference beyond the target).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:-happy}"
(($# > 0)) && shift
scenario="$root/.venv/bin/scenario"
[[ -x $scenario ]] || scenario=scenario
dir="${REHEARSAL_DIR:-$root/reports/rehearsal/$(date -u +%Y%m%d-%H%M%S)}"

"$scenario" run "$name" --target aws --emulator auto --report-dir "$dir/aws" "$@"
"$scenario" run "$name" --target local --report-dir "$dir/local" "$@"
shopt -s nullglob
aws_reports=("$dir"/aws/*/"$name".json)
local_reports=("$dir"/local/*/"$name".json)
if ((${#aws_reports[@]} != 1 || ${#local_reports[@]} != 1)); then
  echo "aws-rehearsal: expected one $name.json under $dir/aws and $dir/local" >&2
  exit 3
fi
echo "diff: ${local_reports[0]} (local) vs ${aws_reports[0]} (aws, rehearsed)"
exec "$scenario" diff "${local_reports[0]}" "${aws_reports[0]}"
