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

# the tests without a lab on both cores (pytest-xdist), those with sub-second real-time bounds
# alone, then the labs, two files at a time: their experiments mostly wait out holds and steady
# states (docs/benchmarks.md has the figures)
test: lint
	.venv/bin/pytest -m "not lab and not timing" -n 2
	.venv/bin/pytest -m "timing and not lab"
	.venv/bin/pytest -m lab -n 2 --dist loadfile

unit: setup
	.venv/bin/pytest -m "not lab"

lab: setup
	.venv/bin/pytest -m lab

bench: setup
	.venv/bin/python benchmarks/probe_engine.py
