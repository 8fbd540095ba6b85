# sqs-kit - every entry point a user or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCENARIO ?= happy
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`; each module stays on one worker (its fixtures are shared)
TEST_WORKERS ?= 2
SEC_VENV ?= .venv-security
CHECKOV  := $(SEC_VENV)/bin/checkov

.PHONY: help venv demo test test-long test-unit lint typecheck security bench sanitize soak image local-up local-down \
        local-status emulator-matrix doctor scenarios-all aws-rehearsal aws-build-push aws-up \
        aws-logs aws-status aws-cleanup aws-down clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[kit,dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create the virtualenv and install the kit (idempotent)

demo: $(STAMP) ## run the `happy` scenario on the embedded emulator and print the report
	$(BIN)/scenario run $(SCENARIO) --target local

test: $(STAMP) $(CHECKOV) lint typecheck ## lint, type-check, run every tier but `long` (Docker/terraform skip when absent)
	$(BIN)/pytest -m "not long" -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-long: $(STAMP) ## the runs of many minutes that `make test` leaves out (rehearsals with AWS timings)
	$(BIN)/pytest -m long $(PYTEST_ARGS)

test-unit: $(STAMP) ## the fast in-process tier only
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

lint: $(STAMP) ## ruff format check + lint + the import layering (lint-imports)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy (strict on library code, relaxed on tests and benchmarks)
	$(BIN)/mypy consumer core producer local scenarios
	$(BIN)/mypy tests bench

$(CHECKOV):
	$(PYTHON) -m venv $(SEC_VENV)
	$(SEC_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'

security: $(CHECKOV) ## checkov on the Terraform roots (FIS off and on), the IAM policies and the Dockerfile (0 failures)
	$(CHECKOV) -d terraform --skip-download --quiet --compact
	$(CHECKOV) -d scenarios/terraform --skip-download --quiet --compact
	rm -rf build/iam-checkov && $(PYTHON) terraform/iam/checkov_wrap.py build/iam-checkov
	$(CHECKOV) -d build/iam-checkov --skip-download --quiet --compact
	rm -rf build/fis-checkov && $(PYTHON) terraform/iam/checkov_wrap.py build/fis-checkov terraform/iam/sqs-kit-fis-policy.json
	$(CHECKOV) -d build/fis-checkov --skip-download --quiet --compact
	mkdir -p build && printf 'enable_fis_network_faults = true\n' > build/fis.tfvars
	$(CHECKOV) -d terraform --var-file build/fis.tfvars --skip-download --quiet --compact
	$(CHECKOV) -f consumer/Dockerfile --skip-download --quiet --compact

image: $(STAMP) ## build the consumer image offline (base image, wheelhouse, image); needs Docker
	$(PY) -m local.docker build all

bench: $(STAMP) ## print every number the issues ask for (side by side, one run)
	$(PY) -m bench

sanitize: $(STAMP) ## the fault proxy's C fast path under ASan and UBSan (gcc), its relay tests; not in `make test`
	PY=$(PY) scripts/sanitize-fastpath.sh

COUNT ?= 10000
soak: $(STAMP) ## COUNT (10000) messages under crashes, SIGKILLs, duplicates and poison; not in `make test`
	$(PY) -m scenarios.soak --count $(COUNT)

local-up: $(STAMP) ## emulator + terraform/ via tflocal (desired_count=0) + .env; again: seconds
	$(PY) -m local up

local-down: $(STAMP) ## destroy what local-up created (main infra, .env), stop the emulator
	$(PY) -m local down

local-status: $(STAMP) ## show what is running
	$(PY) -m local status

doctor: $(STAMP) ## run the conformance probe against the configured or embedded emulator
	$(BIN)/scenario doctor

emulator-matrix: $(STAMP) ## regenerate docs/emulators.md from the probe
	$(PY) -m local.matrix

scenarios-all: $(STAMP) ## run every scenario on the local target
	$(BIN)/scenario run all --target local

aws-rehearsal: $(STAMP) ## SCENARIO on the AWS code path here (MiniStack + Docker), on local, then diff
	scripts/aws_rehearsal.sh $(SCENARIO)

aws-build-push: ## build the consumer (linux/amd64) and push it to ECR; tag = git SHA
	scripts/build_and_push.sh

aws-up: $(STAMP) ## deploy/update the main infrastructure on AWS (TAG=<pushed image tag>; COUNT=0 needs none)
	$(if $(or $(TAG),$(filter 0,$(COUNT))),,$(error TAG=<image tag> is required: `make aws-build-push` pushes the image and prints its tag (the repository's tags are immutable, there is no `latest`); a first deploy without an image is `make aws-up COUNT=0`))
	terraform -chdir=terraform init -input=false
	terraform -chdir=terraform apply $(if $(TAG),-var container_image_tag=$(TAG)) $(if $(COUNT),-var desired_count=$(COUNT))
	$(PY) -m scenarios.tfenv

aws-logs: ## tail the consumers' CloudWatch logs
	source scripts/set_env.sh && aws logs tail "$$LOG_GROUP" --follow --since 10m

aws-status: ## desired/running/pending tasks of the ECS service
	source scripts/set_env.sh && aws ecs describe-services --cluster "$$CLUSTER_NAME" --services "$$SERVICE_NAME" --query 'services[0].{desired:desiredCount,running:runningCount,pending:pendingCount}'

aws-cleanup: $(STAMP) ## list scenario leftovers on AWS (YES=1 removes them)
	$(BIN)/scenario cleanup --target aws $(if $(YES),--yes)

aws-down: $(STAMP) ## remove scenario leftovers, then destroy the main infrastructure
	$(BIN)/scenario cleanup --target aws --yes
	terraform -chdir=terraform destroy

clean: ## remove build artefacts (keeps .venv)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache reports
