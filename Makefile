# The two commands a newcomer needs (see README.md):
#   make serve   set up .venv (once) and run the daemon with the default model and policy
#   make test    set up .venv (once) and run the whole test suite
.PHONY: setup serve test check bench protos

setup:
	@scripts/setup

serve: setup
	.venv/bin/router serve

test: setup
	.venv/bin/python -m pytest

check: setup
	.venv/bin/ruff check router tests bench scripts
	.venv/bin/mypy

bench: setup
	scripts/bench-setup
	.venv/bin/python -m bench

protos: setup
	.venv/bin/python scripts/gen_protos.py
