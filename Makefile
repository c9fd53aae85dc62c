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

.PHONY: dev test test-faults lint migrate clean install screenshots bench-load bench-create bench-scale

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

# The API's benchmarks (issue 17; figures in bench/RESULTS.md). Each starts what it needs
# on free ports and stops it. BENCH_DATABASE_URL: an empty PostgreSQL database, needed by
# bench-scale (which seeds it); the others use SQLite without it.
BENCH_DATABASE_URL ?=
BENCH_REDIS_URL ?=
BENCH_DB = $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))
BENCH_REDIS = $(if $(BENCH_REDIS_URL),--redis-url $(BENCH_REDIS_URL))

bench-load: $(STAMP)
	$(BIN)/python -m bench.load --clients 50 --duration 60 --mix firm --think 1 $(BENCH_DB) $(BENCH_REDIS)

bench-create: $(STAMP)
	$(BIN)/python -m bench.create --n 200 --rounds 3 $(BENCH_DB) $(BENCH_REDIS)

bench-scale: $(STAMP)
	@test -n "$(BENCH_DATABASE_URL)" || { echo "bench-scale needs BENCH_DATABASE_URL (an empty PostgreSQL database)" >&2; exit 2; }
	$(BIN)/python -m bench.scale --database-url $(BENCH_DATABASE_URL) --seed
