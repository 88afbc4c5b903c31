# Almanac newsletter. `make demo` runs the whole job on the sample content; `make test` checks.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_AT ?= 2026-11-22T08:00:00+00:00
# The lock: every dependency (dev, postgres and celery extras included) pinned with hashes,
# so every machine installs exactly what was tested. Refresh it with `make lock`.
LOCK   := requirements-dev.txt
LOCK_VENV := .venv-lock
UV_VERSION := 0.13.8
LOCK_ARGS := pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
	--quiet -o $(LOCK)

.PHONY: setup demo test lint typecheck pytest bench clean lock upgrade

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Pinned, hash-checked dependencies first, then the project itself without resolving again.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"

# After adding or changing a dependency in pyproject.toml: re-resolve, keeping every existing
# pin that still fits (only new or changed requirements move). Then commit the lock.
lock: $(LOCK_VENV)/bin/uv
	$(LOCK_VENV)/bin/uv pip compile $(LOCK_ARGS)

# Move every pin to the newest release allowed by pyproject.toml (then run `make test`).
upgrade: $(LOCK_VENV)/bin/uv
	$(LOCK_VENV)/bin/uv pip compile --upgrade $(LOCK_ARGS)

demo: setup
	@$(BIN)/python -m newsletter.demo --at $(DEMO_AT)

lint: setup
	$(BIN)/ruff check newsletter tests bench
	$(BIN)/ruff format --check newsletter tests bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(LOCK_VENV) outbox newsletter.db* issues/20*-* issues/index.html
