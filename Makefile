# Two commands on a fresh machine: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
UV_VERSION := 0.13.9
TOOLS := .local/tools
UV := $(TOOLS)/bin/uv
VENV_BIN := .venv/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run stop status test lint fmt bench clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## the locked dependencies into .venv
	$(UV) sync --locked --quiet

run: install ## PostgreSQL, broker, product API and relay in the background
	$(VENV_BIN)/catalog-stack run

stop: ## stop everything `make run` started
	@if [ -x $(VENV_BIN)/catalog-stack ]; then $(VENV_BIN)/catalog-stack stop; fi

status:
	$(VENV_BIN)/catalog-stack status

lint: install
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/mypy

fmt: install
	$(VENV_BIN)/ruff format .
	$(VENV_BIN)/ruff check --fix .

test: lint ## lint, then the whole suite (starts its own PostgreSQL and broker under .local/test)
	$(VENV_BIN)/pytest

bench: install ## benchmarks against the `make run` stack
	$(VENV_BIN)/python bench/api_writes.py
	$(VENV_BIN)/python bench/relay.py
	$(VENV_BIN)/python bench/import.py
	$(VENV_BIN)/python bench/media.py

clean: stop
	rm -rf .local .venv
