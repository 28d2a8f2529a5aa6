# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test calibrate bench figures docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trialsim run protocols/ld-il2-vs-placebo.toml

test: $(STAMP)
	$(BIN)/ruff check trialsim tests
	$(BIN)/python -m pytest

calibrate: $(STAMP)
	$(BIN)/trialsim calibrate --replicates 500

bench: $(STAMP)
	$(BIN)/python -m trialsim.bench

docs: $(STAMP)
	$(BIN)/python -m trialsim.docs_protocol > docs/protocol.md

figures: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	$(BIN)/python docs/figures.py

clean:
	rm -rf $(VENV) build *.egg-info
