# kgdistill: two commands for a newcomer, `make demo` and `make test`.
# Both set up what they need: a virtualenv in .venv (torch and friends come from
# a wheel cache under ~/.cache/kgdistill/wheels, so a second set-up downloads nothing) and
# a Neo4j server (jars cached under ~/.cache/kgdistill/neo4j, started on demand).
# `make test` also fetches OpenGDS for tests/integration/test_gds_peer.py the same way
# (Maven, once, into ~/.cache/kgdistill/neo4j/gds; `kgdistill peer gds` uses that cache).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CACHE  ?= $(HOME)/.cache/kgdistill
PIP    := $(BIN)/pip --disable-pip-version-check
WHEELS := $(CACHE)/wheels
OFFLINE := --no-index --find-links $(WHEELS)
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
KG     ?= $(BIN)/kgdistill
DEMO_CUSTOMER ?= 22479

.PHONY: help venv demo demo-run test test-unit test-integration test-e2e lint format bench neo4j-start neo4j-stop clean

help:
	@echo "make demo    set up, start Neo4j, run the main job on the bundled EComm data"
	@echo "make test    set up, then the whole suite (unit, integration on a real Neo4j, e2e)"
	@echo "make lint    ruff and mypy"
	@echo "make bench   the benchmark scripts in bench/"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11+"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "error: kgdistill needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# Offline first, from the wheel cache; fetch into it only what is missing.
	@if $(PIP) install -q $(OFFLINE) --upgrade pip setuptools wheel 2>/dev/null && \
	    $(PIP) install -q $(OFFLINE) --no-build-isolation -e '.[dev,ann]' 2>/dev/null; then \
	  echo "Installed from the wheel cache $(WHEELS)"; \
	else \
	  echo "Fetching packages into $(WHEELS) (once; torch alone is several GB) ..."; \
	  $(PIP) download -q -d $(WHEELS) pip setuptools wheel && \
	  $(PIP) install -q $(OFFLINE) --upgrade pip setuptools wheel && \
	  $(PIP) download -q -d $(WHEELS) --no-build-isolation '.[dev,ann]' && \
	  $(PIP) install -q $(OFFLINE) --no-build-isolation -e '.[dev,ann]'; \
	fi
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	@$(MAKE) --no-print-directory demo-run

# The demo itself; docker-compose.yml runs it as `make demo-run KG=kgdistill`.
# `kgdistill run` starts the project's Neo4j when NEO4J_URI is not set.
demo-run:
	$(KG) run --dataset ecomm --config examples/demo.toml
	@echo
	@echo "== cypher/queries/customer_recommendations.cypher: customer $(DEMO_CUSTOMER)'s top 10"
	$(KG) query customer_recommendations --param customer_id=$(DEMO_CUSTOMER) --param limit=10
	@echo
	@echo "== cypher/queries/search_ranking.cypher: the same customer, category 33 and below, price 100 to 1000"
	$(KG) query search_ranking --param customer_id=$(DEMO_CUSTOMER) --param category_id=33 \
	    --param min_price=100 --param max_price=1000 --param limit=10

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy kgframe kgstore kgdistill distill

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

neo4j-start: venv
	$(BIN)/kgdistill neo4j start

neo4j-stop: venv
	$(BIN)/kgdistill neo4j stop

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info
