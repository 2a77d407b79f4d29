# Two entry points: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv first. The collector and VictoriaLogs binaries are built by
# scripts/ and cached under $(OTEL_MLBUCKET_CACHE) (default ~/.cache/otel-mlbucket).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench components clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,demo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/otel-mlbucket demo

components:
	bash scripts/build-all.sh > $(VENV)/components.env

test: $(STAMP) components
	set -a && . $(VENV)/components.env && set +a && $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check otel_mlbucket tests bench examples
	$(BIN)/ruff check otel_mlbucket tests bench examples

bench: $(STAMP) components
	set -a && . $(VENV)/components.env && set +a && $(BIN)/python -m bench

clean:
	rm -rf $(VENV) mlbucket-demo-store
