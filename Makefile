# Selinexor Companion: `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
export PORT

.DEFAULT_GOAL := help

# Every library comes pinned (with hashes) from requirements.lock; the project itself is installed on top of it.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

.PHONY: help install lock lint typecheck run test test-unit test-e2e bench migrate demo worker fake-sms clean

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the app with its test tools

lock: $(STAMP) ## Re-pin every dependency into requirements.lock (after changing pyproject.toml)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra lint --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements.lock

lint: $(STAMP) ## Check style (ruff) and the import contracts (import-linter)
	$(VENV)/bin/ruff check server notifications tests
	$(VENV)/bin/ruff format --check server notifications tests
	$(VENV)/bin/lint-imports

typecheck: $(STAMP) ## Type-check (mypy: strict on server/clinical, basic elsewhere)
	$(VENV)/bin/mypy

run: $(STAMP) ## Migrate the SQLite demo database, seed the demo clinic, serve it with the worker on http://127.0.0.1:$(PORT)
	$(VENV)/bin/companion migrate
	$(VENV)/bin/companion demo
	$(VENV)/bin/companion serve --with-worker --port $(PORT)

test: $(STAMP) ## Run the whole suite (unit and integration, then the browser tests in their own process)
	$(PY) -m pytest tests --ignore=tests/e2e --ignore=tests/bench
	@if ls tests/e2e/test_*.py >/dev/null 2>&1; then $(PY) -m pytest tests/e2e; fi

test-unit: $(STAMP) ## Run the suite without the browser tests
	$(PY) -m pytest tests --ignore=tests/e2e --ignore=tests/bench

test-e2e: $(STAMP) ## Run only the browser tests (Debian's Chromium through Playwright)
	$(PY) -m pytest tests/e2e

# The benchmarks' scale (the issue's is 5,000 patients x 200 entries, 10,000 due, 1,000,000 future reminders; the
# defaults keep `make bench` to a few minutes on a 2-CPU machine). Each bench seeds its own data (tests/bench/bench_data.py).
BENCH_PATIENTS ?= 1000
BENCH_ENTRIES ?= 100
BENCH_MESSAGES ?= 5000
BENCH_FUTURE_ROWS ?= 1000000
export BENCH_PATIENTS BENCH_ENTRIES BENCH_MESSAGES BENCH_FUTURE_ROWS

bench: $(STAMP) ## Run the benchmarks (each against a floor measured in the same run; a missed target fails)
	$(PY) -m pytest tests/bench -s -q -p no:cacheprovider

migrate: $(STAMP) ## Upgrade the database at DATABASE_URL (default: var/companion.sqlite3)
	$(VENV)/bin/companion migrate

worker: $(STAMP) ## Run the reminder worker as its own process
	$(VENV)/bin/companion worker

FAKE_SMS_PORT ?= 8099
fake-sms: $(STAMP) ## Run the fake Twilio on http://127.0.0.1:$(FAKE_SMS_PORT) (prints the TWILIO_* settings to use)
	$(PY) -m tests.fakes.sms_provider --port $(FAKE_SMS_PORT)

clean: ## Remove the virtualenv, the demo database and caches
	rm -rf $(VENV) var build *.egg-info .pytest_cache
