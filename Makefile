# Taskfleet — every entry point goes through scripts/bootstrap.sh (project-local Node 24 + pnpm and the
# workspace packages), so a fresh machine needs nothing but `make up` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BOOT  := . scripts/bootstrap.sh
NODE  := node --conditions=@taskfleet/source
STACK := $(NODE) shared/infra/src/cli.ts
SWARM := $(NODE) shared/infra/src/swarm/cli.ts
# docker compose when a Docker engine answers, else the native stack. Override: make up RUNTIME=native;
# RUNTIME=docker without an engine installs (Debian, as root) and starts one (scripts/docker-engine.sh).
RUNTIME ?= $(shell timeout 10 docker info >/dev/null 2>&1 && echo docker || echo native)
ARGS ?=
ENGINE := $(if $(filter docker,$(RUNTIME)),scripts/docker-engine.sh ensure >&2 &&,)
ifeq ($(filter docker native,$(RUNTIME)),)
$(error RUNTIME must be docker or native, not "$(RUNTIME)")
endif

.PHONY: help up down status scale env test bench lint format typecheck check deps bootstrap clean images \
	lab-up lab-status lab-down swarm-secrets swarm-deploy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up: ## start the whole cluster and wait until it is healthy (idempotent; RUNTIME=docker|native)
	@$(BOOT); $(ENGINE) if [ "$(RUNTIME)" = docker ]; then $(STACK) up --runtime docker; else $(STACK) deps && $(STACK) up; fi

down: ## stop everything `make up` started (data is kept; `make clean` removes it)
	@$(BOOT); $(STACK) down --runtime $(RUNTIME)

status: ## each component (process or container) with its state and address (ARGS=--json for machines)
	@$(BOOT); $(STACK) status --runtime $(RUNTIME) $(ARGS)

scale: ## native stack: set replica counts at run time, e.g. ARGS="tasks=4 gateway=3" (docs/native-stack.md)
	@$(BOOT); $(STACK) scale --runtime $(RUNTIME) $(ARGS)

images: ## build every container image from Debian packages (ARGS="--missing", ARGS="tasks gateway")
	@$(BOOT); scripts/docker-engine.sh ensure >&2 && deploy/images/build.sh $(ARGS)

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

clean: ## stop the stack and delete its data (native: the stack directory; docker: the volumes)
	@$(BOOT); $(STACK) down --purge --runtime $(RUNTIME)

lab-up: ## a three-node Docker Swarm on this machine (Docker-in-Docker) with the stack deployed on it
	@$(BOOT); scripts/docker-engine.sh ensure >&2 && $(SWARM) lab-up

lab-status: ## the lab's manager, edge URL, nodes and services (ARGS=--json for machines)
	@$(BOOT); $(SWARM) lab-status $(ARGS)

lab-down: ## remove every container, network and volume the lab made
	@$(BOOT); $(SWARM) lab-down

swarm-secrets: ## make the missing secret files for a Swarm deploy (DIR=path outside the repository)
	@$(BOOT); $(SWARM) secrets --dir "$(DIR)"

swarm-deploy: ## deploy the stack through DOCKER_HOST (a manager), after checking secrets, labels, images (ARGS="--secrets DIR --registry HOST:PORT")
	@$(BOOT); $(SWARM) deploy $(ARGS)
