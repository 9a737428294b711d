# ssr_ros: two commands for a fresh Debian/Ubuntu machine.
#   make demo   set up everything, then map a simulated room with ssr_node over DDS
#   make test   set up everything, then run the test suite
#   make setup  only the set-up (idempotent; see scripts/setup.sh)
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: help setup demo test clean

help:
	@echo "make setup   prepare .venv, build the interfaces (idempotent)"
	@echo "make demo    setup + ssr_node mapping a simulated room, questions answered (demo_out/)"
	@echo "make test    setup + the full test suite"
	@echo "make clean   remove build/, install/ (keeps .venv)"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash -c 'set +u; . scripts/env.sh && python scripts/demo.py $(DEMO_ARGS)'

test: setup
	@bash scripts/run_tests.sh $(PYTEST_ARGS)

clean:
	rm -rf build install log
