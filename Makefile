# Everyday commands. Each one creates .venv and installs the project on first use, and
# reinstalls only when pyproject.toml changes (the stamp file records the last install).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= .data
PYTEST_ARGS ?=

# TEST_DATABASE_URL and REDIS_URL reach pytest from the environment or the command line
# (`make test TEST_DATABASE_URL=postgresql+psycopg://...`); CI sets both.

.PHONY: dev test test-faults lint migrate clean install screenshots

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (set PYTHON=python3.11)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/reminders dev --data-dir $(DATA_DIR)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# Fault injection (tests/faults, left out of `make test`): Temporal dev server, workers,
# API processes, SMTP and Twilio-compatible servers on loopback, one fault per test; a few
# minutes. The database-outage test runs on PostgreSQL when FAULTS_POSTGRES_URL (or
# TEST_DATABASE_URL) names a server, and is skipped otherwise.
test-faults: $(STAMP)
	$(BIN)/pytest tests/faults $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Full-page PNGs of the dashboard (headless Debian Chromium at /usr/bin/chromium).
screenshots: $(STAMP)
	mkdir -p docs/screenshots
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest tests/web -q

migrate: $(STAMP)
	$(BIN)/reminders migrate

clean:
	rm -rf $(DATA_DIR)
