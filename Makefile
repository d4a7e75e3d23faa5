.PHONY: setup run demo test lint bench

setup:
	scripts/setup

run demo:
	scripts/demo

test:
	scripts/test

lint: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy

bench: setup
	.venv/bin/python -m bench
