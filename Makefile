# Two commands do all the set-up on a fresh clone: `make up` runs the service, `make test` the tests.
# Both create the virtualenv at .venv when it is missing and install the project into it.

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

# checkov pins old botocore releases that clash with aiobotocore: it gets a virtualenv of its own.
TOOLS ?= .venv-tools
# npm packages the tests run, each set pinned by its package-lock.json: the real players the browser tests
# load (Plyr, video.js, its thumbnails plugin, playwright-core), and the AsyncAPI parser.
NODE_PACKAGES := tests/browser/node_modules/.installed tests/asyncapi/node_modules/.installed

.PHONY: up test test-fast lint format bench bench-api clean

$(BIN)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Pinned by package-lock.json; no install scripts run. Without npm those tests skip with a hint (and fail
# where CI is set), so a laptop without Node.js can still run everything else.
tests/%/node_modules/.installed: tests/%/package.json tests/%/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/$* --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "make: npm not found; tests/$* needs it: apt-get install -y nodejs npm (and chromium for the browser tests)"; \
	fi

$(TOOLS)/bin/checkov:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet checkov

# Single-node mode on the local defaults: migrations, then API + worker in one process.
up: $(BIN)/.installed
	$(BIN)/snapshotd migrate
	$(BIN)/snapshotd up

# Every test, slow fault-injection ones included, after the linter.
test: $(BIN)/.installed $(TOOLS)/bin/checkov $(NODE_PACKAGES)
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks
	$(BIN)/mypy
	CHECKOV=$(CURDIR)/$(TOOLS)/bin/checkov $(BIN)/pytest

# Skip the slow tests while iterating.
test-fast: $(BIN)/.installed $(NODE_PACKAGES)
	$(BIN)/pytest -m "not slow"

lint: $(BIN)/.installed
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format service tests benchmarks
	$(BIN)/ruff check --fix service tests benchmarks

# Engine against the ffmpeg CLI (needs ffmpeg, the anchor only); API throughput on loopback.
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.engine

bench-api: $(BIN)/.installed
	$(BIN)/python -m benchmarks.api_throughput

clean:
	rm -rf $(VENV) $(TOOLS) data .pytest_cache .ruff_cache tests/browser/node_modules tests/asyncapi/node_modules
