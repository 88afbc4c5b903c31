# Almanac newsletter. `make demo` runs the whole job on the sample content; `make test` checks.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_AT ?= 2026-11-22T08:00:00+00:00

.PHONY: setup demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

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
	rm -rf $(VENV) outbox newsletter.db* issues/20*-* issues/index.html
