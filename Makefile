# The two commands of the README: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PARLEY_PASSPHRASE ?= demo

.PHONY: demo test lint bench bench-peers system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[relay,postgres,test]'
	touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

# The demo needs no browser: skip Chromium (only the UI tests use it).
demo: $(STAMP)
	@PARLEY_UI_TESTS=0 bash scripts/system-deps.sh
	$(BIN)/parley demo --out demo-output

test: $(STAMP) system-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# Every benchmark in its quick form (each under a minute); PostgreSQL parts use PARLEY_BENCH_DATABASE_URL
# or PARLEY_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) and are skipped if unreachable.
bench: $(STAMP)
	cd bench && ../$(BIN)/python bench_relay.py --quick
	cd bench && ../$(BIN)/python bench_relay.py --quick --db sqlite --clients 32 --workers 2
	cd bench && ../$(BIN)/python bench_client.py --quick
	cd bench && ../$(BIN)/python bench_scaleout.py --quick
	$(BIN)/python bench/bench_tlog.py --quick
	$(BIN)/python bench/bench_tracing.py --quick
	cd bench && ../$(BIN)/python bench_search.py --runs 20
	cd bench && ../$(BIN)/python bench_files.py --mb 20
	cd bench && ../$(BIN)/python bench_devices.py --quick
	$(BIN)/python bench/bench_audience_tags.py --repeat 100

# Against Synapse (matrix-synapse, installed by the benchmark into bench/.peers/synapse-venv on first run;
# SQLite, loopback, rate limits and federation off). Not run in CI.
bench-peers: $(STAMP)
	cd bench && ../$(BIN)/python bench_peers.py --quick

clean:
	rm -rf $(VENV) demo-output .pytest_cache
