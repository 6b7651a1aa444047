# bsarchive — `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit install clean bench browser postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bsarchive demo --out demo-output

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fixtures
	$(BIN)/ruff format --check src tests bench fixtures

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP) browser postgres
	$(BIN)/python -m pytest -q

# The digest screenshot test renders in headless Chromium (Debian's package). Install it
# when missing and we are root with apt; otherwise that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      >/dev/null 2>&1 || echo "chromium could not be installed; the screenshot test will skip"; \
	  else echo "chromium not installed; the screenshot test will skip"; fi; }

# The PostgreSQL tests start a throwaway server from Debian's packages (tests/support/pg.py).
# Install it when missing and we are root with apt; otherwise those tests skip and say why.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
	      >/dev/null 2>&1 || echo "postgresql could not be installed; its tests will skip"; \
	  else echo "postgresql not installed; its tests will skip"; fi; }

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,parquet]'
	$(BIN)/python bench/bench_fetch.py
	$(BIN)/python bench/bench_feeds.py
	$(BIN)/python bench/bench_reactions.py
	$(BIN)/python bench/bench_ratelimit.py
	$(BIN)/python bench/bench_export.py
	$(BIN)/python bench/bench_import.py --tweets 200000
	$(BIN)/python bench/bench_watch.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
