# Two commands set everything up on a fresh machine with Python 3.11 and git:
#   make repro   install the pinned dependencies into .venv, then run the whole pipeline
#   make test    install them, then lint and run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
# Stage commands in dvc.yaml say `python`: make it the project's.
export PATH := $(BIN):$(PATH)

.PHONY: install repro test test-fast lint bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--no-deps --no-build-isolation --editable .
	touch $@

repro: $(STAMP)
	dvc repro

test: $(STAMP) lint
	python -m pytest

# Unit and stage tests only: no real `dvc` runs, no servers.
test-fast: $(STAMP)
	python -m pytest -m "not slow"

lint: $(STAMP)
	ruff check .
	ruff format --check .

bench: $(STAMP)
	python bench/stage_times.py

# Re-pin every dependency (with hashes) after editing pyproject.toml.
lock: $(STAMP)
	pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
