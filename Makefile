# Developer commands. Needs only python3 (with venv and pip) and make; everything else goes
# into .venv. The install re-runs only when the packaging files change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
# Lint only the folders that exist so far.
LINT_DIRS := $(wildcard tape kernels tests benchmarks tutorials)

.DEFAULT_GOAL := test
.PHONY: install test demo bench lint clean distclean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(STAMP): pyproject.toml setup.cfg setup.py | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test,examples]'
	touch $@

# torch, jax, autograd and mygrad for the comparisons; only `make bench` pays for them.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[test,examples,bench]'
	touch $@

lint: install
	$(BIN)/ruff check $(LINT_DIRS)

test: install lint
	JAX_PLATFORMS=cpu $(BIN)/python -m pytest -n 2 -q

demo: install
	$(BIN)/python -m tape.demo

# `make bench BENCH_ARGS="--quick --only rnn"` passes options to the runner.
bench: $(BENCH_STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python -m benchmarks $(BENCH_ARGS)

# Build outputs and tool caches; keeps .venv (distclean removes it too).
clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis .ruff_cache .jax_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
