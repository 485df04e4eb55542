# The two commands a newcomer needs:  make run  (the gateway on embedded defaults)
#                                     make test (the whole suite, against real services)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench services venv

$(BIN)/lapor-gateway: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/lapor-gateway

services:
	@scripts/ensure-services

run: venv
	@scripts/ensure-services rabbitmq
	$(BIN)/lapor-gateway run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy gateway adapters normalizer schemas

test: venv services lint
	$(BIN)/pytest

bench: venv services
	$(BIN)/python bench/ingest.py
