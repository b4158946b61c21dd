# Two commands set everything up on a fresh Debian/Ubuntu machine with Python 3.11:
#   make run   - create the virtualenv, install, run the main job on embedded defaults
#   make test  - create the virtualenv, install, run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-store clean chromium

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gateway demo

# The browser tests (/admin, /reports; tests/browser.py) drive Debian's Chromium through
# Playwright (never a downloaded browser). CI runs as root; elsewhere install it once with sudo.
CHROMIUM := /usr/bin/chromium

chromium:
	@test -x $(CHROMIUM) || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_routing.py
	$(BIN)/python bench/bench_simulator.py

# Minutes, not seconds: it drains a real queue into a real PostgreSQL (see docs/benchmarks.md).
bench-store: $(STAMP)
	$(BIN)/python bench/bench_store.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
