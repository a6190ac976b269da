# Quick start:  make demo   (set up, write the demo world, materialize the pipeline, print the top albums)
#               make test   (set up, run the test suite)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/data/dagster_home

.PHONY: setup demo test dev clean-data

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

setup: $(INSTALLED)

# Pools (one step at a time per pool) and the run queue's one-writer rule: see
# albumrec_pipeline/instance_config.py. Rewritten when that file changes.
$(DAGSTER_HOME)/dagster.yaml: $(INSTALLED) albumrec_pipeline/instance_config.py
	$(BIN)/python -m albumrec_pipeline.instance_config "$@"

# The demo's archives are a few megabytes: ingesting them one after the other in this process is
# quicker than starting processes for them. For real dumps: albumrec materialize (parallel runs).
demo: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m albumrec_pipeline.demo
	$(BIN)/albumrec materialize --workers 1 --executor in_process
	$(BIN)/albumrec top --count 10
	$(BIN)/albumrec evaluate

test: $(INSTALLED)
	$(BIN)/pytest

dev: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean-data:
	rm -rf data/demo data/warehouse data/scratch data/dagster_home
