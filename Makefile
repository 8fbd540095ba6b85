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

.PHONY: help venv demo test test-unit lint typecheck bench local-up local-down local-status \
        emulator-matrix doctor scenarios-all clean

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

test: $(STAMP) lint typecheck ## lint, type-check and run every test tier (Docker/terraform tiers skip when absent)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## the fast in-process tier only
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

lint: $(STAMP) ## ruff format check + lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP) ## mypy (strict on library code)
	$(BIN)/mypy consumer producer local scenarios

bench: $(STAMP) ## print every number the issues ask for (side by side, one run)
	$(PY) -m bench

local-up: $(STAMP) ## start an emulator, provision the main infrastructure, write .env
	$(PY) -m local up

local-down: $(STAMP) ## stop what local-up started
	$(PY) -m local down

local-status: $(STAMP) ## show what is running
	$(PY) -m local status

doctor: $(STAMP) ## run the conformance probe against the configured or embedded emulator
	$(BIN)/scenario doctor

emulator-matrix: $(STAMP) ## regenerate docs/emulators.md from the probe
	$(PY) -m local.matrix

scenarios-all: $(STAMP) ## run every scenario on the local target
	$(BIN)/scenario run all --target local

clean: ## remove build artefacts (keeps .venv)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache reports
