# healthkit: `make demo` starts the demo service, `make test` runs the whole test suite.
# `make test-lowest` runs the tests again with every direct dependency at the floor pyproject.toml declares;
# `make test-pythons` on every other CPython pyproject.toml claims (`make test-py PY=python3.12`: one).
# `make docs` builds the documentation site (site/), `make dist` the wheel and sdist (dist/).
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

# pip 25.1 is the first to install PEP 735 dependency groups (--group), where the tools live.
PIP_FLOOR := 'pip>=25.1'

.PHONY: demo test lint typecheck pytest test-lowest test-py test-pythons docs docs-serve dist bench clean

# The project with every extra (.ci/floors.py extras lists them), and the test and lint groups.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "healthkit needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade $(PIP_FLOOR)
	$(BIN)/python -m pip install --quiet -e ".[$$($(BIN)/python .ci/floors.py extras)]" --group test --group lint
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
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade $(PIP_FLOOR)
	$(LOWEST_BIN)/python .ci/floors.py constraints > $(LOWEST_VENV)/floors.txt
	$(LOWEST_BIN)/python -m pip install --quiet -c $(LOWEST_VENV)/floors.txt \
		-e ".[$$($(LOWEST_BIN)/python .ci/floors.py extras)]" --group test
	@touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST_BIN)/python .ci/floors.py check
	$(LOWEST_BIN)/pytest

# The suite on one more interpreter, the newest versions: `make test-py PY=python3.12` (a command or a
# path) builds .venv-py3.12 with every extra and the test group, and runs pytest there (ruff and mypy
# judge the code once, in `make test`).
PY_VERSION = $(if $(PY),$(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
PY_VENV = .venv-py$(PY_VERSION)

test-py:
	@test -n "$(PY)" || (echo "make test-py needs PY=python3.N (a command or a path)"; exit 1)
	@test -n "$(PY_VERSION)" || (echo "make test-py: $(PY) does not run"; exit 1)
	@test -f $(PY_VENV)/.installed -a $(PY_VENV)/.installed -nt pyproject.toml || ( \
		rm -rf $(PY_VENV) && $(PY) -m venv $(PY_VENV) && \
		$(PY_VENV)/bin/python -m pip install --quiet --upgrade $(PIP_FLOOR) && \
		$(PY_VENV)/bin/python -m pip install --quiet -e ".[$$($(PY_VENV)/bin/python .ci/floors.py extras)]" \
			--group test && \
		touch $(PY_VENV)/.installed )
	@$(PY_VENV)/bin/python -c 'import sys; print("pytest on", sys.version.split()[0], sys.executable)'
	$(PY_VENV)/bin/pytest

# Every CPython above the lowest that pyproject.toml's classifiers claim, found by .ci/pythons.py (on
# PATH, or in pyenv). One that this machine lacks is skipped with a note; under CI=true it fails.
test-pythons:
	@pythons=$$($(PYTHON) .ci/pythons.py --above-lowest) || { echo "$$pythons"; exit 1; }; \
	echo "$$pythons" | { status=0; while read -r version path; do \
		if [ "$$path" = - ]; then echo "make test-pythons: no Python $$version here, skipped"; continue; fi; \
		$(MAKE) --no-print-directory test-py PY="$$path" || status=1; \
	done; exit $$status; }

# The documentation site: MkDocs with Material, API pages from the docstrings (mkdocstrings); warnings
# fail the build. `make docs-serve` serves it with live reload on http://$(HOST):8001.
$(VENV)/.docs-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --group docs
	@touch $@

# NO_MKDOCS_2_WARNING: Material's notice of its end of life (docs/development.md says what it means here).
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr $(HOST):8001

# The wheel and sdist in dist/, checked: twine check --strict, and what each must hold (.ci/check_dist.py).
$(VENV)/.release-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --group release
	@touch $@

dist: $(VENV)/.release-installed
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python .ci/check_dist.py dist

# Not part of `make test`: wrk, valgrind, PostgreSQL and Redis from Debian, and the peers in the bench's own
# environment.
$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	@command -v valgrind >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind)
	@command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade $(PIP_FLOOR)
	$(BENCH_VENV)/bin/python -m pip install --quiet -e ".[$$($(BENCH_VENV)/bin/python .ci/floors.py extras)]" \
		--group test -r bench/requirements.txt
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
	rm -rf $(VENV) $(LOWEST_VENV) $(BENCH_VENV) .venv-py3.* site dist .mypy_cache .ruff_cache .pytest_cache
