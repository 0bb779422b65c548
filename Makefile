# The first Python 3.12+ found; `make PYTHON=/path/to/python3.12 ...` to choose another.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
# Local services the tests use when they are reachable (see conftest.py).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tracker
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint format bench bench-dashboards bench-site-script

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed: install it or pass PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Third-party front-end code the browser tests serve on customers' pages (package.json).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the browser tests that serve third-party pages will be skipped"; fi

run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py load_demo
	DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:8000

test: install node_modules/.installed
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
		$(BIN)/pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Tracking endpoint against pgbench on the same transaction (needs PostgreSQL, Redis, wrk,
# pgbench on this machine; takes about 10 minutes). Results go to bench/results/.
bench: install
	$(BIN)/python bench/run.py $(ARGS)

# Dashboard server time at 1,000,000 and 10,000,000 executions (about 15 minutes, 10 GB of disk).
bench-dashboards: install
	$(BIN)/python bench/dashboards.py $(ARGS)

# A playbook's change on a customer's page in Chromium: DOMContentLoaded to applied, and how
# long the original showed first, cold and warm, with and without anti-flicker (a few minutes).
bench-site-script: install node_modules/.installed
	$(BIN)/python bench/site_script.py $(ARGS)
