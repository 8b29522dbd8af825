# The two commands: `make demo` and `make test`. Both install what they need first.
.PHONY: setup demo test lint unit lab bench

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy

test: lint
	.venv/bin/pytest

unit: setup
	.venv/bin/pytest -m "not lab"

lab: setup
	.venv/bin/pytest -m lab

bench: setup
	.venv/bin/python benchmarks/probe_engine.py
