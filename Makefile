.PHONY: install install-test serve lint test bench

install:
	bash scripts/install.sh

install-test:
	bash scripts/install.sh --test

serve: install
	.venv/bin/vodstack serve --data-dir ./vodstack-data

lint:
	.venv/bin/ruff check .
	.venv/bin/mypy

test: install-test
	.venv/bin/python -m pytest

bench:
	bash scripts/install.sh --bench
	.venv/bin/python bench/run_all.py
