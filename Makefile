# Steward: `make demo` runs the app with demo data, `make test` runs the tests. `make help` lists all.
SHELL := /bin/bash
# The first Python 3.11+ that actually runs (a pyenv shim may exist for a version that is not active).
PYTHON ?= $(shell for candidate in python3 python3.13 python3.12 python3.11; do \
	$$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$candidate; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install demo serve test lint format worker beat messages check-deploy clean bench soak soak-security security soak

help: ## List the make targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-13s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv (Python 3.11+) with everything Steward and its tests need; idempotent

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Steward needs Python 3.11 or newer (python3 on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: export DEBUG = true
demo: install ## Migrate the SQLite default, load demo data and serve on http://127.0.0.1:8000
	$(BIN)/python manage.py setup_demo
	@# The fake CRM and advisory tool run beside the server, so "Sync now" works; both stop together.
	@$(BIN)/python manage.py serve_demo_sources & trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
		$(BIN)/python manage.py runserver $(HOST):$(PORT)

serve: export DEBUG = true
serve: install ## Serve without reloading demo data
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install ## Run the whole test suite (SQLite + eager Celery, or DATABASE_URL / REDIS_URL when set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The attack-surface tests at full strength (STEWARD_SOAK=1, tests/soak.py): 100,000 rule expressions and
# message templates, 400 generated API requests per operation and persona. Long; CI runs the bounded variant.
SECURITY_SOAK_TESTS ?= framework/tests/test_hostile_input.py tests/test_hostile_templates.py tests/test_api_fuzz.py
soak-security: install ## Part of make soak: 100,000 hostile rule expressions and templates, 16x the API fuzzing
	STEWARD_SOAK=1 $(BIN)/python -m pytest $(SECURITY_SOAK_TESTS) -q $(SOAK_ARGS)

security: install ## bandit over the project's code; fails on any high-severity finding
	$(BIN)/bandit -c pyproject.toml -q -r . --severity-level high

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: install ## Start a Celery worker (needs REDIS_URL)
	$(BIN)/celery -A config worker --loglevel=INFO

beat: install ## Start Celery beat with the schedule stored in the database (needs REDIS_URL)
	$(BIN)/celery -A config beat --loglevel=INFO

messages: install ## Extract the UI strings into locale/nl (needs GNU gettext) and compile them
	DEBUG=true $(BIN)/python manage.py makemessages --locale nl --no-obsolete --ignore '.venv/*' --ignore 'node_modules/*'
	DEBUG=true $(BIN)/python manage.py compilemessages --locale nl --ignore '.venv/*'

# The benchmarks' own database: dropped and created again by every run (its name must contain "bench").
SIZE ?= 1000000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/steward_bench
bench: install ## Benchmarks on PostgreSQL (SIZE=1000000 clients; SIZE=100000 for a quick look) -> docs/benchmarks.md
	BENCH_COMMAND="make bench SIZE=$(SIZE)" DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m benchmarks --prepare --size $(SIZE) $(BENCH_ARGS)

# Soak runs: the fault tests at full size (100,000-record syncs killed at many points, PostgreSQL and
# Redis restarts, 10,000 mutated pages). They start their own workers, PostgreSQL cluster and Redis.
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/steward_soak
SOAK_REDIS_URL ?= redis://127.0.0.1:6379/7
soak: install soak-security ## Long fault runs on PostgreSQL and Redis (kill -9, restarts, mutated pages); prints the figures
	STEWARD_SOAK=1 DATABASE_URL=$(SOAK_DATABASE_URL) REDIS_URL=$(SOAK_REDIS_URL) STEWARD_FAULTS_REDIS_URL=$(SOAK_REDIS_URL) \
		$(BIN)/python -m pytest ingestion/tests/faults -q -s $(SOAK_ARGS)

check-deploy: install ## Run Django's deployment checks with production-like settings
	DEBUG=false SECRET_KEY=$$(openssl rand -hex 40) ALLOWED_HOSTS=steward.example $(BIN)/python manage.py check --deploy --fail-level WARNING

clean: ## Remove the virtualenv, the SQLite database and collected static files
	rm -rf $(VENV) db.sqlite3 staticfiles
