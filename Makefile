# Aurum — every target creates .venv and installs what it needs (pinned by constraints.txt).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= .aurum/demo
DAYS   ?= 5

.PHONY: install browser demo test lint bench clean ui-vendor iceberg-reader

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("Aurum needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: generate sample workbooks with Aurum's own generator, ingest them into the embedded
## lake (write-audit-publish on Iceberg), show what landed, value an example solar PPA, run an
## example driver scenario on a worker, then serve the API and the dashboard on 127.0.0.1:8095 with
## the worker beside it
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/aurum demo-data --days $(DAYS) --out $(DEMO)/inbox --feeds-out $(DEMO)/feeds
	AURUM_HOME=$(DEMO) $(BIN)/aurum ingest $(DEMO)/inbox
	AURUM_HOME=$(DEMO) $(BIN)/aurum feeds load $(DEMO)/feeds
	AURUM_HOME=$(DEMO) $(BIN)/aurum sql "SELECT vendor, count(DISTINCT asof_date) AS days, \
	  count(DISTINCT curve_key) AS curves, count(*) AS rows FROM curve_observation \
	  GROUP BY vendor ORDER BY vendor"
	AURUM_HOME=$(DEMO) $(BIN)/aurum runs --limit 5
	AURUM_HOME=$(DEMO) $(BIN)/aurum scenario create examples/scenarios/gas-and-carbon.json
	AURUM_HOME=$(DEMO) $(BIN)/aurum ppa create examples/ppa/solar-de.json
	AURUM_HOME=$(DEMO) $(BIN)/aurum ppa value "Solar DE 50 MW" --rate 0.07 --extrapolate flat \
	  --report $(DEMO)/solar-de-valuation.xlsx
	@echo "The lake, its catalog and the ingest log are in $(DEMO)/ (try: AURUM_HOME=$(DEMO) .venv/bin/aurum sql ...)"
	@echo "The dashboard: http://127.0.0.1:8095/ui/  (curves, changes, ingest and quality, scenarios, PPA)"
	@echo "A worker runs scenarios and valuations beside the API on http://127.0.0.1:8095 (OpenAPI: /openapi.json; Ctrl-C stops both). Try:"
	@echo "  curl '127.0.0.1:8095/v1/curves?vendor=EUGP&location=German&product=power&block=BASE&asof=latest&limit=5'"
	@echo "  curl '127.0.0.1:8095/v1/curves/strips?vendor=PW&iso=PJM&block=ON_PEAK'"
	@echo "  curl '127.0.0.1:8095/v1/iso/realised?iso=PJM&node=WESTERN%20HUB&month=2025-09&asof=2025-09-01'"
	@echo "  curl '127.0.0.1:8095/v1/scenarios'   (then .../runs, and /v1/curves?scenario_run=RUN)"
	@echo "  curl '127.0.0.1:8095/v1/ppa/valuations'   (then .../{id}/cashflows?format=csv, .../report.xlsx)"
	@echo "  curl '127.0.0.1:8095/v1/events?after=0&limit=5'   (or -N .../v1/events/stream for a live feed)"
	@echo "  curl '127.0.0.1:8095/v1/catalog/datasets?q=quarantine'; AURUM_HOME=$(DEMO) .venv/bin/aurum lineage curve_observation"
	AURUM_HOME=$(DEMO) $(BIN)/aurum worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  AURUM_HOME=$(DEMO) $(BIN)/aurum scenario run "gas and carbon" --queue --wait && \
	  AURUM_HOME=$(DEMO) $(BIN)/aurum serve --host 127.0.0.1 --port 8095

## browser: headless Chromium (Debian's package) for the browser tests
browser:
	@command -v chromium >/dev/null || apt-get install -y -q chromium >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) \
	  || echo "chromium could not be installed: the browser tests skip (with CI set they fail)"

## iceberg-reader: an independent Iceberg reader in its own venv (DuckDB with its iceberg extension,
## the avro extension it needs and httpfs for S3, shipped as PyPI wheels: nothing is downloaded at
## run time),
## for tests/lake/test_independent_reader.py and tools/iceberg_reader.py
READER        := .venv-iceberg-reader
READER_DUCKDB := 1.5.5
READER_STAMP  := $(READER)/.installed-$(READER_DUCKDB)-httpfs

$(READER_STAMP):
	$(PYTHON) -m venv $(READER)
	$(READER)/bin/python -m pip install --quiet duckdb==$(READER_DUCKDB) \
	  duckdb-extension-iceberg==$(READER_DUCKDB) duckdb-extension-avro==$(READER_DUCKDB) \
	  duckdb-extension-httpfs==$(READER_DUCKDB)
	touch $(READER_STAMP)

iceberg-reader: $(READER_STAMP)

## test: lint (ruff, mypy on the pure core, import contracts), run the whole suite (pytest exit 5 = no tests = failure)
test: $(STAMP) lint browser iceberg-reader
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: performance figures and ratios (not tests)
bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y -q wrk
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/lake.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/resilience.py
	$(BIN)/python bench/gates.py
	$(BIN)/python bench/exports.py
	$(BIN)/python bench/ensembles.py
	$(BIN)/python bench/scenarios.py
	$(BIN)/python bench/ppa.py
	$(BIN)/python bench/ppa_service.py
	$(BIN)/python bench/governance.py
	command -v chromium >/dev/null || $(MAKE) browser
	$(BIN)/python bench/ui.py
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/feed_loads.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/backup.py
	$(BIN)/python bench/split_runs.py

## ui-vendor: re-fetch the dashboard's vendored chart library from the npm registry and check it
## against the pins in src/aurum/ui/static/vendor/VENDOR.json (UPGRADE=6.2.0 moves to a release)
ui-vendor: $(STAMP)
	$(BIN)/python -m aurum.ui.vendor $(if $(UPGRADE),--upgrade $(UPGRADE))

clean:
	rm -rf $(VENV) $(READER) .aurum .pytest_cache .ruff_cache .mypy_cache test-artifacts
