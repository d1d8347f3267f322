# ShopLake: `make demo` runs the main job, `make test` runs the test suite; both set up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SQLFLUFF_DIRS := transforms/models transforms/macros transforms/tests

.PHONY: setup demo test test-fast lint format generate ingest transform sql clean bench dashboard screenshots

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/shoplake demo

# Two workers (pytest-xdist). One worker sits waiting on a server or a subprocess much of the time,
# so two use the 2 cores of CI. A test file runs on one worker (its fixtures are built once); the
# files that share the promoted snowsim lake run on one worker; slow files first (tests/conftest.py).
test: setup
	bash .ci/system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Refresh docs/screenshots/ on purpose (the tests alone write theirs to a temp dir): the dashboard over a
# lake made by the demo at its defaults, and the Prefect UI (deployments; a flow run with its logs).
screenshots: setup
	bash .ci/system-deps
	$(BIN)/python -m pytest tests/dashboard/test_browser.py tests/flows/test_prefect_e2e.py --update-screenshots -q

test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

lint: setup
	$(BIN)/ruff check pipelines tests bench app
	$(BIN)/ruff format --check pipelines tests bench app
	mkdir -p lake/warehouse && cd transforms && ../$(BIN)/sqlfluff lint models

format: setup
	$(BIN)/ruff check --fix pipelines tests bench app
	$(BIN)/ruff format pipelines tests bench app
	mkdir -p lake/warehouse && cd transforms && ../$(BIN)/sqlfluff fix models

generate: setup
	$(BIN)/shoplake generate

ingest: setup
	$(BIN)/shoplake ingest

transform: setup
	$(BIN)/shoplake transform

sql: setup
	$(BIN)/shoplake sql "$(Q)"

bench: setup
	$(BIN)/python bench/batch_ingest.py

clean:
	rm -rf lake/landing lake/raw lake/quarantine lake/ledger lake/warehouse lake/serving lake/state lake/reports lake/docs transforms/target

dashboard: setup
	$(BIN)/shoplake dashboard
