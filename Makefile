# healthkit: `make demo` starts the demo service, `make test` runs the whole test suite.
# `make test-lowest` runs the tests again with every direct dependency at the floor pyproject.toml declares.
# Needs only Python 3.11 (or newer) and make: the virtual environment is created on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

LOWEST_PYTHON ?= $(shell command -v python3.11)
LOWEST_VENV := .venv-lowest
LOWEST_BIN := $(LOWEST_VENV)/bin
LOWEST_STAMP := $(LOWEST_VENV)/.installed

BENCH_VENV := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo test lint typecheck pytest test-lowest bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "healthkit needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	@touch $(STAMP)

demo: $(STAMP)
	@echo "healthkit demo on http://$(HOST):$(PORT)/health (Ctrl-C stops it); details:"
	@echo "  curl -H 'Authorization: Bearer demo-token-change-me' http://$(HOST):$(PORT)/health"
	@echo "  or in a browser: http://$(HOST):$(PORT)/login (the same token), then the status page at /health"
	HEALTHKIT_DEMO_PORT=$(PORT) $(BIN)/python -m uvicorn demo:app --app-dir examples --host $(HOST) --port $(PORT)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# The lowest versions pyproject.toml allows, on the lowest Python it allows: .ci/floors.py pins each
# direct dependency (runtime, extras, test tools) to its `>=` floor; what those need in turn is left to
# pip. The install fails if a floor cannot be installed, and the check fails unless every floor was.
# Only pytest runs here: ruff and mypy check style and types in the newest environment (`make test`).
$(LOWEST_STAMP): pyproject.toml .ci/floors.py
	@test -n "$(LOWEST_PYTHON)" || \
		(echo "make test-lowest needs python3.11; set LOWEST_PYTHON=/path/to/python3.11"; exit 1)
	rm -rf $(LOWEST_VENV)
	$(LOWEST_PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade pip
	$(LOWEST_BIN)/python .ci/floors.py constraints > $(LOWEST_VENV)/floors.txt
	$(LOWEST_BIN)/python -m pip install --quiet -c $(LOWEST_VENV)/floors.txt -e '.[test]'
	@touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST_BIN)/python .ci/floors.py check
	$(LOWEST_BIN)/pytest

# Not part of `make test`: wrk, valgrind, PostgreSQL and Redis from Debian, and the peers in the bench's own
# environment.
$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	@command -v valgrind >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind)
	@command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[test]' -r bench/requirements.txt
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench.run
	@printf '\n### The status page with 1000 checks\n\n' | tee -a bench/results.md
	$(BENCH_VENV)/bin/python -m bench.page | tee -a bench/results.md
	@printf '\n### What an observer costs per probe (in process)\n\n```\n' | tee -a bench/results.md
	$(BENCH_VENV)/bin/python -m bench.observers | tee -a bench/results.md
	@printf '```\n\n' | tee -a bench/results.md
	$(BENCH_VENV)/bin/python -m bench.share | tee -a bench/results.md
	$(BENCH_VENV)/bin/python -m bench.workers | tee -a bench/results.md
	$(BENCH_VENV)/bin/python -m bench.instructions | tee -a bench/results.md
	$(BENCH_VENV)/bin/python -m bench.profile | tee -a bench/results.md

clean:
	rm -rf $(VENV) $(LOWEST_VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache
