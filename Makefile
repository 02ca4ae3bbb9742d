# Taskfleet — every entry point goes through scripts/bootstrap.sh (project-local Node 24 + pnpm and the
# workspace packages), so a fresh machine needs nothing but `make up` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BOOT  := . scripts/bootstrap.sh
NODE  := node --conditions=@taskfleet/source
STACK := $(NODE) shared/infra/src/cli.ts
# docker compose when a Docker engine answers, else the native stack. Override: make up RUNTIME=native
RUNTIME ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo native)
ARGS ?=

.PHONY: help up down status env test bench lint format typecheck check deps bootstrap clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up: ## start the whole cluster (idempotent)
	@$(BOOT); if [ "$(RUNTIME)" = docker ]; then scripts/ensure-env.sh && nginx/self-signed-cert.sh .certs && docker compose up -d --wait; else $(STACK) deps && $(STACK) up; fi

down: ## stop everything `make up` started (data is kept; `make clean` removes it)
	@$(BOOT); if [ "$(RUNTIME)" = docker ]; then docker compose down; else $(STACK) down; fi

status: ## each component with its PID and address (add ARGS=--json for machines)
	@$(BOOT); if [ "$(RUNTIME)" = docker ]; then docker compose ps; else $(STACK) status $(ARGS); fi

env: ## connection settings of the running native stack
	@$(BOOT); $(STACK) env

test: ## run every test against real servers; ends with "N passed, M failed"
	@$(BOOT); $(STACK) deps && $(NODE) scripts/run-tests.ts $(ARGS)

bench: ## benchmark suite on a stack of its own (ARGS="--profile long" for real numbers; docs/performance.md)
	@$(BOOT); ulimit -n "$$(ulimit -Hn)"; $(STACK) deps && $(NODE) bench/src/cli.ts $(ARGS)

lint: ## biome lint + format check
	@$(BOOT); pnpm exec biome check .

format: ## apply biome fixes and formatting
	@$(BOOT); pnpm exec biome check --write .

typecheck: ## one strict typecheck of the whole workspace
	@$(BOOT); pnpm exec tsc -p tsconfig.json

check: lint typecheck ## lint + typecheck

deps: ## install the Debian packages the native stack needs (as root)
	@$(BOOT); $(STACK) deps

bootstrap: ## install the toolchain and workspace packages only
	@$(BOOT)

clean: down ## stop the native stack and delete its data
	@$(BOOT); $(STACK) down --purge
