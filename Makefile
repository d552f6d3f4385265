# Two commands set everything up on a fresh machine with Python 3.11-3.13 and git:
#   make repro   install the locked dependencies into .venv, then run the whole pipeline
#   make test    install them with the test tools, check the lock, lint and run every test
# The lock is uv.lock (every platform and Python the project supports); uv itself is
# installed, pinned, into .tools by the Python you give (PYTHON=python3.12 make repro).
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# Stage commands in dvc.yaml say `python`: make it the project's.
export PATH := $(BIN):$(PATH)
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Bytecode is compiled once, at install: where Python may not write it (PYTHONDONTWRITEBYTECODE
# set, or a read-only install), every process would compile TensorFlow's sources again, for
# seconds (bench/predict_fonts.py prints what `import keras` takes).
SYNC := $(UV) sync --frozen --quiet --compile-bytecode --python $(PYTHON)

.PHONY: install install-dev gpu params repro test test-fast lint lock-check bench lock clean ensemble compare tune

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Each install also writes DVC's plots page with Vega inlined, so plots draw offline.
PLOTS_PAGE := python -m mnist_pipeline.plots_page .dvc/plots.html

install: $(UV)
	$(SYNC) --no-dev
	$(PLOTS_PAGE)

install-dev: $(UV)
	$(SYNC)
	$(PLOTS_PAGE)

# TensorFlow with CUDA, for NVIDIA GPUs on Linux x86_64, instead of the CPU build.
gpu: $(UV)
	$(SYNC) --no-group cpu --group gpu
	$(PLOTS_PAGE)

# params.yaml from conf/, as `dvc exp run` composes it; after an edit of conf/, before `dvc repro`.
params: $(BIN)/dvc
	python -m mnist_pipeline.params.compose

repro: install
	dvc repro

test: install-dev lock-check lint
	python -m pytest

# Unit and stage tests only: no real `dvc` runs, no servers.
test-fast: install-dev
	python -m pytest -m "not slow"

lint: install-dev
	ruff check .
	ruff format --check .

# The lock still matches pyproject.toml, and still resolves with a wheel or an sdist
# for every platform in [tool.uv] required-environments, for Python 3.11 to 3.13.
lock-check: $(UV)
	$(UV) lock --check --quiet

bench: install
	python bench/stage_times.py

# For commands that only need the installed project: install it if it is not, but never
# re-sync an existing .venv (install's --no-dev would take a developer's test tools away).
$(BIN)/dvc:
	$(MAKE) install

# The opt-in ensemble as an experiment: one member per seed, then their mean scored.
# `dvc exp show` lists it; `dvc exp apply NAME` brings its models and metrics in.
SEEDS ?= 0, 1, 2
ensemble: $(BIN)/dvc
	dvc exp run -S 'ensemble.seeds=[$(SEEDS)]' -S 'ensemble.combine=[mean]'

# What changed against REV (a branch, tag or commit; main by default), to paste into a
# pull request: metrics and params as markdown tables, and every plot of both sides on
# one page, compare/index.html, drawn offline.
REV ?= main
compare: $(BIN)/dvc
	@dvc metrics diff --md $(REV)
	@dvc params diff --md $(REV)
	@dvc plots diff --out compare $(REV) > /dev/null
	@echo "plots of $(REV) and the workspace: compare/index.html"

# Re-resolve uv.lock after editing pyproject.toml.
lock: $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache

# A search over tune.yaml's space, one `dvc exp run --temp` a trial (mnist_pipeline/tune.py);
# run it again to resume. E.g. TUNE_ARGS="--trials 30 --minutes 120 --study wide".
TUNE_ARGS ?=
tune: $(BIN)/dvc
	python -m mnist_pipeline.tune $(TUNE_ARGS)
