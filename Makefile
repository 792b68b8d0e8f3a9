# The two commands of the README: `make demo` and `make test`. Both set up a fresh machine first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PGDIR ?= /tmp/questline-pg
PGPORT ?= 55432
export QUESTLINE_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:$(PGPORT)/questline_test

.PHONY: setup demo test lint typecheck pytest postgres postgres-stop bench lock clean

$(BIN)/questline: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(BIN)/questline

demo: setup
	$(BIN)/questline demo

test: setup postgres lint typecheck pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -q

# PostgreSQL from Debian's packages, in a throw-away cluster bound to 127.0.0.1.
postgres:
	bash scripts/postgres.sh start "$(PGDIR)" "$(PGPORT)"

postgres-stop:
	bash scripts/postgres.sh stop "$(PGDIR)" "$(PGPORT)"

bench: setup
	$(BIN)/python bench/ingest_csv.py

# Re-pin dependencies (needs uv): the lock file is what every machine installs.
lock:
	uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 -q

clean:
	rm -rf $(VENV) .questline
